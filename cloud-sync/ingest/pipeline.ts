import type { Producer } from 'kafkajs';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import { backoffDelay, sleep } from '../../common/resilience.js';
import { type AckItem, type Envelope, isRecordKind, type UpstreamMessage } from '../protocol/index.js';
import { toKafkaMessage, topicFor } from './kafka.js';
import type { IngestStore } from './store.js';

export type Dependency = 'database' | 'kafka';

export interface PipelineDeps {
  store: IngestStore;
  /** The current producer; `reset()` replaces it after a failure (a fresh idempotent session). */
  kafka: { producer(): Promise<Producer>; reset(): Promise<void> };
  sendAcks(deviceId: string, acks: AckItem[]): void;
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  batchMax: number;
  /** Prepended to every Kafka topic name (AIDE_KAFKA_TOPIC_PREFIX). */
  topicPrefix: string;
  lingerMs: number;
  onHealth(dep: Dependency, ok: boolean, detail: string): void;
}

/**
 * MQTT → PostgreSQL → Kafka → acknowledgement, in micro-batches. A batch is retried with backoff until
 * every step has succeeded; only then are its acknowledgements sent, so a crash or an outage at any
 * step ends with the device sending again and ingest recognising the message id. One batch at a time
 * keeps each device's order within this worker (devices keep one batch in flight).
 */
export function createIngestPipeline(deps: PipelineDeps) {
  const { store, log, metrics, clock } = deps;
  const pending = new Map<string, Envelope>();
  let wake: (() => void) | undefined;
  let stopped = false;
  const stopSignal = new AbortController();

  const received = metrics.counter('aide_ingest_messages_total', 'Upstream records by outcome', ['outcome']);
  const dropped = metrics.counter(
    'aide_ingest_dropped_total',
    'Upstream MQTT messages that could not be attributed or parsed',
    ['reason'],
  );
  const batchTime = metrics.histogram(
    'aide_ingest_batch_seconds',
    'Time to store, publish and acknowledge one batch',
  );
  const pendingGauge = metrics.gauge('aide_ingest_pending', 'Records received and not yet acknowledged');
  const stageTime = metrics.histogram('aide_ingest_stage_seconds', 'Time per batch in each ingest step', [
    'stage',
  ]);

  function accept(msg: UpstreamMessage): void {
    if (!msg.ok) {
      dropped.inc({ reason: msg.reason });
      log.warn({ deviceId: msg.deviceId, reason: msg.reason }, 'upstream message dropped');
      return;
    }
    const immediate: AckItem[] = [];
    for (const item of msg.items) {
      if (item.ok) {
        if (!pending.has(item.envelope.id)) pending.set(item.envelope.id, item.envelope);
        continue;
      }
      received.inc({ outcome: item.status });
      log.warn(
        { deviceId: msg.deviceId, messageId: item.id, code: item.code, fields: item.fields },
        `upstream record ${item.status}`,
      );
      if (item.id)
        immediate.push({
          id: item.id,
          status: item.status,
          code: item.code,
          ...(item.fields ? { fields: item.fields } : {}),
        });
    }
    if (immediate.length) deps.sendAcks(msg.deviceId, immediate);
    pendingGauge.set(pending.size);
    wake?.();
  }

  type Outcome = Awaited<ReturnType<IngestStore['store']>>;

  async function storeStage(batch: Envelope[]): Promise<Outcome> {
    const records = batch.filter((e) => isRecordKind(e.kind));
    const controls = batch.filter((e) => !isRecordKind(e.kind));
    const endStore = stageTime.startTimer({ stage: 'postgres' });
    try {
      const outcome = await store.store(records, controls);
      endStore();
      deps.onHealth('database', true, 'postgresql');
      return outcome;
    } catch (err) {
      deps.onHealth('database', false, `write failed: ${(err as Error).message}`);
      throw err;
    }
  }

  async function publishStage(outcome: Outcome & { inKafka?: boolean }): Promise<void> {
    if (outcome.toPublish.length && !outcome.inKafka) {
      const receivedAt = new Date(clock.now()).toISOString();
      const byTopic = new Map<string, ReturnType<typeof toKafkaMessage>[]>();
      for (const e of outcome.toPublish) {
        const topic = deps.topicPrefix + topicFor(e.kind as never);
        const list = byTopic.get(topic) ?? [];
        list.push(toKafkaMessage(e, receivedAt));
        byTopic.set(topic, list);
      }
      try {
        const endKafka = stageTime.startTimer({ stage: 'kafka' });
        const producer = await deps.kafka.producer();
        await producer.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        });
        endKafka();
        outcome.inKafka = true;
        deps.onHealth('kafka', true, 'connected');
      } catch (err) {
        deps.onHealth('kafka', false, `publish failed: ${(err as Error).message}`);
        await deps.kafka.reset().catch(() => {});
        throw err;
      }
    }
    if (outcome.toPublish.length) {
      const endMark = stageTime.startTimer({ stage: 'mark_published' });
      try {
        await store.markPublished(outcome.toPublish.map((e) => e.id));
      } catch (err) {
        // Kafka has these already: the retry only repeats this mark (a crash now means a re-publish).
        deps.onHealth('database', false, `write failed: ${(err as Error).message}`);
        throw err;
      }
      endMark();
    }
    const acks = new Map<string, AckItem[]>();
    const add = (e: Envelope, status: AckItem['status']) => {
      const list = acks.get(e.deviceId) ?? [];
      list.push({ id: e.id, status });
      acks.set(e.deviceId, list);
    };
    for (const e of outcome.toPublish) add(e, 'stored');
    for (const e of outcome.duplicates) add(e, 'duplicate');
    for (const [deviceId, items] of acks) deps.sendAcks(deviceId, items);
    received.inc({ outcome: 'stored' }, outcome.toPublish.length);
    received.inc({ outcome: 'duplicate' }, outcome.duplicates.length);
  }

  /** Runs one step until it succeeds (or the worker stops), backing off between attempts. */
  async function untilDone<T>(size: number, step: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        return await step();
      } catch (err) {
        const delay = backoffDelay(attempt, 100, 5000);
        log.warn(
          { attempt, delayMs: delay, size, err: (err as Error).message },
          'ingest batch failed, retrying',
        );
        await sleep(delay, clock, stopSignal.signal).catch(() => {});
      }
    }
    return undefined;
  }

  /**
   * Two batches overlap: while batch N is published to Kafka, batch N+1 is written to PostgreSQL.
   * Kafka publications (and acknowledgements) stay in batch order, so per-device order holds.
   */
  async function run(): Promise<void> {
    const taken = new Set<string>();
    let publishing: Promise<void> = Promise.resolve();
    let inFlight = 0;
    while (!stopped) {
      const free = [...pending.values()].filter((e) => !taken.has(e.id));
      if (free.length === 0 || inFlight >= 2) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      if (free.length < deps.batchMax && deps.lingerMs > 0) await sleep(deps.lingerMs, clock).catch(() => {});
      const batch = [...pending.values()].filter((e) => !taken.has(e.id)).slice(0, deps.batchMax);
      for (const e of batch) taken.add(e.id);
      inFlight += 1;
      const end = batchTime.startTimer();
      const outcome = await untilDone(batch.length, () => storeStage(batch));
      const previous = publishing;
      publishing = (async () => {
        await previous;
        if (outcome) await untilDone(batch.length, () => publishStage(outcome));
        end();
        for (const e of batch) {
          pending.delete(e.id);
          taken.delete(e.id);
        }
        inFlight -= 1;
        pendingGauge.set(pending.size);
        wake?.();
      })();
    }
    await publishing;
  }

  let running: Promise<void> | undefined;
  return {
    accept,
    start() {
      running = run();
    },
    async stop() {
      stopped = true;
      stopSignal.abort();
      wake?.();
      await running;
    },
    pendingCount: () => pending.size,
  };
}

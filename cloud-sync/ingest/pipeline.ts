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

  async function processBatch(batch: Envelope[]): Promise<void> {
    const records = batch.filter((e) => isRecordKind(e.kind));
    const controls = batch.filter((e) => !isRecordKind(e.kind));
    let outcome: Awaited<ReturnType<IngestStore['store']>>;
    try {
      outcome = await store.store(records, controls);
      deps.onHealth('database', true, 'postgresql');
    } catch (err) {
      deps.onHealth('database', false, `write failed: ${(err as Error).message}`);
      throw err;
    }
    if (outcome.toPublish.length) {
      const receivedAt = new Date(clock.now()).toISOString();
      const byTopic = new Map<string, ReturnType<typeof toKafkaMessage>[]>();
      for (const e of outcome.toPublish) {
        const topic = deps.topicPrefix + topicFor(e.kind as never);
        const list = byTopic.get(topic) ?? [];
        list.push(toKafkaMessage(e, receivedAt));
        byTopic.set(topic, list);
      }
      try {
        const producer = await deps.kafka.producer();
        await producer.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        });
        deps.onHealth('kafka', true, 'connected');
      } catch (err) {
        deps.onHealth('kafka', false, `publish failed: ${(err as Error).message}`);
        await deps.kafka.reset().catch(() => {});
        throw err;
      }
      await store.markPublished(outcome.toPublish.map((e) => e.id));
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

  async function run(): Promise<void> {
    while (!stopped) {
      if (pending.size === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      if (pending.size < deps.batchMax && deps.lingerMs > 0)
        await sleep(deps.lingerMs, clock).catch(() => {});
      const batch = [...pending.values()].slice(0, deps.batchMax);
      const end = batchTime.startTimer();
      for (let attempt = 1; !stopped; attempt++) {
        try {
          await processBatch(batch);
          break;
        } catch (err) {
          const delay = backoffDelay(attempt, 100, 5000);
          log.warn(
            { attempt, delayMs: delay, size: batch.length, err: (err as Error).message },
            'ingest batch failed, retrying',
          );
          await sleep(delay, clock, stopSignal.signal).catch(() => {});
        }
      }
      end();
      for (const e of batch) pending.delete(e.id);
      pendingGauge.set(pending.size);
    }
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

import type { Producer } from 'kafkajs';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Metrics } from '../../common/metrics.js';
import { backoffDelay, sleep } from '../../common/resilience.js';
import { type AckItem, type Envelope, isRecordKind, type UpstreamMessage } from '../protocol/index.js';
import { toKafkaMessage, topicFor } from './kafka.js';
import type { HeldBatch, IngestStore } from './store.js';

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
 * MQTT → PostgreSQL (open transaction) → Kafka → COMMIT → acknowledgement, in micro-batches. A batch
 * is retried with backoff until every step has succeeded; only then are its acknowledgements sent, so
 * a crash or an outage at any step ends with the device sending again and ingest recognising the
 * message id (a crash between Kafka and the commit repeats a Kafka record; consumers drop it by
 * message id). Batches finish in order, which keeps each device's order within this worker (devices
 * keep one batch in flight).
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

  /** Records waiting for a batch, in arrival order (`pending` also holds those in a batch). */
  let queue: Envelope[] = [];

  function accept(msg: UpstreamMessage): void {
    if (!msg.ok) {
      dropped.inc({ reason: msg.reason });
      log.warn({ deviceId: msg.deviceId, reason: msg.reason }, 'upstream message dropped');
      return;
    }
    const immediate: AckItem[] = [];
    for (const item of msg.items) {
      if (item.ok) {
        if (!pending.has(item.envelope.id)) {
          pending.set(item.envelope.id, item.envelope);
          queue.push(item.envelope);
        }
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

  /** A batch on its way: written in an open transaction (`held`) until Kafka has it, then committed. */
  interface Slot {
    batch: Envelope[];
    held?: HeldBatch;
    /** The write started ahead of the batch's turn (while the previous batch is in Kafka). */
    storing?: Promise<void>;
  }
  const slots = new Set<Slot>();
  /** Set while a batch is failing: later batches then write only in their own turn (see `abortLater`). */
  let failing = false;

  async function storeStage(batch: Envelope[]): Promise<HeldBatch> {
    const records = batch.filter((e) => isRecordKind(e.kind));
    const controls = batch.filter((e) => !isRecordKind(e.kind));
    const endStore = stageTime.startTimer({ stage: 'postgres' });
    try {
      const held = await store.begin(records, controls);
      endStore();
      deps.onHealth('database', true, 'postgresql');
      return held;
    } catch (err) {
      deps.onHealth('database', false, `write failed: ${(err as Error).message}`);
      throw err;
    }
  }

  async function publishStage(held: HeldBatch): Promise<void> {
    if (!held.toPublish.length) return;
    const receivedAt = new Date(clock.now()).toISOString();
    const byTopic = new Map<string, ReturnType<typeof toKafkaMessage>[]>();
    for (const e of held.toPublish) {
      const topic = deps.topicPrefix + topicFor(e.kind as never);
      let list = byTopic.get(topic);
      if (!list) {
        list = [];
        byTopic.set(topic, list);
      }
      list.push(toKafkaMessage(e, receivedAt));
    }
    try {
      const endKafka = stageTime.startTimer({ stage: 'kafka' });
      const producer = await deps.kafka.producer();
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      endKafka();
      deps.onHealth('kafka', true, 'connected');
    } catch (err) {
      deps.onHealth('kafka', false, `publish failed: ${(err as Error).message}`);
      await deps.kafka.reset().catch(() => {});
      throw err;
    }
  }

  async function commitStage(held: HeldBatch): Promise<void> {
    const endCommit = stageTime.startTimer({ stage: 'commit' });
    try {
      await store.commit(held);
    } catch (err) {
      // Kafka has these; the retry writes them again and publishes them again (consumers de-duplicate).
      deps.onHealth('database', false, `commit failed: ${(err as Error).message}`);
      throw err;
    }
    endCommit();
  }

  function sendBatchAcks(held: HeldBatch): void {
    const acks = new Map<string, AckItem[]>();
    const add = (e: Envelope, status: AckItem['status']) => {
      let list = acks.get(e.deviceId);
      if (!list) {
        list = [];
        acks.set(e.deviceId, list);
      }
      list.push({ id: e.id, status });
    };
    for (const e of held.toPublish) add(e, 'stored');
    for (const e of held.duplicates) add(e, 'duplicate');
    for (const [deviceId, items] of acks) deps.sendAcks(deviceId, items);
    received.inc({ outcome: 'stored' }, held.toPublish.length);
    received.inc({ outcome: 'duplicate' }, held.duplicates.length);
  }

  /**
   * A failed batch is written again in its turn; a later batch written ahead may hold row locks it
   * needs (the same device row, a re-sent message id) while waiting for it: roll those back first.
   */
  async function abortLater(current: Slot): Promise<void> {
    for (const s of slots) {
      if (s === current) continue;
      await s.storing;
      await drop(s);
    }
  }

  /** Rolls back a slot's open transaction, if any (never throws: the connection is then discarded). */
  async function drop(slot: Slot): Promise<void> {
    const held = slot.held;
    slot.held = undefined;
    if (held) await store.rollback(held).catch(() => {});
  }

  /** One batch in its turn: write (unless written ahead), publish, commit, acknowledge; retried whole. */
  async function finish(slot: Slot): Promise<boolean> {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        await slot.storing;
        slot.held ??= await storeStage(slot.batch);
        await publishStage(slot.held);
        await commitStage(slot.held);
        const held = slot.held;
        slot.held = undefined;
        failing = false;
        sendBatchAcks(held);
        return true;
      } catch (err) {
        failing = true;
        await drop(slot);
        await abortLater(slot);
        const delay = backoffDelay(attempt, 100, 5000);
        log.warn(
          { attempt, delayMs: delay, size: slot.batch.length, err: (err as Error).message },
          'ingest batch failed, retrying',
        );
        await sleep(delay, clock, stopSignal.signal).catch(() => {});
      }
    }
    await drop(slot);
    return false;
  }

  /**
   * Two batches overlap: while batch N is published to Kafka (its transaction open), batch N+1 is
   * written to PostgreSQL. Kafka publications, commits and acknowledgements stay in batch order, so
   * per-device order holds.
   */
  async function run(): Promise<void> {
    let turn: Promise<void> = Promise.resolve();
    while (!stopped) {
      if (queue.length === 0 || slots.size >= 2) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      if (queue.length < deps.batchMax && deps.lingerMs > 0)
        await sleep(deps.lingerMs, clock).catch(() => {});
      if (stopped) break;
      const batch = queue.slice(0, deps.batchMax);
      queue = queue.slice(batch.length);
      const slot: Slot = { batch };
      slots.add(slot);
      const end = batchTime.startTimer();
      if (!failing) {
        // Written ahead; a failure here is retried in the batch's turn.
        slot.storing = storeStage(batch).then(
          (held) => {
            slot.held = held;
          },
          () => {},
        );
        await slot.storing;
      }
      const previous = turn;
      turn = (async () => {
        await previous;
        const done = await finish(slot).catch(async (err: Error) => {
          log.error({ err: err.message }, 'ingest batch abandoned (devices send it again)');
          await drop(slot);
          return false;
        });
        end();
        slots.delete(slot);
        for (const e of batch) pending.delete(e.id);
        if (!done)
          log.debug({ size: batch.length }, 'batch left unacknowledged at stop (devices send it again)');
        pendingGauge.set(pending.size);
        wake?.();
      })();
    }
    await turn;
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

import { type Admin, Kafka, logLevel, type Producer } from 'kafkajs';
import type { Envelope, RecordKind } from '../protocol/index.js';

const day = 24 * 3600 * 1000;

/** The design table: what each topic carries and how long Kafka keeps it. Keyed by device id. */
export const kafkaTopics = {
  conversation_events: { retentionMs: 7 * day },
  voice_processing: { retentionMs: 3 * day },
  notification_queue: { retentionMs: 1 * day },
  analytics_events: { retentionMs: 90 * day },
} as const;
export type KafkaTopic = keyof typeof kafkaTopics;

export function topicFor(kind: RecordKind): KafkaTopic {
  switch (kind) {
    case 'conversation_turn':
      return 'conversation_events';
    case 'voice_event':
      return 'voice_processing';
    case 'alert':
      return 'notification_queue';
    default:
      return 'analytics_events';
  }
}

/**
 * The record as Kafka consumers see it. Delivery is at least once (a worker can die after Kafka stored
 * a record and before PostgreSQL noted it); consumers de-duplicate by `messageId` (also a header).
 */
export interface KafkaRecord {
  messageId: string;
  deviceId: string;
  seq: number;
  kind: string;
  createdAt: string;
  receivedAt: string;
  traceId?: string;
  payload: unknown;
}

export function toKafkaMessage(env: Envelope, receivedAt: string) {
  const record: KafkaRecord = {
    messageId: env.id,
    deviceId: env.deviceId,
    seq: env.seq,
    kind: env.kind,
    createdAt: env.createdAt,
    receivedAt,
    ...(env.traceId ? { traceId: env.traceId } : {}),
    payload: env.payload,
  };
  return {
    key: env.deviceId,
    value: JSON.stringify(record),
    headers: { 'message-id': env.id, kind: env.kind, ...(env.traceId ? { 'trace-id': env.traceId } : {}) },
  };
}

export function createKafkaClient(brokers: string[], clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
  });
}

/** Creates the four topics (if missing) with their retention. Safe to call from every worker. */
export async function ensureKafkaTopics(admin: Admin, partitions: number, prefix = ''): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = (Object.keys(kafkaTopics) as KafkaTopic[]).filter((t) => !existing.has(prefix + t));
  if (!missing.length) return;
  await admin
    .createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic: prefix + topic,
        numPartitions: partitions,
        replicationFactor: -1,
        configEntries: [{ name: 'retention.ms', value: String(kafkaTopics[topic].retentionMs) }],
      })),
    })
    .catch((err: Error) => {
      // Another worker created it first.
      if (!/already exists/i.test(err.message)) throw err;
    });
}

/** Idempotent producer: broker-side de-duplication of retries, acks from all in-sync replicas. */
export function createIdempotentProducer(kafka: Kafka): Producer {
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
}

/** Consumer-side de-duplication by message id (bounded memory): what every consumer of these topics does. */
export function createMessageIdFilter(capacity = 100_000) {
  const seen = new Set<string>();
  return (messageId: string): boolean => {
    if (seen.has(messageId)) return false;
    seen.add(messageId);
    if (seen.size > capacity) seen.delete(seen.values().next().value as string);
    return true;
  };
}

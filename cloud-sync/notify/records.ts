import { z } from 'zod';

// What notify reads from Kafka's notification_queue: the record ingest publishes for each upstream
// `alert` (see the sync protocol, cloud-sync/protocol/, and ingest's toKafkaMessage). Kept local so the
// worker validates exactly the fields it uses.

export const alertRecordPayload = z.looseObject({
  id: z.string().uuid('must be a UUID'),
  personId: z.string().uuid('must be a UUID'),
  type: z.string().regex(/^[a-z_]{2,40}$/, 'must be a lower-case alert type'),
  priority: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  message: z.string().max(2000),
  at: z.string().datetime({ offset: true }),
});

export interface NotificationRecord {
  messageId: string;
  deviceId: string;
  kind: string;
  traceId?: string;
  payload: unknown;
}

export const NOTIFICATION_TOPIC = 'notification_queue';
/** Retention of the topic per the design table (ingest creates it the same way). */
export const NOTIFICATION_RETENTION_MS = 24 * 3600 * 1000;

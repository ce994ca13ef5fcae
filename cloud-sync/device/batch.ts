import type { OutboxMessage } from '../../device/store/outbox.js';
import {
  batchBytes,
  type Envelope,
  envelopeBytes,
  MAX_BATCH_RECORDS,
  MAX_MESSAGE_BYTES,
  MAX_RECORD_BYTES,
  PROTOCOL_VERSION,
} from '../protocol/index.js';

/** The envelope an outbox row travels in. */
export function recordEnvelope(deviceId: string, m: OutboxMessage): Envelope {
  return {
    v: PROTOCOL_VERSION,
    id: m.messageId,
    deviceId,
    seq: m.seq,
    kind: m.kind,
    createdAt: new Date(m.createdAt).toISOString(),
    payload: m.payload,
  };
}

/** An outbox row too large for the cloud to ever accept, with its envelope's size. */
export interface TooLarge {
  row: OutboxMessage;
  bytes: number;
}

/**
 * The next batch from the head of the outbox (rows in outbox order; `skip` says which are handled
 * elsewhere: in flight on the urgent lane, deferred, already known to be too large). The batch holds at
 * most `batchMax` rows and its `batch` message is never above MAX_MESSAGE_BYTES, counted exactly.
 *
 * A row whose envelope is above MAX_RECORD_BYTES is not put in any batch (ingest would reject it) and is
 * returned in `tooLarge` instead: the engine keeps it in the outbox and reports it, and the rows behind
 * it go on. Without this a single large row at the head went out alone over the message limit, ingest
 * could not acknowledge it, and it was re-sent forever with everything behind it waiting.
 */
export function nextBatch(
  rows: readonly OutboxMessage[],
  o: { deviceId: string; batchMax: number; skip?: (messageId: string) => boolean },
): { rows: OutboxMessage[]; bytes: number; tooLarge: TooLarge[] } {
  const batchMax = Math.max(1, Math.min(o.batchMax, MAX_BATCH_RECORDS));
  const picked: OutboxMessage[] = [];
  const tooLarge: TooLarge[] = [];
  let bytes = batchBytes(o.deviceId, []);
  for (const r of rows) {
    if (o.skip?.(r.messageId)) continue;
    const size = envelopeBytes(recordEnvelope(o.deviceId, r));
    if (size > MAX_RECORD_BYTES) {
      tooLarge.push({ row: r, bytes: size });
      continue;
    }
    const next = bytes + size + (picked.length ? 1 : 0);
    if (picked.length >= batchMax || next > MAX_MESSAGE_BYTES) break;
    picked.push(r);
    bytes = next;
  }
  return { rows: picked, bytes, tooLarge };
}

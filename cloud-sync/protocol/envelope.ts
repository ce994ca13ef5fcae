import { z } from 'zod';
import {
  commandAckPayload,
  isRecordKind,
  medicinePayload,
  recordPayloads,
  statusPayload,
} from './payloads.js';
import { deviceIdPattern, parseTopic } from './topics.js';

/**
 * Version rules (both directions):
 * - `v` is the protocol major version. A receiver accepts any `v` up to its own. A message with a
 *   higher `v`, or a kind the receiver does not know, is answered `deferred`: the sender keeps it and
 *   offers it again later (after the receiver is upgraded) while the rest of the stream carries on.
 * - Within a major version fields are only added, never removed or retyped; receivers ignore unknown
 *   fields (schemas are loose), so a newer device talks to an older cloud and the reverse.
 * - A message that breaks its schema is `rejected`: retrying cannot help; the sender drops it from its
 *   queue, counts it and keeps its id in the log (never its content).
 */
export const PROTOCOL_VERSION = 1;
/** Largest MQTT payload either side sends or accepts (the broker's message_size_limit matches). */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/**
 * Largest single record: its envelope as UTF-8 JSON (`envelopeBytes`), in a batch or on its own. Ingest
 * answers a larger one `rejected` (invalid_argument, `RECORD_MAX_BYTES_RULE`) so the rest of its batch
 * carries on; the device never sends one (it keeps it in its outbox, see cloud-sync/device/batch.ts).
 * A record this size plus the batch wrapper always fits in MAX_MESSAGE_BYTES.
 */
export const MAX_RECORD_BYTES = 64 * 1024;
/** The field/rule named when a record is above MAX_RECORD_BYTES. */
export const RECORD_MAX_BYTES_RULE = `record:max_bytes_${MAX_RECORD_BYTES}`;
export const MAX_BATCH_RECORDS = 500;

const id = z.guid();
const time = z.iso.datetime({ offset: true });

export const envelopeSchema = z.looseObject({
  v: z.number().int().min(1),
  id,
  deviceId: z.string().regex(deviceIdPattern),
  seq: z.number().int().min(0),
  kind: z.string().regex(/^[a-z_]{1,40}$/),
  createdAt: time,
  traceId: z.string().max(64).optional(),
  payload: z.unknown(),
});
export type Envelope<P = unknown> = z.infer<typeof envelopeSchema> & { payload: P };

export const batchSchema = z.looseObject({
  v: z.number().int().min(1),
  deviceId: z.string().regex(deviceIdPattern),
  messages: z.array(z.unknown()).min(1).max(MAX_BATCH_RECORDS),
});

export type AckStatus = 'stored' | 'duplicate' | 'rejected' | 'deferred';
export interface AckItem {
  id: string;
  status: AckStatus;
  /** Error code (invalid_argument, unsupported_kind, unsupported_version) for rejected/deferred. */
  code?: string;
  /** Field names and rules that failed; never values. */
  fields?: string[];
}
export const ackSchema = z.looseObject({
  v: z.number().int().min(1),
  acks: z.array(
    z.looseObject({
      id,
      status: z.enum(['stored', 'duplicate', 'rejected', 'deferred']),
      code: z.string().max(60).optional(),
      fields: z.array(z.string().max(200)).max(50).optional(),
    }),
  ),
});

export const commandKinds = ['medicine_upsert', 'medicine_delete', 'settings', 'speak'] as const;
export type CommandKind = (typeof commandKinds)[number];
export const settingsCommand = z.looseObject({
  version: z.number().int().min(1),
  values: z.record(
    z.string().regex(/^[a-zA-Z][\w.]{0,63}$/),
    z.union([z.string().max(500), z.number(), z.boolean(), z.null()]),
  ),
});
export const speakCommand = z.looseObject({ text: z.string().min(1).max(1000), personId: id.optional() });
export const commandPayloads = {
  medicine_upsert: medicinePayload,
  medicine_delete: medicinePayload,
  settings: settingsCommand,
  speak: speakCommand,
} as const;
export const commandSchema = z.looseObject({
  v: z.number().int().min(1),
  id,
  kind: z.string().regex(/^[a-z_]{1,40}$/),
  createdAt: time,
  payload: z.unknown(),
});
export type Command = z.infer<typeof commandSchema>;

export const upstreamControlPayloads = { status: statusPayload, command_ack: commandAckPayload } as const;

/** Field paths and rules of a zod failure: safe to log and to send back (no values). */
export function issueFields(err: z.ZodError): string[] {
  return err.issues.slice(0, 20).map((i) => `${i.path.map(String).join('.') || '(root)'}:${i.code}`);
}

/**
 * Size of one envelope as JSON in UTF-8. The device measures the envelope it is about to encode, ingest
 * the envelope it parsed: JSON.stringify of parsed JSON gives back the same text, so both agree.
 */
export const envelopeBytes = (envelope: unknown): number => Buffer.byteLength(JSON.stringify(envelope));

/** Exact size of the `batch` message `encode({v, deviceId, messages})` for envelopes of these sizes. */
export function batchBytes(deviceId: string, sizes: readonly number[]): number {
  const wrapper = envelopeBytes({ v: PROTOCOL_VERSION, deviceId, messages: [] });
  let total = wrapper + Math.max(0, sizes.length - 1); // commas between envelopes
  for (const n of sizes) total += n;
  return total;
}

export type Decoded =
  | { ok: true; envelope: Envelope }
  | { ok: false; id?: string; status: 'rejected' | 'deferred'; code: string; fields?: string[] };

/** Validates one upstream envelope (already JSON-parsed) against its kind and the topic's device id. */
export function checkEnvelope(raw: unknown, topicDeviceId: string): Decoded {
  const rawId = typeof (raw as { id?: unknown })?.id === 'string' ? (raw as { id: string }).id : undefined;
  const maybeId = rawId && id.safeParse(rawId).success ? rawId : undefined;
  const v = (raw as { v?: unknown })?.v;
  if (typeof v === 'number' && v > PROTOCOL_VERSION)
    return { ok: false, id: maybeId, status: 'deferred', code: 'unsupported_version' };
  const env = envelopeSchema.safeParse(raw);
  if (!env.success)
    return {
      ok: false,
      id: maybeId,
      status: 'rejected',
      code: 'invalid_argument',
      fields: issueFields(env.error),
    };
  if (env.data.deviceId !== topicDeviceId)
    return { ok: false, id: maybeId, status: 'rejected', code: 'permission_denied' };
  // Before the kind's schema: a record this large is refused whole, naming the rule and never content.
  if (envelopeBytes(raw) > MAX_RECORD_BYTES)
    return {
      ok: false,
      id: maybeId,
      status: 'rejected',
      code: 'invalid_argument',
      fields: [RECORD_MAX_BYTES_RULE],
    };
  const kind = env.data.kind;
  const schema = isRecordKind(kind)
    ? recordPayloads[kind]
    : (upstreamControlPayloads as Record<string, z.ZodType>)[kind];
  if (!schema) return { ok: false, id: maybeId, status: 'deferred', code: 'unsupported_kind' };
  const payload = schema.safeParse(env.data.payload);
  if (!payload.success) {
    return {
      ok: false,
      id: maybeId,
      status: 'rejected',
      code: 'invalid_argument',
      fields: issueFields(payload.error).map((f) => `payload.${f}`),
    };
  }
  return { ok: true, envelope: { ...env.data, payload: payload.data } };
}

export type UpstreamMessage =
  | { ok: true; deviceId: string; items: Decoded[] }
  /** Not attributable (bad topic, not JSON, oversize, cross-device): nothing to acknowledge. */
  | { ok: false; reason: string; deviceId?: string };

/**
 * Decodes one MQTT message from `aide/v1/{deviceId}/up/{kind}`: a single envelope, or a `batch` of
 * them. Each item is validated on its own so one bad record does not hold back the others.
 */
export function decodeUpstream(topic: string, body: Buffer | Uint8Array): UpstreamMessage {
  const t = parseTopic(topic);
  if (t?.direction !== 'up') return { ok: false, reason: 'bad_topic' };
  if (body.byteLength > MAX_MESSAGE_BYTES) return { ok: false, reason: 'oversize', deviceId: t.deviceId };
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return { ok: false, reason: 'not_json', deviceId: t.deviceId };
  }
  if (t.kind === 'batch') {
    const v = (raw as { v?: unknown })?.v;
    if (typeof v === 'number' && v > PROTOCOL_VERSION) {
      const msgs = Array.isArray((raw as { messages?: unknown }).messages)
        ? (raw as { messages: unknown[] }).messages
        : [];
      return { ok: true, deviceId: t.deviceId, items: msgs.map((m) => checkEnvelope(m, t.deviceId)) };
    }
    const batch = batchSchema.safeParse(raw);
    if (!batch.success) return { ok: false, reason: 'invalid_batch', deviceId: t.deviceId };
    if (batch.data.deviceId !== t.deviceId)
      return { ok: false, reason: 'device_mismatch', deviceId: t.deviceId };
    return {
      ok: true,
      deviceId: t.deviceId,
      items: batch.data.messages.map((m) => checkEnvelope(m, t.deviceId)),
    };
  }
  const item = checkEnvelope(raw, t.deviceId);
  if (!item.ok && item.code === 'permission_denied')
    return { ok: false, reason: 'device_mismatch', deviceId: t.deviceId };
  if (item.ok && item.envelope.kind !== t.kind) {
    return {
      ok: true,
      deviceId: t.deviceId,
      items: [
        {
          ok: false,
          id: item.envelope.id,
          status: 'rejected',
          code: 'invalid_argument',
          fields: ['kind:topic_mismatch'],
        },
      ],
    };
  }
  return { ok: true, deviceId: t.deviceId, items: [item] };
}

export const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

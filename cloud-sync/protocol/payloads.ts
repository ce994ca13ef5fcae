import { z } from 'zod';

/**
 * Payload schemas of upstream record kinds (the outbox contract). Objects are loose: a newer device may
 * add fields and an older cloud accepts the message, ignoring what it does not know. Removing or
 * retyping a field needs a new protocol major version.
 */
const id = z.guid();
const time = z.iso.datetime({ offset: true });
const text = (max: number) => z.string().max(max);
const versioned = { version: z.number().int().min(1), updatedAt: time };

export const personPayload = z.looseObject({
  id,
  name: text(200),
  timezone: z.string().min(1).max(64),
  locale: z.string().max(35).optional(),
  units: z.record(z.string(), z.string()).optional(),
  targets: z.record(z.string(), z.unknown()).optional(),
  deleted: z.boolean().optional(),
  ...versioned,
});

/**
 * The measurement types devices record today (device/store/units.ts gives their canonical units); the
 * caregiver API filters by them. The payload's `type` stays an open pattern so a newer device may add one.
 */
export const measurementTypes = [
  'blood_pressure',
  'heart_rate',
  'oxygen_saturation',
  'steps',
  'sleep',
  'blood_glucose',
  'weight',
  'temperature',
] as const;

const bloodPressure = z.looseObject({
  systolic: z.number().finite(),
  diastolic: z.number().finite(),
  pulse: z.number().finite().optional(),
});

export const measurementPayload = z.looseObject({
  id,
  personId: id,
  type: z.string().regex(/^[a-z_]{2,40}$/, 'must be a lower-case measurement type'),
  value: z.union([z.number().finite(), bloodPressure]),
  unit: z.string().min(1).max(20),
  inputUnit: z.string().max(20).optional(),
  takenAt: time,
  source: z.string().max(40).optional(),
  note: text(2000).optional(),
  deleted: z.boolean().optional(),
  ...versioned,
});

export const medicinePayload = z.looseObject({
  id,
  personId: id,
  name: text(200).min(1),
  dose: text(200).optional(),
  form: text(100).optional(),
  instructions: text(2000).optional(),
  times: z
    .array(z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)'))
    .min(1)
    .max(24),
  days: z
    .array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']))
    .max(7)
    .optional(),
  startDate: z.iso.date(),
  endDate: z.iso.date().optional(),
  active: z.boolean(),
  deleted: z.boolean().optional(),
  ...versioned,
});

export const doseEventPayload = z.looseObject({
  id,
  personId: id,
  medicationId: id,
  medicationName: text(200).optional(),
  dueAt: time,
  status: z.enum(['due', 'taken', 'skipped', 'missed']),
  confirmedAt: time.optional(),
  confirmedVia: z.string().max(40).optional(),
  ...versioned,
});

/**
 * Longest conversation turn text. The device stores turns up to this length (device/store/conversations.ts
 * imports it); it was 10,000 while the device stored up to 20,000, and ingest rejected (so the device
 * dropped) any longer turn. Widened within v1: an older device's turns all fit.
 */
export const TURN_TEXT_MAX_CHARS = 20_000;

/**
 * Longest agent tool name recorded in a turn's actions. The device store and the tool registry import it,
 * so a turn the device stores is never one ingest refuses (the store allowed 100 while this allowed 80).
 */
export const TOOL_NAME_MAX_CHARS = 80;

export const conversationTurnPayload = z.looseObject({
  id,
  personId: id,
  conversationId: id,
  role: z.enum(['user', 'assistant']),
  text: text(TURN_TEXT_MAX_CHARS),
  at: time,
  actions: z
    .array(z.looseObject({ tool: z.string().max(TOOL_NAME_MAX_CHARS), ok: z.boolean() }))
    .max(50)
    .optional(),
});

/** Longest alert message (a device keeps its alert text within it; device/reminders/speech.ts). */
export const ALERT_MESSAGE_MAX_CHARS = 2000;

export const alertPayload = z.looseObject({
  id,
  personId: id,
  type: z.string().regex(/^[a-z_]{2,40}$/, 'must be a lower-case alert type'),
  priority: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  message: text(ALERT_MESSAGE_MAX_CHARS),
  at: time,
  data: z.record(z.string(), z.unknown()).optional(),
});

/** Voice pipeline events (wake, recognition timings, engine fallbacks) for the voice_processing topic. */
export const voiceEventPayload = z.looseObject({
  id,
  personId: id.optional(),
  event: z.string().regex(/^[a-z_.]{2,60}$/),
  at: time,
  data: z.record(z.string(), z.unknown()).optional(),
});

/** Sent directly (not through the outbox) on connect and every heartbeat; last will says offline. */
export const statusPayload = z.looseObject({
  online: z.boolean(),
  outboxSize: z.number().int().min(0).optional(),
  outboxOldestAt: time.optional(),
  appVersion: z.string().max(40).optional(),
  at: time,
});

/** The device's answer to a downstream command. */
export const commandAckPayload = z.looseObject({
  commandId: id,
  result: z.enum(['applied', 'duplicate', 'stale', 'rejected']),
  detail: z.string().max(500).optional(),
});

/** Record kinds that travel through the outbox and are acknowledged by the cloud. */
export const recordPayloads = {
  person: personPayload,
  measurement: measurementPayload,
  medicine: medicinePayload,
  dose_event: doseEventPayload,
  conversation_turn: conversationTurnPayload,
  alert: alertPayload,
  voice_event: voiceEventPayload,
} as const;
export type RecordKind = keyof typeof recordPayloads;
export const recordKinds = Object.keys(recordPayloads) as RecordKind[];
export const isRecordKind = (k: string): k is RecordKind => Object.hasOwn(recordPayloads, k);

export type PersonPayload = z.infer<typeof personPayload>;
export type MeasurementPayload = z.infer<typeof measurementPayload>;
export type MedicinePayload = z.infer<typeof medicinePayload>;
export type DoseEventPayload = z.infer<typeof doseEventPayload>;
export type ConversationTurnPayload = z.infer<typeof conversationTurnPayload>;
export type AlertPayload = z.infer<typeof alertPayload>;
export type StatusPayload = z.infer<typeof statusPayload>;
export type CommandAckPayload = z.infer<typeof commandAckPayload>;

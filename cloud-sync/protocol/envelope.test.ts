import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import {
  decodeUpstream,
  encode,
  envelopeBytes,
  MAX_MESSAGE_BYTES,
  MAX_RECORD_BYTES,
  PROTOCOL_VERSION,
} from './envelope.js';
import { ackTopic, downTopic, ingestSubscription, parseTopic, upTopic } from './topics.js';

const now = new Date().toISOString();
const reading = (over: Record<string, unknown> = {}) => ({
  v: PROTOCOL_VERSION,
  id: randomUUID(),
  deviceId: 'dev-1',
  seq: 7,
  kind: 'measurement',
  createdAt: now,
  payload: {
    id: randomUUID(),
    personId: randomUUID(),
    type: 'blood_pressure',
    value: { systolic: 120, diastolic: 80 },
    unit: 'mmHg',
    takenAt: now,
    version: 1,
    updatedAt: now,
  },
  ...over,
});

test('topics round-trip and reject anything outside the layout', () => {
  assert.deepEqual(parseTopic(upTopic('dev-1', 'measurement')), {
    deviceId: 'dev-1',
    direction: 'up',
    kind: 'measurement',
  });
  assert.deepEqual(parseTopic(downTopic('dev-1', 'speak')), {
    deviceId: 'dev-1',
    direction: 'down',
    kind: 'speak',
  });
  assert.deepEqual(parseTopic(ackTopic('dev-1')), { deviceId: 'dev-1', direction: 'ack' });
  assert.equal(parseTopic('aide/v1/../up/x'), undefined);
  assert.equal(parseTopic('aide/v2/dev-1/up/measurement'), undefined);
  assert.equal(ingestSubscription(), '$share/ingest/aide/v1/+/up/+');
});

test('a valid record is accepted; a newer device’s extra fields are ignored, not refused', () => {
  const env = reading({ hint: 'added in a later minor version' });
  (env.payload as Record<string, unknown>).mood = 'fine';
  const out = decodeUpstream(upTopic('dev-1', 'measurement'), encode(env));
  assert.ok(out.ok);
  assert.equal(out.items.length, 1);
  assert.ok(out.items[0]!.ok);
});

test('version rules: a higher major version or unknown kind is deferred (kept by the sender), a broken record rejected', () => {
  const newer = reading({ v: PROTOCOL_VERSION + 1 });
  const unknown = reading({ kind: 'mood' });
  const broken = reading();
  (broken.payload as Record<string, unknown>).value = { systolic: 'high' };
  const one = (env: unknown, kind = 'measurement') => {
    const out = decodeUpstream(upTopic('dev-1', kind), encode(env));
    assert.ok(out.ok);
    return out.items[0]!;
  };
  assert.deepEqual(one(newer), { ok: false, id: newer.id, status: 'deferred', code: 'unsupported_version' });
  assert.deepEqual(one(unknown, 'mood'), {
    ok: false,
    id: unknown.id,
    status: 'deferred',
    code: 'unsupported_kind',
  });
  const r = one(broken);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.status, 'rejected');
  assert.ok(!r.ok && r.fields?.some((f) => f.startsWith('payload.value')));
});

test('identity: an envelope for another device than its topic is not attributable', () => {
  const out = decodeUpstream(upTopic('dev-1', 'measurement'), encode(reading({ deviceId: 'dev-2' })));
  assert.deepEqual(out, { ok: false, reason: 'device_mismatch', deviceId: 'dev-1' });
});

test('a batch is checked record by record; malformed and oversize bodies are dropped', () => {
  const good = reading();
  const bad = reading({ id: 'not-a-uuid' });
  const out = decodeUpstream(
    upTopic('dev-1', 'batch'),
    encode({ v: 1, deviceId: 'dev-1', messages: [good, bad] }),
  );
  assert.ok(out.ok);
  assert.equal(out.items[0]!.ok, true);
  assert.equal(out.items[1]!.ok, false);
  assert.deepEqual(decodeUpstream(upTopic('dev-1', 'measurement'), Buffer.from('{oops')), {
    ok: false,
    reason: 'not_json',
    deviceId: 'dev-1',
  });
  assert.deepEqual(decodeUpstream(upTopic('dev-1', 'measurement'), Buffer.alloc(MAX_MESSAGE_BYTES + 1, 32)), {
    ok: false,
    reason: 'oversize',
    deviceId: 'dev-1',
  });
});

test('a record above MAX_RECORD_BYTES is rejected on its own, attributably, naming the rule and not its content', () => {
  // A missed-dose alert whose dose list grew past the limit (loose payload: valid but for its size).
  const big = reading({
    kind: 'alert',
    payload: {
      id: randomUUID(),
      personId: randomUUID(),
      type: 'missed_dose',
      priority: 1,
      message: 'Mum has missed doses.',
      at: now,
      data: { doseIds: Array.from({ length: 1800 }, () => randomUUID()) },
    },
  });
  assert.ok(envelopeBytes(big) > MAX_RECORD_BYTES);
  const before = reading();
  const after = reading();
  const body = encode({ v: 1, deviceId: 'dev-1', messages: [before, big, after] });
  assert.ok(body.byteLength <= MAX_MESSAGE_BYTES, 'the batch itself is within the message limit');
  const out = decodeUpstream(upTopic('dev-1', 'batch'), body);
  assert.ok(out.ok);
  assert.equal(out.items[0]!.ok, true);
  assert.deepEqual(out.items[1], {
    ok: false,
    id: big.id,
    status: 'rejected',
    code: 'invalid_argument',
    fields: [`record:max_bytes_${MAX_RECORD_BYTES}`],
  });
  assert.equal(out.items[2]!.ok, true);
  // The same on its own topic.
  const alone = decodeUpstream(upTopic('dev-1', 'alert'), encode(big));
  assert.ok(alone.ok);
  assert.deepEqual(alone.items[0], out.items[1]);
  // At the limit exactly it is accepted (the size counts the envelope as JSON in UTF-8).
  const data = big.payload as unknown as { data: { doseIds: string[] } };
  while (envelopeBytes(big) > MAX_RECORD_BYTES) data.data.doseIds.pop();
  data.data.doseIds.push('x'.repeat(MAX_RECORD_BYTES - envelopeBytes(big) - 3));
  assert.equal(envelopeBytes(big), MAX_RECORD_BYTES);
  const fits = decodeUpstream(upTopic('dev-1', 'alert'), encode(big));
  assert.ok(fits.ok && fits.items[0]!.ok);
});

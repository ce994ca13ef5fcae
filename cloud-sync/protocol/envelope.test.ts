import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { decodeUpstream, encode, MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from './envelope.js';
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

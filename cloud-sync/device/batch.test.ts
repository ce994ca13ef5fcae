import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { OutboxMessage } from '../../device/store/outbox.js';
import {
  batchBytes,
  decodeUpstream,
  encode,
  envelopeBytes,
  MAX_MESSAGE_BYTES,
  MAX_RECORD_BYTES,
  PROTOCOL_VERSION,
  upTopic,
} from '../protocol/index.js';
import { nextBatch, recordEnvelope } from './batch.js';

const deviceId = 'dev-batch';
let seq = 0;
/** An outbox row whose envelope is exactly `bytes` long (a loose extra payload field fills it up). */
function row(bytes: number): OutboxMessage {
  const at = new Date().toISOString();
  const m: OutboxMessage = {
    seq: ++seq,
    messageId: randomUUID(),
    kind: 'measurement',
    priority: 0,
    payload: {
      id: randomUUID(),
      personId: randomUUID(),
      type: 'heart_rate',
      value: 60,
      unit: 'bpm',
      takenAt: at,
      version: 1,
      updatedAt: at,
      pad: '',
    },
    createdAt: Date.now(),
    attempts: 0,
  };
  const pad = bytes - envelopeBytes(recordEnvelope(deviceId, m));
  assert.ok(pad >= 0, `a row cannot be smaller than ${bytes - pad} bytes`);
  (m.payload as { pad: string }).pad = 'x'.repeat(pad);
  assert.equal(envelopeBytes(recordEnvelope(deviceId, m)), bytes);
  return m;
}

const encodedBatch = (rows: OutboxMessage[]) =>
  encode({ v: PROTOCOL_VERSION, deviceId, messages: rows.map((r) => recordEnvelope(deviceId, r)) });

test('batchBytes is the exact size of the encoded batch message', () => {
  const rows = [row(400), row(1000), row(MAX_RECORD_BYTES)];
  for (let n = 1; n <= rows.length; n++) {
    const some = rows.slice(0, n);
    assert.equal(
      batchBytes(
        deviceId,
        some.map((r) => envelopeBytes(recordEnvelope(deviceId, r))),
      ),
      encodedBatch(some).byteLength,
    );
  }
});

test('a batch never exceeds MAX_MESSAGE_BYTES, however large the rows at the head are', () => {
  // Four records at the record limit are more than one message can carry: the batch takes three.
  const big = Array.from({ length: 6 }, () => row(MAX_RECORD_BYTES));
  const out = nextBatch(big, { deviceId, batchMax: 500 });
  assert.equal(out.rows.length, 3);
  assert.deepEqual(out.tooLarge, []);
  const body = encodedBatch(out.rows);
  assert.equal(body.byteLength, out.bytes);
  assert.ok(body.byteLength <= MAX_MESSAGE_BYTES);
  // Ingest takes it whole: every record in it is attributable and valid.
  const decoded = decodeUpstream(upTopic(deviceId, 'batch'), body);
  assert.ok(decoded.ok);
  assert.deepEqual(
    decoded.items.map((i) => i.ok),
    [true, true, true],
  );

  // Mixed sizes: the rows are taken in order up to the first that does not fit; a smaller one behind
  // it waits for the next batch rather than overtaking it.
  const sizes = [MAX_RECORD_BYTES, MAX_RECORD_BYTES, MAX_RECORD_BYTES, 65_000, 1_000, 500];
  const mixed = sizes.map((n) => row(n));
  const m = nextBatch(mixed, { deviceId, batchMax: 500 });
  assert.ok(encodedBatch(m.rows).byteLength <= MAX_MESSAGE_BYTES);
  assert.deepEqual(
    m.rows.map((r) => r.seq),
    mixed.slice(0, m.rows.length).map((r) => r.seq),
  );
  assert.equal(m.rows.length, 4, '3 × 65,536 + 65,000 fit; 1,000 more do not, and 500 may not overtake');
});

test('a row above the record limit is left out and reported; the rows behind it still go', () => {
  const before = [row(500), row(500)];
  const huge = row(MAX_RECORD_BYTES + 1);
  const after = [row(500), row(500)];
  const out = nextBatch([...before, huge, ...after], { deviceId, batchMax: 500 });
  assert.deepEqual(
    out.rows.map((r) => r.messageId),
    [...before, ...after].map((r) => r.messageId),
  );
  assert.deepEqual(
    out.tooLarge.map((t) => [t.row.messageId, t.bytes]),
    [[huge.messageId, MAX_RECORD_BYTES + 1]],
  );

  // Even alone at the head (the case that blocked sync for good), it is never offered.
  const alone = nextBatch([huge], { deviceId, batchMax: 500 });
  assert.deepEqual(alone.rows, []);
  assert.equal(alone.tooLarge.length, 1);
});

test('batchMax and skipped rows are respected', () => {
  const rows = Array.from({ length: 10 }, () => row(400));
  const skipped = new Set([rows[0]!.messageId, rows[2]!.messageId]);
  const out = nextBatch(rows, { deviceId, batchMax: 3, skip: (id) => skipped.has(id) });
  assert.deepEqual(
    out.rows.map((r) => r.seq),
    [rows[1]!.seq, rows[3]!.seq, rows[4]!.seq],
  );
});

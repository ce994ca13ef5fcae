import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, deviceDbPath, startDevice } from '../device/main.js';
import { migrateDeviceDb, openDeviceDb } from '../device/store/db.js';
import { openStoreRuntime } from '../device/store/runtime.js';

// What a thief with the SD card sees, and what a half-finished write leaves behind.
const secrets = {
  name: 'Rosalind Quenby-Zebedee',
  note: 'felt-dizzy-after-lunch-QX7',
  medicine: 'Zyxorphanol',
  dose: '37.5 mg-QX9',
  instructions: 'take-with-grapefruit-QX8',
  said: 'my-secret-utterance-QX6',
};

let dir: string;
let dev: DeviceHandle;
const clock = createManualClock(Date.parse('2026-05-04T10:00:00Z'));
const config = () =>
  loadDeviceConfig({
    env: { AIDE_DATA_DIR: dir, AIDE_PORT: '0', AIDE_TIMEZONE: 'Europe/Berlin', AIDE_LOG_LEVEL: 'silent' },
  });

async function post(path: string, body: unknown, method = 'POST') {
  const res = await fetch(dev.url + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aide-store-sec-'));
  dev = await startDevice(config(), { clock });
  const me = dev.ctx.store.people.primaryId();
  assert.equal((await post(`/api/people/${me}`, { name: secrets.name }, 'PATCH')).status, 200);
  assert.equal(
    (await post('/api/measurements', { type: 'heart_rate', value: 72, note: secrets.note })).status,
    201,
  );
  assert.equal(
    (
      await post('/api/medications', {
        name: secrets.medicine,
        dose: secrets.dose,
        instructions: secrets.instructions,
        times: ['08:00'],
      })
    ).status,
    201,
  );
  dev.ctx.store.conversations.addTurn({ role: 'user', text: secrets.said });
});
after(async () => {
  await dev?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('encryption at rest', () => {
  test('a copy of the database files (db + WAL) contains none of the plaintext', () => {
    const copy = mkdtempSync(join(tmpdir(), 'aide-stolen-'));
    const db = deviceDbPath(config());
    const files = [db, `${db}-wal`].filter(existsSync);
    for (const f of files) copyFileSync(f, join(copy, f.split('/').pop() as string));
    const bytes = Buffer.concat(files.map((f) => readFileSync(join(copy, f.split('/').pop() as string))));
    assert.ok(bytes.length > 10_000);
    for (const [what, plain] of Object.entries(secrets)) {
      assert.equal(bytes.includes(Buffer.from(plain)), false, `${what} found in plaintext`);
      assert.equal(bytes.includes(Buffer.from(plain, 'utf16le')), false, `${what} found as UTF-16`);
    }
    // The outbox holds them too (the cloud must hear about them), sealed.
    assert.ok(dev.ctx.outbox.size() >= 4);
    assert.ok(JSON.stringify(dev.ctx.outbox.peek(100)).includes(secrets.note));
    rmSync(copy, { recursive: true, force: true });
  });

  test('one flipped byte in a stored name fails to decrypt with a clear error', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'aide-tamper-'));
    dev.ctx.db.pragma('wal_checkpoint(TRUNCATE)');
    copyFileSync(deviceDbPath(config()), join(copy, 'aide.db'));
    const db = openDeviceDb(join(copy, 'aide.db'));
    migrateDeviceDb(db);
    const row = db.prepare('SELECT id, name_enc FROM people WHERE is_primary = 1').get() as {
      id: string;
      name_enc: Buffer;
    };
    const bad = Buffer.from(row.name_enc);
    bad[bad.length - 3] ^= 0x20;
    db.prepare('UPDATE people SET name_enc = ? WHERE id = ?').run(bad, row.id);
    const log = createLogger({ level: 'silent' });
    const rt = openStoreRuntime({
      db,
      clock,
      log,
      metrics: createMetrics({ defaultMetrics: false }),
      config: config(),
    });
    assert.throws(
      () => rt.store.people.getSync(row.id),
      (err: Error) => {
        assert.match(err.message, /decryption failed: authentication failed/);
        return true;
      },
    );
    // Everything else still reads.
    assert.equal(rt.store.medications.listSync(row.id)[0].name, secrets.medicine);
    db.close();
    rmSync(copy, { recursive: true, force: true });
  });
});

describe('outbox atomicity', () => {
  test('when the outbox write fails, the reading is not stored either', async () => {
    const { db } = dev.ctx;
    const rows = () => (db.prepare('SELECT count(*) AS n FROM measurements').get() as { n: number }).n;
    const before = rows();
    const outboxBefore = dev.ctx.outbox.size();
    db.exec(
      "CREATE TEMP TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END",
    );
    try {
      const r = await post('/api/measurements', { type: 'heart_rate', value: 64 });
      assert.equal(r.status, 500);
    } finally {
      db.exec('DROP TRIGGER fail_outbox');
    }
    assert.equal(rows(), before);
    assert.equal(dev.ctx.outbox.size(), outboxBefore);
  });

  test('when the change fails after its outbox message was queued, no outbox row is left', async () => {
    const { db } = dev.ctx;
    const outboxBefore = dev.ctx.outbox.size();
    const meds = () => (db.prepare('SELECT count(*) AS n FROM medications').get() as { n: number }).n;
    const before = meds();
    // Planning the doses happens after the medicine's outbox message, in the same transaction.
    db.exec(
      "CREATE TEMP TRIGGER fail_doses BEFORE INSERT ON doses BEGIN SELECT RAISE(ABORT, 'simulated failure'); END",
    );
    try {
      const r = await post('/api/medications', { name: 'Aspirin', times: ['23:00'] });
      assert.equal(r.status, 500);
    } finally {
      db.exec('DROP TRIGGER fail_doses');
    }
    assert.equal(meds(), before);
    assert.equal(dev.ctx.outbox.size(), outboxBefore);
    assert.ok(!JSON.stringify(dev.ctx.outbox.peek(1000)).includes('Aspirin'));
  });

  test('every change carries a version and the contract fields', () => {
    const kinds = new Map(
      dev.ctx.outbox.peek(1000).map((m) => [m.kind, m.payload as Record<string, unknown>]),
    );
    const person = kinds.get('person') as Record<string, unknown>;
    assert.deepEqual(Object.keys(person).sort(), [
      'id',
      'locale',
      'name',
      'targets',
      'timezone',
      'units',
      'updatedAt',
      'version',
    ]);
    const med = kinds.get('medicine') as Record<string, unknown>;
    for (const k of ['id', 'personId', 'name', 'times', 'startDate', 'active', 'version', 'updatedAt'])
      assert.ok(k in med, k);
    const m = kinds.get('measurement') as Record<string, unknown>;
    for (const k of [
      'id',
      'personId',
      'type',
      'value',
      'unit',
      'inputUnit',
      'takenAt',
      'source',
      'version',
      'updatedAt',
    ])
      assert.ok(k in m, k);
    const turn = kinds.get('conversation_turn') as Record<string, unknown>;
    for (const k of ['id', 'personId', 'conversationId', 'role', 'text', 'at']) assert.ok(k in turn, k);
  });
});

describe('master key', () => {
  test('a database with encrypted data refuses to start without its master key file, and does not mint a new one', () => {
    const copy = mkdtempSync(join(tmpdir(), 'aide-nokey-'));
    dev.ctx.db.pragma('wal_checkpoint(TRUNCATE)');
    copyFileSync(deviceDbPath(config()), join(copy, 'aide.db'));
    const db = openDeviceDb(join(copy, 'aide.db'));
    const log = createLogger({ level: 'silent' });
    const cfg = { ...config(), AIDE_DATA_DIR: copy };
    assert.throws(
      () =>
        openStoreRuntime({ db, clock, log, metrics: createMetrics({ defaultMetrics: false }), config: cfg }),
      /master key file .*master\.key does not exist, but this database holds data encrypted under one/,
    );
    assert.equal(existsSync(join(copy, 'keys', 'master.key')), false);
    db.close();
    rmSync(copy, { recursive: true, force: true });
  });
});

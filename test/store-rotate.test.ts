import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { loadDeviceConfig } from '../device/config.js';
import { encryptedColumns } from '../device/crypto/rotate.js';
import { type DeviceHandle, startDevice } from '../device/main.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'aide-store-rotate-'));
let dev: DeviceHandle | undefined;
after(async () => {
  await dev?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('aide keys rotate re-encrypts everything while the agent keeps writing', {
  timeout: 60_000,
}, async () => {
  dev = await startDevice(
    loadDeviceConfig({
      env: { AIDE_DATA_DIR: dir, AIDE_PORT: '0', AIDE_LOG_LEVEL: 'silent', AIDE_TIMEZONE: 'UTC' },
    }),
  );
  const { store, db } = dev.ctx;
  const post = (body: unknown) =>
    fetch(`${dev?.url}/api/measurements`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  for (let i = 0; i < 1500; i++)
    store.measurements.add({ type: 'heart_rate', value: 60, note: `before ${i}` });
  store.medications.create({ name: 'Lisinopril', instructions: 'morning', times: ['08:00'] });
  const keyBefore = (db.prepare('SELECT id FROM data_keys WHERE active = 1').get() as { id: number }).id;

  // Keep writing through the console while the CLI rotates in another process.
  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      const res = await post({ type: 'heart_rate', value: 61, note: `during ${written}` });
      assert.equal(res.status, 201);
      written++;
    }
  })();
  const { stdout } = await run(process.execPath, ['bin/aide.js', 'keys', 'rotate', '--data', dir]);
  writing = false;
  await writer;
  assert.match(stdout, /data key \d+ active; \d+ values re-encrypted/);
  assert.ok(written > 0, 'the agent accepted writes during the rotation');

  const keyAfter = (db.prepare('SELECT id FROM data_keys WHERE active = 1').get() as { id: number }).id;
  assert.notEqual(keyAfter, keyBefore);
  // Nothing is left under the old key, and the old key is gone.
  for (const c of encryptedColumns) {
    const rows = db
      .prepare(`SELECT ${c.column} AS b FROM ${c.table} WHERE ${c.column} IS NOT NULL`)
      .all() as { b: Buffer }[];
    for (const r of rows)
      assert.equal(r.b.readUInt32BE(2), keyAfter, `${c.table}.${c.column} still under an old key`);
  }
  assert.deepEqual(
    (db.prepare('SELECT id FROM data_keys').all() as { id: number }[]).map((r) => r.id),
    [keyAfter],
  );
  // The agent reads everything, old and new, and writes with the new key.
  const all = store.measurements.list({ limit: 500 });
  assert.ok(all.items.every((m) => m.note?.startsWith('before') || m.note?.startsWith('during')));
  assert.equal(store.medications.listSync()[0].instructions, 'morning');
  assert.ok(dev.ctx.outbox.peek(5000).length >= 1500);
  const fresh = store.measurements.add({ type: 'heart_rate', value: 62, note: 'after' });
  const blob = (
    db.prepare('SELECT note_enc FROM measurements WHERE id = ?').get(fresh.id) as { note_enc: Buffer }
  ).note_enc;
  assert.equal(blob.readUInt32BE(2), keyAfter);
});

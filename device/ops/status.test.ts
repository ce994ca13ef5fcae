import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { loadDeviceConfig } from '../config.js';
import { startDevice } from '../main.js';
import { backupDeviceDb } from './backup.js';
import { consoleUrl } from './cli.js';
import { collectStatus, formatStatus } from './status.js';

test('status shows the sync backlog and engine health from the running agent, and the backlog when it is down', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'aide-status-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const config = loadDeviceConfig({
    env: {
      AIDE_DATA_DIR: data,
      AIDE_PORT: '0',
      AIDE_LOG_LEVEL: 'silent',
      AIDE_INSTALL_ROOT: join(data, 'none'),
    },
  });
  const device = await startDevice(config);
  t.after(() => device.close());
  const { db, outbox } = device.ctx;
  const before = outbox.size(); // subsystems may queue their own messages at start
  db.transaction(() => {
    for (let i = 0; i < 3; i++) outbox.enqueue('alert', { id: `a${i}` }, { priority: 1 });
  })();
  await backupDeviceDb({ dbFile: join(data, 'aide.db'), destDir: join(data, 'backups'), keep: 3 });

  const up = await collectStatus(config, device.url);
  assert.equal(up.agent, 'ready');
  assert.equal(up.outboxSize, before + 3);
  assert.equal(up.deviceId, device.ctx.deviceId);
  assert.ok(up.engines.some((e) => e.name === 'store' && e.ready));
  assert.match(up.lastBackup?.file ?? '', /backups\/aide-\d{8}T\d{9}Z\.db$/);
  const text = formatStatus(up);
  assert.match(text, /^agent: +ready at http/m);
  assert.match(text, new RegExp(`backlog ${before + 3} message\\(s\\) waiting for the cloud`));

  // A reminder spoken an hour ago (as the reminders scheduler records it), read from the store.
  const spokenAt = Date.now() - 3_600_000;
  const raw = new Database(join(data, 'aide.db'));
  raw.pragma('foreign_keys = OFF');
  raw
    .prepare(
      "INSERT INTO reminder_state (dose_id, person_id, due_at, stage, last_announced_at, announcements, outcome, updated_at) VALUES ('d1', 'p1', ?, 'closed', ?, 1, 'taken', ?)",
    )
    .run(spokenAt, spokenAt, spokenAt);
  raw.close();
  const withReminder = await collectStatus(config, device.url);
  assert.deepEqual(withReminder.lastReminder, { at: new Date(spokenAt).toISOString(), status: 'taken' });
  assert.match(formatStatus(withReminder), /^last reminder: \d{4}-\d\d-\d\dT.* \(taken\)$/m);

  await device.close();
  const down = await collectStatus(config, device.url);
  assert.equal(down.agent, 'not running');
  assert.equal(down.outboxSize, before + 3, 'read from the store when the agent is down');
  assert.match(formatStatus(down), /engines: +unknown \(agent not answering\)/);
});

test('the console URL for ops commands is loopback when the agent listens on all addresses', () => {
  assert.equal(
    consoleUrl(loadDeviceConfig({ env: { AIDE_HOST: '0.0.0.0', AIDE_PORT: '8080' } })),
    'http://127.0.0.1:8080',
  );
  assert.equal(
    consoleUrl(loadDeviceConfig({ env: { AIDE_HOST: '::1', AIDE_PORT: '9000' } })),
    'http://[::1]:9000',
  );
});

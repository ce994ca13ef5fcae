import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { backupDeviceDb, listBackups, restoreDeviceDb } from './backup.js';

test('backup copies a store that is open and being written, and keeps only the newest N', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aide-backup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dbFile = join(dir, 'aide.db');
  const live = new Database(dbFile);
  live.pragma('journal_mode = WAL');
  live.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  const insert = live.prepare('INSERT INTO t (v) VALUES (?)');
  for (let i = 0; i < 500; i++) insert.run(`row ${i}`);
  writeFileSync(join(dir, 'backups-note.txt'), 'not a backup'); // foreign files are left alone

  const dest = join(dir, 'backups');
  const start = Date.UTC(2026, 0, 1, 3, 15);
  for (let i = 0; i < 4; i++) {
    insert.run(`during ${i}`); // the agent keeps writing between backups (uncheckpointed WAL)
    await backupDeviceDb({ dbFile, destDir: dest, keep: 3, now: new Date(start + i * 86_400_000) });
  }
  live.close();

  const files = listBackups(dest);
  assert.deepEqual(files, [
    'aide-20260102T031500000Z.db',
    'aide-20260103T031500000Z.db',
    'aide-20260104T031500000Z.db',
  ]);
  assert.deepEqual(readdirSync(dest).sort(), files, 'no .partial or -wal files are left behind');
  const newest = new Database(join(dest, files[2]), { readonly: true });
  assert.equal((newest.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 504);
  assert.equal(newest.pragma('journal_mode', { simple: true }), 'delete');
  assert.equal(
    statSync(join(dest, files[2])).mode & 0o777,
    0o600,
    'health records are readable by the owner only',
  );
  newest.close();
});

test('backup of a missing store says where it looked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aide-backup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(
    backupDeviceDb({ dbFile: join(dir, 'aide.db'), destDir: dir, keep: 2 }),
    /aide\.db does not exist/,
  );
});

test('restore puts a backup back and keeps the replaced store; a damaged file is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aide-restore-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dbFile = join(dir, 'aide.db');
  const db = new Database(dbFile);
  db.pragma('journal_mode = WAL');
  db.exec(
    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY); CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('before')",
  );
  const { file } = await backupDeviceDb({ dbFile, destDir: join(dir, 'backups'), keep: 2 });
  db.exec("INSERT INTO t VALUES ('after')"); // in the WAL only: the agent stopped uncleanly
  const junk = join(dir, 'junk.db');
  writeFileSync(junk, 'not a database at all, just text that is long enough to be a header'.repeat(20));
  await assert.rejects(
    restoreDeviceDb({ dbFile, backupFile: junk }),
    /is not an SQLite database|integrity_check/,
  );
  db.close();

  const r = await restoreDeviceDb({ dbFile, backupFile: file, now: new Date(Date.UTC(2026, 5, 1)) });
  assert.equal(r.saved, `${dbFile}.before-restore-20260601T000000000Z`);
  const restored = new Database(dbFile, { readonly: true });
  assert.deepEqual(restored.prepare('SELECT v FROM t').all(), [{ v: 'before' }]);
  restored.close();
  const saved = new Database(r.saved as string, { readonly: true });
  assert.deepEqual(
    saved.prepare('SELECT v FROM t').all(),
    [{ v: 'before' }, { v: 'after' }],
    'the replaced store, WAL included, is kept',
  );
  saved.close();
  assert.equal(statSync(dbFile).mode & 0o777, 0o600);
});

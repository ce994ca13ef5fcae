import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { systemClock } from '../../common/clock.js';
import { unavailable } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { createMetrics } from '../../common/metrics.js';
import { migrateDeviceDb, openDeviceDb } from '../../device/store/db.js';
import { openStoreRuntime } from '../../device/store/runtime.js';
import { PROTOCOL_VERSION } from '../protocol/index.js';
import { createCommandApplier, createStoreCommandTarget } from './commands.js';
import { readCloudSettings } from './settings.js';

const dir = mkdtempSync(join(tmpdir(), 'aide-commands-'));
const db = openDeviceDb(join(dir, 'aide.db'));
migrateDeviceDb(db);
const rt = openStoreRuntime({
  db,
  clock: systemClock,
  log: silentLogger,
  metrics: createMetrics({ defaultMetrics: false }),
  config: { AIDE_DATA_DIR: dir, AIDE_TIMEZONE: 'Europe/London', AIDE_LOCALE: 'en-GB' },
});
after(async () => {
  await rt.cache.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const settings = (version: number, values: Record<string, unknown>) => ({
  v: PROTOCOL_VERSION,
  id: randomUUID(),
  kind: 'settings',
  createdAt: new Date().toISOString(),
  payload: { version, values },
});
const inboxRows = (id: string) =>
  (db.prepare('SELECT count(*) AS n FROM inbox WHERE message_id = ?').get(id) as { n: number }).n;

test('a store failure while applying leaves neither the change nor the inbox row: the re-send applies', () => {
  let failNext = true;
  const applied: Record<string, unknown>[] = [];
  const applier = createCommandApplier({
    db,
    clock: systemClock,
    target: createStoreCommandTarget({
      db,
      medications: rt.store.medications,
      settings: {
        settingsToStore(known) {
          if ('timezone' in known)
            rt.store.people.update(rt.store.people.primaryId(), { timezone: 'Asia/Tokyo' });
          if (failNext) {
            failNext = false;
            throw unavailable('disk busy'); // after the person changed, inside the transaction
          }
        },
        settingsApplied: (values) => void applied.push(values),
      },
    }),
  });
  const cmd = settings(1, { timezone: 'Asia/Tokyo', 'speech.rate': 120 });
  assert.throws(() => applier.apply(cmd), /disk busy/, 'a retryable failure is not acknowledged');
  assert.equal(inboxRows(cmd.id), 0);
  assert.equal(rt.store.people.getSync().timezone, 'Europe/London', 'the person change rolled back');
  assert.equal(readCloudSettings(db).version, 0);
  assert.deepEqual(applied, []);

  assert.deepEqual(applier.apply(cmd), { result: 'applied', detail: undefined });
  assert.equal(inboxRows(cmd.id), 1);
  assert.equal(rt.store.people.getSync().timezone, 'Asia/Tokyo');
  assert.deepEqual(applied, [{ timezone: 'Asia/Tokyo', 'speech.rate': 120 }]);
  assert.equal(applier.apply(cmd).result, 'duplicate', 'the same command again changes nothing');
  assert.equal(applied.length, 1);
});

test('settings: bad values are rejected naming key and rule, null removes a key, older versions are stale', () => {
  const applier = createCommandApplier({
    db,
    clock: systemClock,
    target: createStoreCommandTarget({ db, medications: rt.store.medications }),
  });
  const bad = applier.apply(settings(5, { 'reminders.quietHours': '25:00-07:00', timezone: 'Mars/Olympus' }));
  assert.equal(bad.result, 'rejected');
  assert.match(bad.detail ?? '', /values\.reminders\.quietHours: must be HH:MM-HH:MM or empty/);
  assert.match(bad.detail ?? '', /values\.timezone: must be an IANA time zone/);
  assert.equal(readCloudSettings(db).version, 1, 'nothing of a rejected document is kept');

  assert.equal(applier.apply(settings(6, { 'speech.rate': null, locale: 'fr-FR' })).result, 'applied');
  assert.deepEqual(readCloudSettings(db), {
    version: 6,
    values: { timezone: 'Asia/Tokyo', locale: 'fr-FR' },
  });
  const stale = applier.apply(settings(6, { locale: 'de-DE' }));
  assert.deepEqual(stale, { result: 'stale', detail: 'device has version 6' });
  assert.equal(readCloudSettings(db).values.locale, 'fr-FR');
});

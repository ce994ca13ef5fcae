import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { systemClock } from '../../common/clock.js';
import { silentLogger } from '../../common/log.js';
import { createMetrics } from '../../common/metrics.js';
import { createReadiness } from '../../common/readiness.js';
import { migrateDeviceDb, openDeviceDb } from '../../device/store/db.js';
import { createOutbox } from '../../device/store/outbox.js';
import { createSyncEngine } from './engine.js';

test('a backlog above the alarm size raises the alarm and keeps every change (offline, nothing dropped)', async () => {
  const db = openDeviceDb(':memory:');
  migrateDeviceDb(db);
  const outbox = createOutbox({ db, clock: systemClock });
  for (let i = 0; i < 25; i++) outbox.enqueue('measurement', { id: randomUUID() });
  const metrics = createMetrics({ defaultMetrics: false });
  const readiness = createReadiness();
  // Nothing listens on port 1: the device is offline.
  const engine = createSyncEngine({
    url: 'mqtt://127.0.0.1:1',
    deviceId: 'dev-alarm',
    db,
    outbox,
    clock: systemClock,
    log: silentLogger,
    metrics,
    readiness,
    alarmAt: 20,
    pollMs: 20,
    heartbeatMs: 0,
  });
  engine.start();
  try {
    await new Promise((r) => setTimeout(r, 200));
    const sync = readiness.snapshot().subsystems.sync!;
    assert.equal(sync.ready, false);
    assert.equal(sync.optional, true, 'an offline device is still ready for its person');
    assert.match(sync.detail ?? '', /backlog 25/);
    assert.match(await metrics.registry.metrics(), /aide_sync_outbox_alarm 1/);
    assert.equal(outbox.size(), 25);
  } finally {
    await engine.stop();
    db.close();
  }
});

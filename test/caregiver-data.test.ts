import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { createPairingCode } from '../cloud-sync/api/people/pairing.js';
import { type ApiUnderTest, addDeviceWithPerson, call, signUp, startApi } from './caregiver-helpers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';
import { newPool } from './support/common.js';

describe('health data endpoints over the sync tables, and medicine changes as device commands', () => {
  let pgServer: PostgresServer;
  let api: ApiUnderTest;
  let db: pg.Pool;
  const personA = randomUUID();
  const personB = randomUUID();
  type Session = Awaited<ReturnType<typeof signUp>>;
  let owner: Session, helper: Session, stranger: Session;
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);

  async function measurement(
    personId: string,
    deviceId: string,
    type: string,
    value: number | object,
    unit: string,
    at: Date,
  ) {
    await db.query(
      `INSERT INTO measurements (id, device_id, person_id, type, value, value_json, unit, taken_at, source, version, updated_at, message_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'voice', 1, now(), gen_random_uuid())`,
      [
        randomUUID(),
        deviceId,
        personId,
        type,
        typeof value === 'number' ? value : null,
        typeof value === 'number' ? null : JSON.stringify(value),
        unit,
        at,
      ],
    );
  }
  async function dose(personId: string, deviceId: string, medId: string, status: string, due: Date) {
    await db.query(
      `INSERT INTO doses (id, device_id, person_id, medication_id, medication_name, due_at, status, version, updated_at, message_id)
       VALUES ($1, $2, $3, $4, 'Metformin', $5, $6, 1, now(), gen_random_uuid())`,
      [randomUUID(), deviceId, personId, medId, due, status],
    );
  }

  before(async () => {
    pgServer = await startPostgres();
    db = newPool(pgServer.url, 2);
    api = await startApi({
      DATABASE_URL: pgServer.url,
      AIDE_RATE_LIMIT_PER_MIN: '10000',
      AIDE_AUTH_RATE_LIMIT_PER_MIN: '10000',
    });
    await addDeviceWithPerson(db, 'dev-a', personA, 'Alice');
    await addDeviceWithPerson(db, 'dev-b', personB, 'Bert');
    [owner, helper, stranger] = await Promise.all(
      ['owner', 'helper', 'stranger'].map((n) => signUp(api.url, n)),
    );
    const { code } = await createPairingCode(db, api.clock, 'dev-a');
    assert.equal(
      (await call(api.url, 'POST', '/v1/devices/claim', { token: owner.accessToken, body: { code } })).status,
      201,
    );
    const inv = await call(api.url, 'POST', `/v1/people/${personA}/caregivers`, {
      token: owner.accessToken,
      body: {
        email: helper.email,
        permissions: { viewRecords: true, receiveAlerts: false, manageMedicines: false },
      },
    });
    assert.equal(inv.status, 201);

    await measurement(
      personA,
      'dev-a',
      'blood_pressure',
      { systolic: 128, diastolic: 82, pulse: 70 },
      'mmHg',
      hoursAgo(1),
    );
    await measurement(personA, 'dev-a', 'blood_glucose', 104, 'mg/dL', hoursAgo(2));
    await measurement(personA, 'dev-a', 'blood_glucose', 180, 'mg/dL', hoursAgo(30));
    await measurement(personB, 'dev-b', 'blood_glucose', 99, 'mg/dL', hoursAgo(1));
    const med = randomUUID();
    await dose(personA, 'dev-a', med, 'taken', hoursAgo(3));
    await dose(personA, 'dev-a', med, 'taken', hoursAgo(27));
    await dose(personA, 'dev-a', med, 'missed', hoursAgo(51));
    await dose(personA, 'dev-a', med, 'skipped', hoursAgo(75));
    await dose(personA, 'dev-a', med, 'taken', hoursAgo(24 * 20));
    await db.query(
      `INSERT INTO alerts (id, device_id, person_id, type, priority, message, at, message_id) VALUES ($1, 'dev-a', $2, 'missed_dose', 1, 'Metformin 08:00 not confirmed', now(), gen_random_uuid())`,
      [randomUUID(), personA],
    );
    await db.query(
      `INSERT INTO conversation_turns (id, device_id, person_id, conversation_id, role, text, at, message_id) VALUES ($1, 'dev-a', $2, $3, 'user', 'what is my blood pressure', now(), gen_random_uuid())`,
      [randomUUID(), personA, randomUUID()],
    );
  });
  after(async () => {
    await api?.close();
    await db?.end();
    await pgServer?.stop();
  });

  test('readings: newest first, filtered by type and time, canonical units, only the caller’s people', async () => {
    const all = await call(api.url, 'GET', `/v1/people/${personA}/measurements`, {
      token: owner.accessToken,
    });
    assert.equal(all.status, 200);
    assert.equal(all.body.measurements.length, 3);
    assert.deepEqual(all.body.measurements[0].value, { systolic: 128, diastolic: 82, pulse: 70 });
    const glucose = await call(
      api.url,
      'GET',
      `/v1/people/${personA}/measurements?type=blood_glucose&from=${hoursAgo(24).toISOString()}`,
      { token: helper.accessToken },
    );
    assert.deepEqual(
      glucose.body.measurements.map((m: { value: number; unit: string }) => `${m.value} ${m.unit}`),
      ['104 mg/dL'],
    );
    const bad = await call(api.url, 'GET', `/v1/people/${personA}/measurements?type=mood&limit=5000`, {
      token: owner.accessToken,
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.details.map((d: { field: string }) => d.field).sort(), [
      'query.limit',
      'query.type',
    ]);
    for (const path of ['measurements', 'doses', 'adherence', 'alerts', 'conversations', 'medications']) {
      const r = await call(api.url, 'GET', `/v1/people/${personB}/${path}`, { token: owner.accessToken });
      assert.equal(r.status, 404, `${path} of someone else`);
      assert.equal(
        (await call(api.url, 'GET', `/v1/people/${personA}/${path}`, { token: stranger.accessToken })).status,
        404,
      );
    }
  });

  test('doses, adherence, alerts and conversations', async () => {
    const doses = await call(api.url, 'GET', `/v1/people/${personA}/doses`, { token: owner.accessToken });
    assert.equal(doses.body.doses.length, 5);
    const adh = await call(api.url, 'GET', `/v1/people/${personA}/adherence?days=7`, {
      token: owner.accessToken,
    });
    assert.equal(adh.status, 200);
    assert.deepEqual({ ...adh.body.adherence.total }, { taken: 2, skipped: 1, missed: 1, due: 0, rate: 0.5 });
    assert.equal(adh.body.adherence.medications.length, 1);
    const alerts = await call(api.url, 'GET', `/v1/people/${personA}/alerts`, { token: owner.accessToken });
    assert.equal(alerts.body.alerts[0].type, 'missed_dose');
    assert.equal(
      (await call(api.url, 'GET', `/v1/people/${personA}/alerts`, { token: helper.accessToken })).status,
      403,
      'helper has no receiveAlerts',
    );
    const conv = await call(api.url, 'GET', `/v1/people/${personA}/conversations`, {
      token: helper.accessToken,
    });
    assert.equal(conv.body.turns[0].text, 'what is my blood pressure');
  });

  test('adding, changing and removing a medicine writes device commands that stay pending until the device acknowledges', async () => {
    const bad = await call(api.url, 'POST', `/v1/people/${personA}/medications`, {
      token: owner.accessToken,
      body: { name: '', times: ['8am'] },
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.details.map((d: { field: string }) => d.field).sort(), [
      'name',
      'times.0',
    ]);
    assert.equal(
      (
        await call(api.url, 'POST', `/v1/people/${personA}/medications`, {
          token: helper.accessToken,
          body: { name: 'X', times: ['08:00'] },
        })
      ).status,
      403,
    );
    assert.equal(
      (
        await call(api.url, 'POST', `/v1/people/${personB}/medications`, {
          token: owner.accessToken,
          body: { name: 'X', times: ['08:00'] },
        })
      ).status,
      404,
    );
    const { rows: none } = await db.query('SELECT count(*)::int AS n FROM device_commands');
    assert.equal(none[0].n, 0, 'refused writes leave nothing behind');

    const created = await call(api.url, 'POST', `/v1/people/${personA}/medications`, {
      token: owner.accessToken,
      body: { name: 'Ramipril', dose: '5 mg', times: ['08:00', '20:00'], days: ['mon', 'wed'] },
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const med = created.body.medication;
    assert.equal(med.sync.status, 'pending');
    assert.equal(med.version, 1);
    const { rows: cmds } = await db.query(
      'SELECT device_id, kind, payload FROM device_commands WHERE id = $1',
      [med.sync.commandId],
    );
    assert.equal(cmds[0].device_id, 'dev-a');
    assert.equal(cmds[0].kind, 'medicine_upsert');
    assert.equal(cmds[0].payload.name, 'Ramipril');
    assert.equal(cmds[0].payload.personId, personA);

    let list = await call(api.url, 'GET', `/v1/people/${personA}/medications`, { token: helper.accessToken });
    assert.equal(list.body.medications[0].sync.status, 'pending');
    // The device applies and acknowledges (what sync does), then its medicine row syncs up.
    await db.query("UPDATE device_commands SET acked_at = now(), result = 'applied' WHERE id = $1", [
      med.sync.commandId,
    ]);
    list = await call(api.url, 'GET', `/v1/people/${personA}/medications`, { token: helper.accessToken });
    assert.equal(list.body.medications[0].sync.status, 'confirmed');
    await db.query(
      `INSERT INTO medicines (id, device_id, person_id, name, dose, times, days, start_date, active, version, updated_at, message_id)
       VALUES ($1, 'dev-a', $2, 'Ramipril', '5 mg', '["08:00","20:00"]', '["mon","wed"]', CURRENT_DATE, true, 1, now(), gen_random_uuid())`,
      [med.id, personA],
    );

    const changed = await call(api.url, 'PATCH', `/v1/people/${personA}/medications/${med.id}`, {
      token: owner.accessToken,
      body: { times: ['09:00'] },
    });
    assert.equal(changed.status, 202);
    assert.equal(changed.body.medication.version, 2);
    assert.deepEqual(changed.body.medication.times, ['09:00']);
    assert.equal(changed.body.medication.dose, '5 mg', 'unchanged fields kept');
    list = await call(api.url, 'GET', `/v1/people/${personA}/medications`, { token: owner.accessToken });
    assert.deepEqual(
      [list.body.medications[0].times, list.body.medications[0].sync.status],
      [['09:00'], 'pending'],
    );
    await db.query(
      "UPDATE device_commands SET acked_at = now(), result = 'rejected', result_detail = 'stale version' WHERE id = $1",
      [changed.body.medication.sync.commandId],
    );
    list = await call(api.url, 'GET', `/v1/people/${personA}/medications`, { token: owner.accessToken });
    assert.equal(list.body.medications[0].sync.status, 'rejected');

    const removed = await call(api.url, 'DELETE', `/v1/people/${personA}/medications/${med.id}`, {
      token: owner.accessToken,
    });
    assert.equal(removed.status, 202);
    assert.equal(removed.body.medication.deleted, true);
    const { rows: del } = await db.query('SELECT kind FROM device_commands WHERE id = $1', [
      removed.body.medication.sync.commandId,
    ]);
    assert.equal(del[0].kind, 'medicine_delete');
    assert.equal(
      (
        await call(api.url, 'PATCH', `/v1/people/${personA}/medications/${randomUUID()}`, {
          token: owner.accessToken,
          body: { times: ['09:00'] },
        })
      ).status,
      404,
    );
  });

  test('every read and change is in the audit log with ids and counts, never values', async () => {
    const r = await call(api.url, 'GET', `/v1/people/${personA}/audit?limit=500`, {
      token: owner.accessToken,
    });
    const entries = r.body.entries as { action: string; resource: string; detail: Record<string, unknown> }[];
    const seen = new Set(entries.map((e) => `${e.action}:${e.resource}`));
    for (const k of [
      'read:measurements',
      'read:doses',
      'read:adherence',
      'read:alerts',
      'read:conversations',
      'read:medications',
      'create:medication',
      'update:medication',
      'delete:medication',
    ]) {
      assert.ok(seen.has(k), `audit has ${k}`);
    }
    const text = JSON.stringify(entries);
    for (const secret of ['Ramipril', 'systolic', 'blood pressure', 'Alice', '09:00'])
      assert.ok(!text.includes(secret), `audit leaks ${secret}`);
    const logs = api.logs();
    for (const secret of ['Ramipril', 'what is my blood pressure', owner.password, owner.email])
      assert.ok(!logs.includes(secret), `logs leak ${secret}`);
  });
});

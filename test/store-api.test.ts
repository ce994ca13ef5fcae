import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../common/clock.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';

// The store's console API end to end: a real device on a temp data folder, driven over HTTP.
let dev: DeviceHandle;
let dir: string;
const clock = createManualClock(Date.parse('2026-03-07T12:00:00Z'));

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(dev.url + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aide-store-api-'));
  dev = await startDevice(
    loadDeviceConfig({
      env: {
        AIDE_DATA_DIR: dir,
        AIDE_PORT: '0',
        AIDE_TIMEZONE: 'America/New_York',
        AIDE_LOG_LEVEL: 'silent',
      },
    }),
    { clock },
  );
});
after(async () => {
  await dev.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('people', () => {
  test('a first person exists from the first start, in AIDE_TIMEZONE', async () => {
    const r = await call('GET', '/api/people');
    assert.equal(r.status, 200);
    assert.equal(r.body.items.length, 1);
    assert.equal(r.body.items[0].timezone, 'America/New_York');
    assert.equal(r.body.items[0].primary, true);
  });

  test('PATCH changes name and units and bumps the version; bad time zone is refused', async () => {
    const id = (await call('GET', '/api/people')).body.items[0].id;
    const r = await call('PATCH', `/api/people/${id}`, { name: 'Rose', units: { weight: 'lb' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'Rose');
    assert.equal(r.body.units.weight, 'lb');
    assert.equal(r.body.version, 2);
    const bad = await call('PATCH', `/api/people/${id}`, { timezone: 'Mars/Olympus' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'timezone');
    assert.equal((await call('GET', `/api/people/${id}`)).body.timezone, 'America/New_York');
  });
});

describe('measurements', () => {
  test('blood pressure is stored and listed newest first', async () => {
    const r = await call('POST', '/api/measurements', {
      type: 'blood_pressure',
      systolic: 128,
      diastolic: 82,
      pulse: 70,
    });
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.value, { systolic: 128, diastolic: 82, pulse: 70 });
    assert.equal(r.body.unit, 'mmHg');
    const list = await call('GET', '/api/measurements?type=blood_pressure');
    assert.equal(list.body.items[0].id, r.body.id);
  });

  test('out-of-range systolic is refused naming field, rule, value and unit, and nothing is stored', async () => {
    const before = (await call('GET', '/api/measurements')).body.items.length;
    const outboxBefore = dev.ctx.outbox.size();
    const r = await call('POST', '/api/measurements', {
      type: 'blood_pressure',
      systolic: 900,
      diastolic: 80,
    });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /systolic must be between 50 and 260 mmHg, got 900/);
    assert.deepEqual(
      r.body.error.details.map((d: { field: string; rule: string }) => [d.field, d.rule]),
      [['systolic', 'range']],
    );
    assert.equal((await call('GET', '/api/measurements')).body.items.length, before);
    assert.equal(dev.ctx.outbox.size(), outboxBefore);
  });

  test('weight given in kg is answered in the preferred lb, canonical kg kept', async () => {
    const r = await call('POST', '/api/measurements', { type: 'weight', value: 70, unit: 'kg' });
    assert.equal(r.status, 201);
    assert.equal(r.body.unit, 'lb');
    assert.equal(r.body.value, 154.3);
    assert.deepEqual(r.body.canonical, { value: 70, unit: 'kg' });
    assert.equal(r.body.inputUnit, 'kg');
  });

  test('wrong types and missing fields: 400 naming each problem', async () => {
    const r = await call('POST', '/api/measurements', { type: 'heart_rate', value: 'fast', extra: 1 });
    assert.equal(r.status, 400);
    assert.deepEqual(
      r.body.error.details.map((d: { field: string; rule: string }) => [d.field, d.rule]).sort(),
      [
        ['extra', 'unknown_field'],
        ['value', 'invalid_union'],
      ],
    );
    assert.match(r.body.error.message, /value: must be a number/);
    const missing = await call('POST', '/api/measurements', { value: 60 });
    assert.equal(missing.status, 400);
    assert.ok(missing.body.error.details.some((d: { field: string }) => d.field === 'type'));
  });

  test('oversize body: 413', async () => {
    const r = await call('POST', '/api/measurements', {
      type: 'heart_rate',
      value: 60,
      note: 'x'.repeat(1024 * 1024 + 10),
    });
    assert.equal(r.status, 413);
  });

  test('cursor pagination walks every reading once, newest first', async () => {
    for (let i = 0; i < 7; i++) {
      await call('POST', '/api/measurements', {
        type: 'steps',
        value: 1000 + i,
        takenAt: new Date(clock.now() - i * 3600_000).toISOString(),
      });
    }
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const r = await call('GET', `/api/measurements?type=steps&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...r.body.items.map((m: { value: number }) => m.value));
      cursor = r.body.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, [1000, 1001, 1002, 1003, 1004, 1005, 1006]);
  });

  test('pagination under concurrent inserts: no reading twice, none of the earlier ones skipped', async () => {
    const base = clock.now() - 30 * 86_400_000;
    const existing: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await call('POST', '/api/measurements', {
        type: 'oxygen_saturation',
        value: 95,
        takenAt: new Date(base + i * 60_000).toISOString(),
      });
      existing.push(r.body.id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let round = 0;
    do {
      const r = await call(
        'GET',
        `/api/measurements?type=oxygen_saturation&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...r.body.items.map((m: { id: string }) => m.id));
      cursor = r.body.nextCursor;
      // Meanwhile: readings newer than everything, older than everything, and at the same instant as the cursor.
      await Promise.all([
        call('POST', '/api/measurements', {
          type: 'oxygen_saturation',
          value: 96,
          takenAt: new Date(base + 50 * 60_000 + round).toISOString(),
        }),
        call('POST', '/api/measurements', {
          type: 'oxygen_saturation',
          value: 97,
          takenAt: new Date(base - 60_000 - round).toISOString(),
        }),
      ]);
      round++;
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length, 'no reading appears twice');
    for (const id of existing)
      assert.ok(seen.includes(id), 'every reading present before paging started is seen');
  });

  test('each type in a non-canonical unit is stored canonically and answered in the preferred unit', async () => {
    const me = (await call('GET', '/api/people')).body.items[0].id;
    await call('PATCH', `/api/people/${me}`, { units: { glucose: 'mmol/L', temperature: '°F' } });
    const g = await call('POST', '/api/measurements', { type: 'blood_glucose', value: 108, unit: 'mg/dL' });
    assert.deepEqual([g.body.value, g.body.unit, g.body.canonical.value], [5.99, 'mmol/L', 108]);
    const g2 = await call('POST', '/api/measurements', { type: 'blood_glucose', value: 6 });
    assert.deepEqual(
      [g2.body.inputUnit, g2.body.value, Math.round(g2.body.canonical.value * 10) / 10],
      ['mmol/L', 6, 108.1],
    );
    const t = await call('POST', '/api/measurements', { type: 'temperature', value: 37, unit: '°C' });
    assert.deepEqual([t.body.value, t.body.unit], [98.6, '°F']);
    const t2 = await call('POST', '/api/measurements', { type: 'temperature', value: 101.3 });
    assert.equal(t2.body.canonical.value.toFixed(1), '38.5');
    const s = await call('POST', '/api/measurements', { type: 'sleep', value: 450, unit: 'min' });
    assert.deepEqual([s.body.value, s.body.unit, s.body.inputUnit], [7.5, 'h', 'min']);
    const bad = await call('POST', '/api/measurements', { type: 'temperature', value: 120 });
    assert.match(bad.body.error.message, /temperature must be between 86 and 113 °F, got 120/);
    await call('PATCH', `/api/people/${me}`, { units: { glucose: 'mg/dL', temperature: '°C' } });
  });

  test('DELETE removes a reading from lists and queues a deletion for the cloud', async () => {
    const m = (await call('POST', '/api/measurements', { type: 'heart_rate', value: 61 })).body;
    const del = await call('DELETE', `/api/measurements/${m.id}`);
    assert.equal(del.status, 200);
    assert.equal((await call('GET', `/api/measurements/${m.id}`)).status, 404);
    const msgs = dev.ctx.outbox
      .peek(10_000)
      .filter((x) => x.kind === 'measurement' && (x.payload as { id: string }).id === m.id);
    assert.equal(msgs.length, 2);
    assert.equal((msgs[1].payload as { deleted?: boolean }).deleted, true);
    assert.equal((msgs[1].payload as { version: number }).version, 2);
  });
});

describe('medications and doses', () => {
  test('a daily 08:00 medicine has planned doses at 08:00 local, across the spring-forward change', async () => {
    const med = await call('POST', '/api/medications', {
      name: 'Metformin',
      dose: '500 mg',
      times: ['08:00'],
      startDate: '2026-03-01',
    });
    assert.equal(med.status, 201);
    const r = await call('GET', '/api/doses?from=2026-03-07T00:00:00Z&to=2026-03-10T00:00:00Z');
    assert.equal(r.status, 200);
    const mine = r.body.items.filter((d: { medicationId: string }) => d.medicationId === med.body.id);
    // 08:00 EST is 13:00Z, 08:00 EDT (from Mar 8) is 12:00Z; nothing before the medicine was entered (07:00 local).
    assert.deepEqual(
      mine.map((d: { dueAt: string }) => d.dueAt),
      ['2026-03-07T13:00:00.000Z', '2026-03-08T12:00:00.000Z', '2026-03-09T12:00:00.000Z'],
    );
    assert.equal(mine[0].medicationName, 'Metformin');
    assert.equal(mine[0].status, 'due');
  });

  test('"taken" marks the nearest dose, idempotently; adherence counts it', async () => {
    const med = (await call('GET', '/api/medications')).body.items.find(
      (m: { name: string }) => m.name === 'Metformin',
    );
    clock.set(Date.parse('2026-03-08T12:20:00Z'));
    const first = await call('POST', `/api/medications/${med.id}/taken`, {});
    assert.equal(first.status, 200);
    assert.equal(first.body.status, 'taken');
    assert.equal(first.body.dueAt, '2026-03-08T12:00:00.000Z');
    const outbox = dev.ctx.outbox.size();
    const again = await call('POST', `/api/doses/${first.body.id}/taken`, {});
    assert.equal(again.body.version, first.body.version);
    assert.equal(dev.ctx.outbox.size(), outbox);
    clock.set(Date.parse('2026-03-10T00:00:00Z'));
    const adh = await call('GET', '/api/adherence?from=2026-03-07T00:00:00Z&to=2026-03-10T00:00:00Z');
    const a = adh.body.items.find((x: { medicationId: string }) => x.medicationId === med.id);
    assert.deepEqual(
      { due: a.due, taken: a.taken, missed: a.missed, percent: a.percent },
      { due: 3, taken: 1, missed: 2, percent: 33 },
    );
  });

  test('changing the schedule re-plans future doses; the list read after the write is fresh', async () => {
    const med = (await call('GET', '/api/medications')).body.items.find(
      (m: { name: string }) => m.name === 'Metformin',
    );
    const patched = await call('PATCH', `/api/medications/${med.id}`, { times: ['09:30', '21:00'] });
    assert.equal(patched.status, 200);
    assert.deepEqual(
      (await call('GET', '/api/medications')).body.items.find((m: { id: string }) => m.id === med.id).times,
      ['09:30', '21:00'],
    );
    const r = await call('GET', '/api/doses?from=2026-03-10T00:00:00Z&to=2026-03-11T04:00:00Z');
    const due = r.body.items
      .filter((d: { medicationId: string }) => d.medicationId === med.id)
      .map((d: { dueAt: string }) => d.dueAt);
    // Now is Mar 9 20:00 local: 21:00 tonight, then 09:30 and 21:00 tomorrow.
    assert.deepEqual(due, [
      '2026-03-10T01:00:00.000Z',
      '2026-03-10T13:30:00.000Z',
      '2026-03-11T01:00:00.000Z',
    ]);
    // The old 08:00 dose of tomorrow is gone; past doses stay as recorded.
    const past = await call('GET', '/api/doses?from=2026-03-08T00:00:00Z&to=2026-03-09T00:00:00Z');
    assert.equal(
      past.body.items.filter((d: { medicationId: string }) => d.medicationId === med.id)[0].status,
      'taken',
    );
  });

  test('a bad time is refused naming the field', async () => {
    const r = await call('POST', '/api/medications', { name: 'X', times: ['25:00'] });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.details[0].field, 'times.0');
  });
});

describe('summary and FHIR', () => {
  test('summary gives count, min, max, mean, latest and out-of-range share', async () => {
    for (const [s, d] of [
      [120, 80],
      [150, 95],
      [130, 85],
    ]) {
      await call('POST', '/api/measurements', { type: 'blood_pressure', systolic: s, diastolic: d });
    }
    const r = await call(
      'GET',
      '/api/measurements/summary?type=blood_pressure&from=2026-03-01&to=2026-03-31',
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.count, 4);
    assert.deepEqual(r.body.max, { systolic: 150, diastolic: 95 });
    assert.equal(r.body.outOfRangeShare, 0.25);
    assert.ok(r.body.trend.length >= 1);
  });

  test('export is a FHIR Bundle with LOINC-coded observations; importing it into a fresh device restores them', async () => {
    const r = await fetch(`${dev.url}/api/export`);
    assert.equal(r.status, 200);
    const bundle = await r.json();
    assert.equal(bundle.resourceType, 'Bundle');
    const codes = new Set(
      bundle.entry.map(
        (e: { resource: { code?: { coding: { code: string }[] } } }) => e.resource.code?.coding[0].code,
      ),
    );
    assert.ok(codes.has('85354-9') && codes.has('29463-7') && codes.has('55423-8'));
    assert.ok(
      bundle.entry.some(
        (e: { resource: { resourceType: string } }) => e.resource.resourceType === 'MedicationStatement',
      ),
    );
    // A fresh device takes the Bundle: same readings and medicines, same ids.
    const dir2 = mkdtempSync(join(tmpdir(), 'aide-store-import-'));
    const fresh = await startDevice(
      loadDeviceConfig({ env: { AIDE_DATA_DIR: dir2, AIDE_PORT: '0', AIDE_LOG_LEVEL: 'silent' } }),
      { clock },
    );
    try {
      const res = await fetch(`${fresh.url}/api/import`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(bundle),
      });
      assert.equal(res.status, 200);
      const counts = (await res.json()) as { measurements: number; medications: number };
      const observations = bundle.entry.filter(
        (e: { resource: { resourceType: string } }) => e.resource.resourceType === 'Observation',
      );
      assert.equal(counts.measurements, observations.length);
      const mine = dev.ctx.store.measurements.list({ limit: 500 }).items;
      const theirs = fresh.ctx.store.measurements.list({ limit: 500 }).items;
      assert.deepEqual(
        theirs.map((m) => [m.id, m.type, JSON.stringify(m.canonical), m.takenAt, m.note ?? null]),
        mine.map((m) => [m.id, m.type, JSON.stringify(m.canonical), m.takenAt, m.note ?? null]),
      );
      assert.deepEqual(
        fresh.ctx.store.medications.listSync().map((m) => [m.name, m.times, m.active]),
        dev.ctx.store.medications.listSync().map((m) => [m.name, m.times, m.active]),
      );
    } finally {
      await fresh.close();
      rmSync(dir2, { recursive: true, force: true });
    }
    // Importing our own export again adds nothing (same ids).
    const again = await call('POST', '/api/import', JSON.stringify(bundle), {
      'content-type': 'application/fhir+json',
    });
    assert.equal(again.status, 200);
    assert.equal(again.body.measurements, 0);
    assert.ok(again.body.skipped > 0);
  });

  test('import of a bad observation is refused as a whole, naming the entry', async () => {
    const before = (await call('GET', '/api/measurements?limit=500')).body.items.length;
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        {
          resource: {
            resourceType: 'Observation',
            code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
            effectiveDateTime: '2026-03-01T10:00:00Z',
            valueQuantity: { value: 70, code: '/min' },
          },
        },
        {
          resource: {
            resourceType: 'Observation',
            code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
            effectiveDateTime: '2026-03-01T10:00:00Z',
            valueQuantity: { value: 9000, code: 'kg' },
          },
        },
      ],
    };
    const r = await call('POST', '/api/import', bundle);
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /weight must be between 2 and 400 kg, got 9000/);
    assert.equal((await call('GET', '/api/measurements?limit=500')).body.items.length, before);
  });
});

describe('time zone', () => {
  test('moving the person to another time zone re-plans future doses at the same local time', async () => {
    const { store } = dev.ctx;
    const me = store.people.primaryId();
    const med = store.medications.create({ name: 'Levothyroxine', times: ['07:00'] });
    const next = () =>
      store.doses
        .list({ from: clock.now(), to: clock.now() + 2 * 86_400_000 })
        .filter((d) => d.medicationId === med.id);
    assert.ok(next().every((d) => d.dueAt.endsWith('T11:00:00.000Z'))); // 07:00 EDT
    assert.equal((await call('PATCH', `/api/people/${me}`, { timezone: 'Europe/Berlin' })).status, 200);
    const after = next();
    assert.ok(after.length >= 1);
    assert.ok(
      after.every((d) => d.dueAt.endsWith('T06:00:00.000Z')),
      JSON.stringify(after.map((d) => d.dueAt)),
    ); // 07:00 CET
    await call('PATCH', `/api/people/${me}`, { timezone: 'America/New_York' });
    store.medications.remove(med.id);
  });
});

describe('dose status rules', () => {
  test('"missed" never overwrites a confirmed dose; skipped can be corrected to taken', async () => {
    const { store } = dev.ctx;
    const med = store.medications.create({ name: 'Atorvastatin', times: ['22:00'] });
    const [dose] = store.doses
      .list({ from: clock.now(), to: clock.now() + 2 * 86_400_000 })
      .filter((d) => d.medicationId === med.id);
    assert.equal((await call('POST', `/api/doses/${dose.id}/skipped`, {})).body.status, 'skipped');
    assert.equal(store.doses.mark(dose.id, 'missed').changed, false);
    const taken = await call('POST', `/api/doses/${dose.id}/taken`, { via: 'console' });
    assert.equal(taken.body.status, 'taken');
    assert.equal(taken.body.confirmedVia, 'console');
    assert.equal(store.doses.get(dose.id).status, 'taken');
    assert.equal((await call('POST', '/api/doses/nope/taken', {})).status, 404);
  });
});

describe('ids chosen by the caller (sync, import)', () => {
  test('a duplicate id is a conflict naming the id, and nothing changes', () => {
    const { store, outbox } = dev.ctx;
    const m = store.measurements.add({ type: 'heart_rate', value: 70 });
    const med = store.medications.create({ name: 'Ramipril', times: ['09:00'] });
    const before = outbox.size();
    assert.throws(
      () => store.measurements.add({ type: 'heart_rate', value: 99 }, { id: m.id }),
      (e: Error & { code: string }) => e.code === 'conflict' && e.message.includes(m.id),
    );
    assert.throws(
      () => store.medications.create({ name: 'Other', times: ['10:00'] }, { id: med.id }),
      (e: Error & { code: string }) => e.code === 'conflict',
    );
    assert.equal(store.measurements.get(m.id).canonical.value, 70);
    assert.equal(store.medications.get(med.id).name, 'Ramipril');
    assert.equal(outbox.size(), before);
    store.medications.remove(med.id);
  });
});

describe('export range', () => {
  test('from/to limit the exported observations', async () => {
    const all = (await (await fetch(`${dev.url}/api/export`)).json()) as {
      entry: { resource: { resourceType: string; effectiveDateTime?: string } }[];
    };
    const from = '2026-03-08T00:00:00Z';
    const part = (await (await fetch(`${dev.url}/api/export?from=${from}`)).json()) as typeof all;
    const obs = (b: typeof all) => b.entry.filter((e) => e.resource.resourceType === 'Observation');
    assert.ok(obs(part).length > 0 && obs(part).length < obs(all).length);
    assert.ok(obs(part).every((e) => (e.resource.effectiveDateTime as string) >= from.replace('Z', '.000Z')));
  });
});

describe('planned-dose horizon', () => {
  test('dose rows exist through the end of tomorrow without anyone asking, and roll forward with time', () => {
    const { store, db } = dev.ctx;
    const med = store.medications.create({ name: 'Amlodipine', times: ['12:00'] });
    const rows = (from: number, to: number) =>
      (
        db
          .prepare('SELECT count(*) AS n FROM doses WHERE medication_id = ? AND due_at >= ? AND due_at < ?')
          .get(med.id, from, to) as { n: number }
      ).n;
    const day = 86_400_000;
    const t0 = clock.now();
    // 20:00 local now: today's noon has passed, tomorrow's is planned, nothing further yet.
    assert.equal(rows(t0, t0 + 3 * day), 1, 'tomorrow planned at creation');
    clock.advance(3 * day); // the hourly horizon timer runs
    const t1 = clock.now();
    assert.equal(rows(t1, t1 + 3 * day), 1, 'tomorrow planned again three days later');
    assert.equal(rows(t0, t1), 3, 'the days in between were planned as they came');
    store.medications.remove(med.id);
  });
});

describe('query validation', () => {
  test('bad dates and reversed ranges are 400 naming the parameter', async () => {
    const bad = await call('GET', '/api/doses?from=2026-13-45');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'query.from');
    const reversed = await call('GET', '/api/measurements/summary?type=weight&from=2026-03-10&to=2026-03-01');
    assert.equal(reversed.status, 400);
    assert.equal(reversed.body.error.details[0].field, 'to');
    const tooLong = await call('GET', '/api/doses?from=2026-01-01&to=2028-01-01');
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.body.error.message, /range must be at most 400 days/);
    const badType = await call('GET', '/api/measurements?type=mood');
    assert.equal(badType.status, 400);
    assert.equal(badType.body.error.details[0].field, 'query.type');
  });
});

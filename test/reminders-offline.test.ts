import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { recordEnvelope } from '../cloud-sync/device/batch.js';
import { ALERT_MESSAGE_MAX_CHARS, alertPayload, checkEnvelope } from '../cloud-sync/protocol/index.js';
import type { OutboxMessage } from '../device/store/outbox.js';
import { local, startTestDevice, type TestDevice } from './reminders-helpers.js';

/**
 * A device off for days comes back to every planned dose missed and raises ONE caregiver alert per person
 * about all of them. That alert must still be one the cloud accepts (the protocol's alert schema and
 * record size, checked with the cloud's own checkEnvelope): a rejected alert is dropped from the outbox
 * and a too-large one never leaves it, and either way the caregiver hears nothing.
 */

const zone = 'Europe/London';
const deviceId = 'aide-offline-test';

function alertsInOutbox(t: TestDevice): OutboxMessage[] {
  return t.dev.ctx.outbox.peek(100_000).filter((m) => m.kind === 'alert');
}

/** What ingest answers for this outbox row. */
const ingestVerdict = (m: OutboxMessage) => checkEnvelope(recordEnvelope(deviceId, m), deviceId);

async function addMedicines(t: TestDevice, names: string[], times: string[]) {
  for (const name of names) {
    const r = await t.call('POST', '/api/medications', { name, dose: '1 tablet', times });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
}

const ten = [
  'Metformin',
  'Lisinopril',
  'Atorvastatin',
  'Amlodipine',
  'Omeprazole',
  'Levothyroxine',
  'Furosemide',
  'Warfarin',
  'Bisoprolol',
  'Sertraline',
];

describe('back after a week off: one caregiver alert the cloud accepts', () => {
  let t: TestDevice | undefined;
  after(() => t?.close());

  test('ten medicines three times a day: a short count summary naming the medicines', async () => {
    t = await startTestDevice({ timezone: zone, start: local('2026-03-02T06:00', zone) });
    t.dev.ctx.store.people.update(t.dev.ctx.store.people.primaryId(), { name: 'Mum' });
    await addMedicines(t, ten, ['08:00', '14:00', '20:00']);
    // Off from 07:00 Monday to 07:00 the next Monday: every dose planned while it was on (through the end
    // of Tuesday) is older than the grace window, so it is recorded missed, never announced.
    await t.restart(local('2026-03-09T07:00', zone));
    assert.equal(t.announcements().length, 0);
    assert.equal(t.alerts().length, 1);
    const missed = t.dev.ctx.store.doses
      .list({ from: local('2026-03-02T00:00', zone), to: local('2026-03-09T00:00', zone) })
      .filter((d) => d.status === 'missed');
    assert.equal(missed.length, 60);

    const [row] = alertsInOutbox(t);
    assert.ok(row);
    const p = alertPayload.parse(row.payload);
    assert.equal(
      p.message,
      "Mum hasn't confirmed 60 doses over 2 days since Mon 8:00: Amlodipine (6), Atorvastatin (6), " +
        'Bisoprolol (6), Furosemide (6), Levothyroxine (6) and 5 more medicines.',
    );
    assert.equal(ingestVerdict(row).ok, true);
    const data = p.data as { doseCount: number; medicines: { doses: number }[]; truncated: boolean };
    assert.equal(data.doseCount, 60);
    assert.deepEqual(
      data.medicines.map((m) => m.doses),
      Array(10).fill(6),
    );
    // The console keeps every dose of the alert.
    const list = (await t.call('GET', '/api/alerts')).body.items;
    assert.equal(list[0].doseIds.length, 60);
  });

  test('24 medicines 24 times a day with long names: the alert still fits the schema and the record limit', async () => {
    await t?.close();
    t = await startTestDevice({ timezone: zone, start: local('2026-03-02T00:30', zone) });
    t.dev.ctx.store.people.update(t.dev.ctx.store.people.primaryId(), { name: 'Margaret' });
    const hours = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}:00`);
    const names = Array.from(
      { length: 24 },
      (_, i) => `Medicine ${String(i + 1).padStart(2, '0')} hydrochloride modified-release tablets`,
    );
    await addMedicines(t, names, hours);
    await t.restart(local('2026-03-08T23:00', zone));
    assert.equal(t.alerts().length, 1);
    const doses = t.alerts()[0]!.doseIds.length;
    assert.ok(doses >= 24 * 24, `a day or more of doses in one alert, got ${doses}`);

    const [row] = alertsInOutbox(t);
    assert.ok(row);
    const parsed = alertPayload.safeParse(row.payload);
    assert.ok(parsed.success, parsed.error?.message);
    const verdict = ingestVerdict(row);
    assert.ok(verdict.ok, JSON.stringify(verdict));
    const { message } = parsed.data;
    assert.ok(message.length <= ALERT_MESSAGE_MAX_CHARS);
    assert.match(message, new RegExp(`^Margaret hasn't confirmed ${doses} doses over \\d days since `));
    assert.match(
      message,
      /: Medicine 01 hydrochloride modified-release tablets \(\d+\), .* and \d+ more medicines\.$/,
    );
    const data = parsed.data.data as { doseCount: number; doseIds: string[]; truncated: boolean };
    assert.equal(data.doseCount, doses);
    assert.ok(data.doseIds.length < doses && data.truncated);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { local, settle, startTestDevice, type TestDevice } from './reminders-helpers.js';

const zone = 'Europe/London';
const MIN = 60_000;

describe('a reminder nobody answers: re-asks, a last reminder, then one caregiver alert', () => {
  let t: TestDevice;
  let medId: string;
  before(async () => {
    t = await startTestDevice({ timezone: zone, start: local('2026-06-01T07:00', zone) });
    t.dev.ctx.store.people.update(t.dev.ctx.store.people.primaryId(), { name: 'Mum' });
    const med = await t.call('POST', '/api/medications', {
      name: 'Metformin',
      dose: '500 mg',
      instructions: 'with breakfast',
      times: ['08:00'],
    });
    assert.equal(med.status, 201);
    medId = med.body.id;
  });
  after(() => t.close());

  test('announced at 08:00 sharp, with the dose and instructions, and nothing before', async () => {
    t.clock.set(local('2026-06-01T07:59:59', zone));
    assert.equal(t.announcements().length, 0);
    t.clock.advance(1000);
    const [a] = t.announcements();
    assert.ok(a, 'announced at 08:00');
    assert.equal(a.at, new Date(local('2026-06-01T08:00', zone)).toISOString());
    assert.equal(
      a.text,
      "It's 8 o'clock. Time for your Metformin, 500 milligrams, with breakfast. Have you taken it?",
    );
    assert.deepEqual(
      a.items.map((i) => i.kind),
      ['first'],
    );
    const up = await t.call('GET', '/api/reminders/upcoming');
    assert.equal(up.status, 200);
    const item = up.body.items.find((i: { medicationId: string }) => i.medicationId === medId);
    assert.equal(item.stage, 'announced');
    assert.equal(item.nextReminderAt, new Date(local('2026-06-01T08:10', zone)).toISOString());
  });

  test('silence re-asks every 10 minutes; the last reminder comes 30 minutes after the first', () => {
    t.clock.set(local('2026-06-01T08:29:59', zone));
    assert.deepEqual(
      t.announcements().map((a) => a.items[0]!.kind),
      ['first', 'reask', 'reask'],
    );
    assert.equal(t.alerts().length, 0);
    t.clock.advance(1000);
    const last = t.announcements().at(-1)!;
    assert.equal(last.items[0]!.kind, 'final');
    assert.match(last.text, /^Last reminder for your Metformin\. .*let your family know\.$/);
  });

  test('then a caregiver alert, priority 1 in the outbox, with the name only in the payload', async () => {
    t.clock.set(local('2026-06-01T08:39:59', zone));
    assert.equal(t.alerts().length, 0);
    t.clock.advance(1000);
    assert.equal(t.alerts().length, 1);
    const alert = t.dev.ctx.outbox.peek(1000).find((m) => m.kind === 'alert');
    assert.ok(alert);
    assert.equal(alert.priority, 1);
    const p = alert.payload as {
      id: string;
      type: string;
      priority: number;
      message: string;
      personId: string;
    };
    assert.equal(p.type, 'missed_dose');
    assert.equal(p.priority, 1);
    assert.equal(p.message, "Mum hasn't confirmed the 8:00 Metformin.");
    assert.equal(alert.messageId, p.id);
    const list = await t.call('GET', '/api/alerts');
    assert.equal(list.body.items.length, 1);
    assert.equal(list.body.items[0].delivery, 'pending');
    assert.equal(list.body.items[0].acknowledged, false);
    assert.deepEqual(list.body.items[0].medicines, [{ id: medId, name: 'Metformin' }]);
    // The cloud acknowledges: the outbox row goes, the console shows it acknowledged.
    t.dev.ctx.outbox.ack([p.id]);
    assert.equal((await t.call('GET', '/api/alerts')).body.items[0].acknowledged, true);
  });

  test('at the end of the grace window the dose is recorded missed; nothing more is said', async () => {
    const before = t.announcements().length;
    t.clock.set(local('2026-06-01T09:00', zone));
    const doses = await t.call(
      'GET',
      `/api/doses?from=${encodeURIComponent(new Date(local('2026-06-01T00:00', zone)).toISOString())}&to=${encodeURIComponent(new Date(local('2026-06-02T00:00', zone)).toISOString())}`,
    );
    assert.equal(doses.body.items[0].status, 'missed');
    t.clock.set(local('2026-06-01T12:00', zone));
    assert.equal(t.announcements().length, before);
    assert.equal(t.alerts().length, 1);
  });

  test('a dose confirmed on the console after the first reminder stops the re-asks and the escalation', async () => {
    t.clock.set(local('2026-06-02T08:00', zone));
    const a = t.announcements().at(-1)!;
    assert.equal(a.items[0]!.kind, 'first');
    t.clock.advance(3 * MIN);
    const r = await t.call('POST', `/api/doses/${a.doseIds[0]}/taken`, {});
    assert.equal(r.status, 200);
    await settle();
    const count = t.announcements().length;
    t.clock.set(local('2026-06-02T10:00', zone));
    assert.equal(t.announcements().length, count, 'no re-ask after the confirmation');
    assert.equal(t.alerts().length, 1, 'no new alert');
  });

  test('repeated misses of one medicine raise one summary alert per window, not one each', async () => {
    // Three times a day, never answered, for two days.
    const med = await t.call('POST', '/api/medications', {
      name: 'Aspirin',
      times: ['11:00', '15:00', '19:00'],
    });
    assert.equal(med.status, 201);
    const alertsBefore = t.alerts().length;
    t.clock.set(local('2026-06-04T12:00', zone));
    const mine = t.alerts().slice(alertsBefore);
    // Day 1 11:40 alert (dose); 15:00 and 19:00 wait; day 2 11:40 one summary with those two and the new miss;
    // and so on: one alert per day for this medicine however often it is missed. (Metformin misses its own.)
    const asp = mine.filter((a) =>
      a.doseIds.every((id) => t.dev.ctx.store.doses.get(id).medicationId === med.body.id),
    );
    assert.deepEqual(
      asp.map((a) => a.kind),
      ['dose', 'summary', 'summary'],
    );
    assert.deepEqual(
      asp.map((a) => a.doseIds.length),
      [1, 3, 3],
    );
    const summary = t.dev.ctx.outbox
      .peek(1000)
      .find((m) => (m.payload as { id: string }).id === asp[1]!.alertId)!;
    assert.match(
      (summary.payload as { message: string }).message,
      /^Mum has missed 3 more doses since \w{3} 15:00: Aspirin \(3\)\.$/,
    );
  });
});

describe("GET /api/alerts also lists the agent's alerts", () => {
  test('an emergency said to the agent shows as priority 2, pending until the cloud acknowledges it', async () => {
    const t = await startTestDevice({ timezone: zone, start: local('2026-06-01T10:00', zone) });
    try {
      const r = await t.dev.ctx.agent!.runTurn({ text: "I've fallen and can't get up" });
      assert.equal(r.emergency, true);
      const list = (await t.call('GET', '/api/alerts')).body.items;
      assert.equal(list.length, 1);
      assert.deepEqual(
        { type: list[0].type, kind: list[0].kind, priority: list[0].priority, delivery: list[0].delivery },
        { type: 'emergency', kind: 'agent', priority: 2, delivery: 'pending' },
      );
      t.dev.ctx.outbox.ack([list[0].id]);
      assert.equal((await t.call('GET', '/api/alerts')).body.items[0].acknowledged, true);
    } finally {
      await t.close();
    }
  });
});

describe('a medicine stopped while its reminder is open', () => {
  test('is not asked about again, and the console event stream shows what was said', async () => {
    const t = await startTestDevice({ timezone: zone, start: local('2026-06-01T07:00', zone) });
    try {
      const med = await t.call('POST', '/api/medications', { name: 'Amoxicillin', times: ['08:00'] });
      t.clock.set(local('2026-06-01T08:00', zone));
      assert.equal(t.announcements().length, 1);
      // The console's live view (replaying what was said before it connected).
      const ac = new AbortController();
      const res = await fetch(`${t.dev.url}/api/reminders/events?replay=1`, { signal: ac.signal });
      assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('event: announce')) text += new TextDecoder().decode((await reader.read()).value);
      ac.abort();
      assert.match(text, /"text":"It's 8 o'clock\. Time for your Amoxicillin\. Have you taken it\?"/);
      t.clock.advance(2 * 60_000);
      // The course is stopped: no re-ask, no last reminder, no caregiver alert.
      assert.equal((await t.call('PATCH', `/api/medications/${med.body.id}`, { active: false })).status, 200);
      t.clock.set(local('2026-06-01T10:00', zone));
      assert.equal(t.announcements().length, 1);
      assert.equal(t.alerts().length, 0);
      assert.ok(t.events.some((e) => e.type === 'closed' && e.outcome === 'cancelled'));
    } finally {
      await t.close();
    }
  });
});

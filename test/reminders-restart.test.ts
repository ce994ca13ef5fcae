import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type Clock, createManualClock } from '../common/clock.js';
import { local, settle, startTestDevice, type TestDevice } from './reminders-helpers.js';

const zone = 'Europe/Berlin';
const MIN = 60_000;

describe('restart in the middle of a due window', () => {
  let t: TestDevice;
  after(() => t?.close());

  test('down across 08:00, back at 08:20: announced once, marked late; a second restart does not repeat it', async () => {
    t = await startTestDevice({ timezone: zone, start: local('2026-05-01T07:00', zone) });
    const med = await t.call('POST', '/api/medications', {
      name: 'Ramipril',
      dose: '5 mg',
      times: ['08:00', '20:00'],
    });
    assert.equal(med.status, 201);
    t.clock.set(local('2026-05-01T07:59', zone));
    assert.equal(t.announcements().length, 0);
    await t.restart(local('2026-05-01T08:20', zone));
    const [a] = t.announcements();
    assert.ok(a, 'announced right after the restart');
    assert.equal(a.late, true);
    assert.deepEqual(
      a.items.map((i) => i.kind),
      ['late'],
    );
    assert.match(
      a.text,
      /^Sorry, this reminder is late\. At 8 o'clock it was time for your Ramipril, 5 milligrams\./,
    );
    const up = (await t.call('GET', '/api/reminders/upcoming')).body.items[0];
    assert.equal(up.late, true);
    // Another restart five minutes later: no second first-announcement; the re-ask keeps its time.
    await t.restart(local('2026-05-01T08:25', zone));
    assert.equal(t.announcements().length, 1);
    t.clock.set(local('2026-05-01T08:30', zone));
    assert.deepEqual(
      t.announcements().map((x) => x.items[0]!.kind),
      ['late', 'reask'],
    );
    // "yes" through the agent confirms the late dose.
    const r = await t.dev.ctx.agent!.runTurn({ text: 'yes I took it' });
    assert.equal(r.actions[0]!.tool, 'confirm_dose');
    assert.equal(t.dev.ctx.store.doses.get(a.doseIds[0]!).status, 'taken');
  });

  test('down longer than the grace window: the dose is recorded missed, not announced, and the caregiver is told once', async () => {
    const before = t.announcements().length;
    t.clock.set(local('2026-05-01T19:59', zone));
    await t.restart(local('2026-05-01T21:30', zone));
    assert.equal(t.announcements().length, before, 'nothing announced for a dose 90 minutes old');
    const doses = t.dev.ctx.store.doses.list({
      from: local('2026-05-01T19:00', zone),
      to: local('2026-05-01T21:00', zone),
    });
    assert.equal(doses[0]!.status, 'missed');
    const alerts = (await t.call('GET', '/api/alerts')).body.items;
    assert.equal(alerts.length, 1);
    assert.deepEqual(alerts[0].doseIds, [doses[0]!.id]);
    assert.equal(t.alerts().length, 1);
  });
});

describe('clock jumps', () => {
  let t: TestDevice;
  after(() => t?.close());

  test('a wall clock stepped forward past a due time announces it once (late), stepped back never repeats it', async () => {
    // The device's timers are monotonic (like Node's); only the wall clock steps. The scheduler notices a
    // step at its next wake, at most AIDE_REMINDER_MAX_SLEEP_SECONDS (300) later.
    const base = createManualClock(local('2026-07-01T06:00', zone));
    let offset = 0;
    const wall: Clock = {
      now: () => base.now() + offset,
      setTimeout: (fn, ms) => base.setTimeout(fn, ms),
      clearTimeout: (h) => base.clearTimeout(h),
    };
    t = await startTestDevice({ timezone: zone, start: base.now(), clock: wall });
    await t.call('POST', '/api/medications', { name: 'Levothyroxine', times: ['07:30'] });
    await t.call('POST', '/api/medications', { name: 'Bisoprolol', times: ['08:00'] });
    await settle();
    // NTP steps the clock forward from 06:30 to 07:50 (the device had booted 80 minutes slow).
    base.advance(30 * MIN);
    offset += 80 * MIN;
    assert.equal(t.announcements().length, 0);
    base.advance(5 * MIN); // the next wake, at most 5 minutes on
    const first = t.announcements();
    assert.equal(first.length, 1);
    assert.deepEqual(
      first[0]!.items.map((i) => i.kind),
      ['late'],
    );
    assert.equal(
      new Date(wall.now()).toISOString() <= new Date(local('2026-07-01T07:55', zone)).toISOString(),
      true,
    );
    // 08:00 comes normally.
    base.advance(10 * MIN);
    const bis = t.announcements().find((a) => a.text.includes('Bisoprolol'))!;
    assert.equal(bis.at, new Date(local('2026-07-01T08:00', zone)).toISOString());
    // Now the clock is stepped back an hour (07:05). Neither dose is announced a second time as 07:30 and 08:00 come round.
    offset -= 60 * MIN;
    for (let i = 0; i < 30; i++) base.advance(5 * MIN);
    const firsts = t
      .announcements()
      .flatMap((a) => a.items.filter((i) => i.kind === 'first' || i.kind === 'late').map((i) => i.doseId));
    assert.equal(firsts.length, 2);
    assert.equal(new Set(firsts).size, 2);
  });
});

describe('a device that booted with a stale clock (no RTC: the time of its last shutdown)', () => {
  let t: TestDevice;
  after(() => t?.close());

  test("NTP steps it three days forward: that morning's dose is planned at once and announced on time; the days it was off are missed", async () => {
    const base = createManualClock(local('2026-06-28T07:00', zone));
    let offset = 0;
    const wall: Clock = {
      now: () => base.now() + offset,
      setTimeout: (fn, ms) => base.setTimeout(fn, ms),
      clearTimeout: (h) => base.clearTimeout(h),
    };
    t = await startTestDevice({ timezone: zone, start: base.now(), clock: wall });
    await t.call('POST', '/api/medications', { name: 'Warfarin', times: ['08:00'], startDate: '2026-06-01' });
    await settle();
    base.advance(10 * MIN);
    offset = local('2026-07-01T07:50', zone) - base.now(); // the step
    base.advance(5 * MIN); // the next wake notices it
    base.advance(5 * MIN);
    const said = t.announcements();
    assert.equal(said.length, 1);
    assert.deepEqual(
      said[0]!.items.map((i) => i.kind),
      ['first'],
    );
    assert.equal(said[0]!.at, new Date(local('2026-07-01T08:00', zone)).toISOString());
    const before = t.dev.ctx.store.doses.list({
      from: local('2026-06-28T00:00', zone),
      to: local('2026-06-30T00:00', zone),
    });
    assert.deepEqual(
      before.map((d) => d.status),
      ['missed', 'missed'],
    );
    assert.equal(t.alerts().length, 1, 'one alert for the doses not confirmed while it was off');
  });
});

describe('fifty medicines with overlapping times', () => {
  let t: TestDevice;
  after(() => t?.close());

  test('each dose is announced once, those due together in one reminder; one "yes" confirms all of them', async () => {
    t = await startTestDevice({
      timezone: 'America/New_York',
      start: local('2026-02-10T06:00', 'America/New_York'),
    });
    const slots = [['08:00'], ['08:00', '20:00'], ['08:00', '12:00', '20:00'], ['12:00'], ['08:30']];
    for (let i = 0; i < 50; i++) {
      const r = await t.call('POST', '/api/medications', {
        name: `Medicine ${i}`,
        dose: `${i + 1} mg`,
        times: slots[i % slots.length],
      });
      assert.equal(r.status, 201);
    }
    t.clock.set(local('2026-02-10T08:00', 'America/New_York'));
    const at8 = t.announcements();
    assert.equal(at8.length, 1, 'one reminder for everything due at 08:00');
    assert.equal(at8[0]!.doseIds.length, 30);
    t.clock.advance(2 * MIN);
    const r = await t.dev.ctx.agent!.runTurn({ text: 'yes' });
    assert.equal(r.actions[0]!.result.ok, true);
    assert.equal((r.actions[0]!.result.doses as unknown[]).length, 30);
    for (const id of at8[0]!.doseIds) assert.equal(t.dev.ctx.store.doses.get(id).status, 'taken');
    await settle();
    t.clock.set(local('2026-02-11T00:00', 'America/New_York'));
    const firsts = t.announcements().flatMap((a) => a.items.filter((i) => i.kind === 'first'));
    const expected = Array.from({ length: 50 }, (_, i) => slots[i % slots.length]!.length).reduce(
      (a, b) => a + b,
      0,
    );
    assert.equal(firsts.length, expected);
    assert.equal(new Set(firsts.map((f) => f.doseId)).size, expected);
    // 08:00, 08:30, 12:00, 20:00: four first reminders, plus re-asks for the ones nobody answered.
    assert.equal(
      new Set(
        t
          .announcements()
          .filter((a) => a.items.some((i) => i.kind === 'first'))
          .map((a) => a.at),
      ).size,
      4,
    );
  });
});

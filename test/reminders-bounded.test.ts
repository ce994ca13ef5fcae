// A reminder is bounded however much is due, and one person's reminders failing never stops another's.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { TURN_TEXT_MAX_CHARS } from '../cloud-sync/protocol/payloads.js';
import { ANNOUNCEMENT_MAX_CHARS } from '../device/reminders/speech.js';
import { local, settle, startTestDevice, type TestDevice } from './reminders-helpers.js';

const zone = 'Europe/Paris';
const MIN = 60_000;

describe('bounded reminders', () => {
  let t: TestDevice | undefined;
  after(() => t?.close());

  test('twelve medicines with 2,000-character instructions due at once: one short reminder, every dose tracked', async () => {
    t = await startTestDevice({ timezone: zone, start: local('2026-09-01T07:00', zone) });
    const names = [...Array(12)].map((_, i) => `Medicine ${String.fromCharCode(65 + i)}`);
    for (const name of names) {
      const r = await t.call('POST', '/api/medications', {
        name,
        dose: '1 tablet',
        instructions: `Leaflet of ${name}: ${'take care '.repeat(200)}`.slice(0, 2000),
        times: ['08:00'],
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    t.clock.set(local('2026-09-01T08:00', zone));

    const [a] = t.announcements();
    assert.ok(a, 'the reminder went out');
    assert.equal(a.doseIds.length, 12);
    assert.ok(a.text.length <= ANNOUNCEMENT_MAX_CHARS, `${a.text.length} characters`);
    assert.ok(ANNOUNCEMENT_MAX_CHARS < TURN_TEXT_MAX_CHARS);
    assert.equal(
      a.text,
      "It's 8 o'clock. Time for your Medicine A, your Medicine B, your Medicine C, your Medicine D and 8 more " +
        'medicines. To hear your whole list, say "list my medicines". Have you taken them?',
    );
    const { body } = await t.call('GET', '/api/conversations/recent');
    assert.equal(body.items.at(-1).text, a.text, 'the reminder is the last conversation turn');
    for (const id of a.doseIds)
      assert.equal(t.dev.ctx.reminders!.scheduler.state(id)?.stage, 'announced', `dose ${id}`);

    // "Yes" answers the reminder for all twelve, the ones counted as well as the ones named.
    await t.dev.ctx.agent!.runTurn({ text: 'yes' });
    await settle();
    for (const id of a.doseIds)
      assert.equal(t.dev.ctx.store.doses.get(id).status, 'taken', `dose ${id} confirmed by "yes"`);
  });
});

describe("one person's failure", () => {
  test('a person whose reminder cannot be stored is retried a minute later; the others are reminded', async () => {
    const t = await startTestDevice({ timezone: zone, start: local('2026-09-01T07:00', zone) });
    try {
      const people = [];
      for (const name of ['Ann', 'Bob', 'Cy']) {
        const p = await t.call('POST', '/api/people', { name, timezone: zone });
        assert.equal(p.status, 201, JSON.stringify(p.body));
        people.push(p.body.id as string);
        const m = await t.call('POST', '/api/medications', {
          personId: p.body.id,
          name: `Tablet of ${name}`,
          times: ['08:00'],
        });
        assert.equal(m.status, 201, JSON.stringify(m.body));
      }
      const [ann, bob, cy] = people as [string, string, string];
      // A real store fault for Bob only: SQLite refuses his conversation turns.
      t.dev.ctx.db.exec(
        `CREATE TEMP TRIGGER refuse_bob BEFORE INSERT ON main.conversation_turns WHEN NEW.person_id = '${bob}'
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
      );
      const due = local('2026-09-01T08:00', zone);
      t.clock.set(due);
      assert.deepEqual(
        t
          .announcements()
          .map((a) => a.personId)
          .sort(),
        [ann, cy].sort(),
      );
      const scheduler = t.dev.ctx.reminders!.scheduler;
      assert.equal(scheduler.openDoses(bob).length, 0, "Bob's pass was rolled back, nothing half-done");
      assert.equal(scheduler.stats().nextWakeAt, due + MIN, 'Bob is retried in a minute, not in a loop');

      t.dev.ctx.db.exec('DROP TRIGGER refuse_bob');
      t.clock.set(due + MIN);
      const bobs = t.announcements().filter((a) => a.personId === bob);
      assert.equal(bobs.length, 1, 'Bob is reminded once the store takes his turn');
      assert.match(bobs[0]!.text, /Tablet of Bob/);
      assert.equal(t.announcements().length, 3, 'Ann and Cy are not reminded twice');
    } finally {
      await t.close();
    }
  });
});

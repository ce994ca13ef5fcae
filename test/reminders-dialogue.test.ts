import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseAnswer } from '../device/reminders/dialogue.js';
import { local, settle, startTestDevice, type TestDevice } from './reminders-helpers.js';

const zone = 'Europe/Berlin';
const MIN = 60_000;

describe('reading answers to a reminder', () => {
  const c = [
    { doseId: 'm', name: 'Metformin' },
    { doseId: 'a', name: 'Aspirin' },
  ];
  const asked = ['m', 'a'];
  const cases: [string, unknown][] = [
    ['yes', [{ kind: 'taken', doseIds: ['m', 'a'] }]],
    ['Yes, I took them', [{ kind: 'taken', doseIds: ['m', 'a'] }]],
    ['done', [{ kind: 'taken', doseIds: ['m', 'a'] }]],
    ['I already took it', [{ kind: 'taken', doseIds: ['m', 'a'] }]],
    ['later', [{ kind: 'snooze', doseIds: ['m', 'a'], minutes: undefined }]],
    ['in ten minutes', [{ kind: 'snooze', doseIds: ['m', 'a'], minutes: 10 }]],
    ['remind me in half an hour', [{ kind: 'snooze', doseIds: ['m', 'a'], minutes: 30 }]],
    ['not yet', [{ kind: 'snooze', doseIds: ['m', 'a'], minutes: undefined }]],
    ['skip it', [{ kind: 'skipped', doseIds: ['m', 'a'] }]],
    ['no', [{ kind: 'clarify', doseIds: ['m', 'a'] }]],
    ['I took the metformin', [{ kind: 'taken', doseIds: ['m'] }]],
    [
      'I took the metformin, skip the aspirin',
      [
        { kind: 'taken', doseIds: ['m'] },
        { kind: 'skipped', doseIds: ['a'] },
      ],
    ],
    ['I took the metformin but not the aspirin', [{ kind: 'taken', doseIds: ['m'] }]],
    ['I took my aspirin and metformin', [{ kind: 'taken', doseIds: ['m', 'a'] }]],
    // Not answers: readings, questions, other requests.
    ['my blood pressure is 140 over 90', undefined],
    ['what is the weather like', undefined],
    ['should I take it with food?', undefined],
    ['tell me a joke', undefined],
  ];
  for (const [text, want] of cases) {
    test(`"${text}"`, () => assert.deepEqual(parseAnswer(text, c, asked), want));
  }
  test('a bare "yes" after the agent has spoken since is not taken as an answer', () => {
    assert.equal(parseAnswer('yes', c, asked, { bareAllowed: false }), undefined);
    assert.deepEqual(parseAnswer('I took it', c, asked, { bareAllowed: false }), [
      { kind: 'taken', doseIds: ['m', 'a'] },
    ]);
  });
  test('after "no", a "yes" accepts the offer to remind again', () => {
    assert.deepEqual(parseAnswer('yes please', c, asked, { mode: 'offer_snooze' }), [
      { kind: 'snooze', doseIds: ['m', 'a'], minutes: undefined },
    ]);
  });
});

describe('the reminder dialogue through the agent turn function', () => {
  let t: TestDevice;
  const turn = (text: string) => t.dev.ctx.agent!.runTurn({ text, source: 'voice' });
  const status = (id: string) => t.dev.ctx.store.doses.get(id).status;
  before(async () => {
    t = await startTestDevice({
      timezone: zone,
      start: local('2026-04-01T07:00', zone),
      env: { AIDE_REMINDER_MAX_SNOOZES: '2' },
    });
    for (const m of [
      { name: 'Metformin', dose: '500 mg', times: ['08:00'] },
      { name: 'Aspirin', dose: '75 mg', times: ['08:00'] },
    ])
      assert.equal((await t.call('POST', '/api/medications', m)).status, 201);
  });
  after(() => t.close());

  test('two medicines due together are announced together; "yes" confirms both', async () => {
    t.clock.set(local('2026-04-01T08:00', zone));
    const a = t.announcements();
    assert.equal(a.length, 1);
    assert.equal(a[0]!.doseIds.length, 2);
    assert.equal(
      a[0]!.text,
      "It's 8 o'clock. Time for your Aspirin, 75 milligrams and your Metformin, 500 milligrams. Have you taken them?",
    );
    t.clock.advance(MIN);
    const r = await turn('yes');
    assert.equal(r.reply.text, "Thank you, I've noted that you took your Aspirin and Metformin.");
    assert.deepEqual(a[0]!.doseIds.map(status), ['taken', 'taken']);
    assert.equal(r.actions[0]!.tool, 'confirm_dose');
    // The exchange is in the conversation record (reminder, answer, reply).
    const conv = t.dev.ctx.store.conversations.conversation(r.conversationId).map((x) => x.role);
    assert.deepEqual(conv, ['assistant', 'user', 'assistant']);
    await settle();
    t.clock.set(local('2026-04-01T09:30', zone));
    assert.equal(t.announcements().length, 1, 'nothing re-asked after the confirmation');
  });

  test('one by one: took one, "not the other" → asked about it → "later" snoozes → "skip it"', async () => {
    t.clock.set(local('2026-04-02T08:00', zone));
    const ids = t.announcements().at(-1)!.doseIds;
    const [met, asp] = ids
      .map((id) => t.dev.ctx.store.doses.get(id))
      .sort((x, y) => x.medicationName.localeCompare(y.medicationName))
      .reverse();
    const r1 = await turn('I took the metformin but not the aspirin');
    assert.equal(
      r1.reply.text,
      "Thank you, I've noted that you took your Metformin. What about your Aspirin?",
    );
    assert.equal(status(met!.id), 'taken');
    assert.equal(status(asp!.id), 'due');
    const r2 = await turn('in five minutes');
    assert.equal(r2.reply.text, "All right, I'll remind you again in 5 minutes.");
    const before = t.announcements().length;
    t.clock.advance(5 * MIN);
    const again = t.announcements().at(-1)!;
    assert.equal(t.announcements().length, before + 1);
    assert.deepEqual(again.doseIds, [asp!.id]);
    assert.match(again.text, /^Here's your reminder again: time for your Aspirin, 75 milligrams\./);
    const r3 = await turn('skip it');
    assert.equal(r3.reply.text, "All right, I've noted that you're skipping your Aspirin this time.");
    assert.equal(status(asp!.id), 'skipped');
  });

  test('snoozes are limited; "no" offers a snooze; "I already took it" confirms', async () => {
    t.clock.set(local('2026-04-03T08:00', zone));
    const ids = t.announcements().at(-1)!.doseIds;
    assert.equal((await turn('later')).reply.text, "All right, I'll remind you again in 10 minutes.");
    t.clock.advance(10 * MIN);
    assert.equal((await turn('later')).reply.text, "All right, I'll remind you again in 10 minutes.");
    t.clock.advance(10 * MIN);
    const third = await turn('later please');
    assert.match(
      third.reply.text,
      /^I can't put off your Aspirin and Metformin again\. Please take them now, or tell me to skip them\.$/,
    );
    assert.equal(third.actions[0]!.result.ok, false);
    const no = await turn('no');
    assert.match(
      no.reply.text,
      /^Shall I remind you again about your Aspirin and Metformin in 10 minutes, or would you like to skip them\?$/,
    );
    const done = await turn('I already took it');
    assert.equal(done.reply.text, "Thank you, I've noted that you took your Aspirin and Metformin.");
    assert.deepEqual(ids.map(status), ['taken', 'taken']);
  });

  test('the console snooze route: limits, errors naming the field, 404 and 409', async () => {
    t.clock.set(local('2026-04-04T08:00', zone));
    const id = t.announcements().at(-1)!.doseIds[0]!;
    const ok = await t.call('POST', `/api/reminders/${id}/snooze`, { minutes: 15 });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.until, new Date(local('2026-04-04T08:15', zone)).toISOString());
    const up = (await t.call('GET', '/api/reminders/upcoming')).body.items.find(
      (i: { doseId: string }) => i.doseId === id,
    );
    assert.equal(up.stage, 'snoozed');
    assert.equal(up.nextReminderAt, ok.body.until);
    const bad = await t.call('POST', `/api/reminders/${id}/snooze`, { minutes: 0 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'minutes');
    assert.equal((await t.call('POST', '/api/reminders/nope/snooze', {})).status, 404);
    assert.equal((await t.call('POST', `/api/reminders/${id}/snooze`, {})).status, 200);
    const tooMany = await t.call('POST', `/api/reminders/${id}/snooze`, {});
    assert.equal(tooMany.status, 409);
    assert.equal(tooMany.body.error.details[0].rule, 'max_snoozes');
    await t.call('POST', `/api/doses/${id}/taken`, {});
    assert.equal((await t.call('POST', `/api/reminders/${id}/snooze`, {})).status, 409);
  });

  test('after the agent answers something else, a bare "yes" is the agent\'s again', async () => {
    t.clock.set(local('2026-04-05T08:00', zone));
    const ids = t.announcements().at(-1)!.doseIds;
    const hello = await turn('hello');
    assert.equal(hello.reply.text, 'Hello! How can I help?');
    await turn('yes');
    assert.deepEqual(ids.map(status), ['due', 'due']);
    // Explicit words still answer the reminder.
    const r = await turn('I took them');
    assert.equal(r.actions[0]!.tool, 'confirm_dose');
    assert.deepEqual(ids.map(status), ['taken', 'taken']);
  });

  test('an emergency during a reminder goes to the agent at once', async () => {
    t.clock.set(local('2026-04-06T08:00', zone));
    const r = await turn("I've fallen and can't get up");
    assert.equal(r.emergency, true);
  });

  test('"what time is it?" between the reminder and the answer: a bare "yes" still answers it', async () => {
    t.clock.set(local('2026-04-07T08:00', zone));
    const ids = t.announcements().at(-1)!.doseIds;
    t.clock.advance(5 * MIN);
    const time = await turn('what time is it?');
    assert.equal(time.reply.text, "It's five past eight in the morning.");
    const r = await turn('yes');
    assert.equal(r.actions[0]!.tool, 'confirm_dose');
    assert.deepEqual(ids.map(status), ['taken', 'taken']);
  });
});

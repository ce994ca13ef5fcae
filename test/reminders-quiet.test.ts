import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { local, startTestDevice, type TestDevice } from './reminders-helpers.js';

const zone = 'Europe/Paris';
const MIN = 60_000;

describe('quiet hours (22:00-07:00 by default)', () => {
  let t: TestDevice;
  after(() => t?.close());

  test("a dose's first reminder is still spoken; repeats stay silent, the escalation still reaches the caregiver", async () => {
    t = await startTestDevice({ timezone: zone, start: local('2026-09-01T20:00', zone) });
    assert.equal(
      (await t.call('POST', '/api/medications', { name: 'Zopiclone', times: ['22:30'] })).status,
      201,
    );
    t.clock.set(local('2026-09-01T22:30', zone));
    assert.deepEqual(
      t.announcements().map((a) => a.items[0]!.kind),
      ['first'],
    );
    t.clock.set(local('2026-09-01T23:10', zone));
    assert.equal(t.announcements().length, 1, 're-asks and the last reminder are held in quiet hours');
    assert.equal(t.alerts().length, 1, 'the caregiver alert is not held');
    // A snooze the person asked for is honoured even in quiet hours.
    assert.equal(
      (await t.call('POST', '/api/medications', { name: 'Melatonin', times: ['23:00'] })).status,
      201,
    );
    t.clock.set(local('2026-09-02T23:00', zone));
    const mel = t.announcements().at(-1)!;
    assert.match(mel.text, /Melatonin/);
    const r = await t.dev.ctx.agent!.runTurn({ text: 'in five minutes' });
    assert.match(r.reply.text, /5 minutes/);
    t.clock.advance(5 * MIN);
    const again = t.announcements().at(-1)!;
    assert.deepEqual(
      again.items.map((i) => i.kind),
      ['again'],
    );
  });

  test('with AIDE_REMINDER_QUIET_HOLDS_FIRST the first reminder waits for the end of quiet hours', async () => {
    const q = await startTestDevice({
      timezone: zone,
      start: local('2026-09-01T20:00', zone),
      env: {
        AIDE_REMINDER_QUIET_HOURS: '22:00-07:00',
        AIDE_REMINDER_QUIET_HOLDS_FIRST: 'true',
        AIDE_REMINDER_GRACE_MINUTES: '600',
      },
    });
    try {
      assert.equal(
        (await q.call('POST', '/api/medications', { name: 'Vitamin D', times: ['06:00'] })).status,
        201,
      );
      q.clock.set(local('2026-09-02T06:59', zone));
      assert.equal(q.announcements().length, 0);
      q.clock.set(local('2026-09-02T07:00', zone));
      const [a] = q.announcements();
      assert.ok(a);
      assert.deepEqual(
        a.items.map((i) => i.kind),
        ['late'],
      );
      assert.equal(a.at, new Date(local('2026-09-02T07:00', zone)).toISOString());
    } finally {
      await q.close();
    }
  });
});

const espeak = existsSync('/usr/bin/espeak-ng');
describe('spoken output', () => {
  test('the reminder is synthesized and played on the attached speaker', {
    skip: !espeak && 'espeak-ng not installed',
  }, async () => {
    const t = await startTestDevice({
      timezone: zone,
      start: local('2026-09-01T07:59', zone),
      env: { AIDE_TTS_ENGINES: 'espeak' },
    });
    try {
      const played: { text: string; samples: number }[] = [];
      t.dev.ctx.voice!.attachSink({
        id: 'test-speaker',
        play: async (speech, meta) => void played.push({ text: meta.text, samples: speech.pcm.length }),
      });
      await t.call('POST', '/api/medications', {
        name: 'Metformin',
        dose: '500 mg',
        instructions: 'with breakfast',
        times: ['08:00'],
      });
      t.clock.set(local('2026-09-01T08:00', zone));
      // Synthesis runs after the announcement; up to 60 s for espeak-ng on a loaded machine (was 10 s).
      for (let i = 0; i < 600 && played.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        played.map((p) => p.text),
        ["It's 8 o'clock.", 'Time for your Metformin, 500 milligrams, with breakfast.', 'Have you taken it?'],
      );
      assert.ok(
        played.every((p) => p.samples > 1000),
        'real audio',
      );
    } finally {
      await t.close();
    }
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCloudSettings } from '../cloud-sync/device/settings.js';
import { createManualClock } from '../common/clock.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';

// "What time is it?" on a real device with no internet and no language model: answered on the device,
// from its clock, in the time zone and language the cloud settings give the person.
const clock = createManualClock(Date.parse('2026-11-25T15:20:00Z'));
let dev: DeviceHandle;
let dir: string;

async function ask(text: string, at?: string) {
  if (at) clock.set(Date.parse(at));
  const res = await fetch(`${dev.url}/api/turn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as any;
}
/** The same path a settings command from the cloud takes (cloud-sync/device/settings.ts). */
const cloudSets = (values: { timezone?: string; locale?: string }) =>
  createCloudSettings(dev.ctx).applyToStore(values);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aide-agent-time-'));
  dev = await startDevice(
    loadDeviceConfig({
      env: { AIDE_DATA_DIR: dir, AIDE_PORT: '0', AIDE_TIMEZONE: 'Europe/London', AIDE_LOG_LEVEL: 'silent' },
    }),
    { clock },
  );
});
after(async () => {
  await dev.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('time and date, offline', () => {
  test('"what time is it" is answered on the device, not "without the internet"', async () => {
    const r = await ask('What time is it?', '2026-11-25T15:20:00Z');
    assert.equal(r.engine, 'local');
    assert.equal(r.degraded, false);
    assert.deepEqual(
      r.actions.map((a: any) => [a.tool, a.result.ok]),
      [['get_time', true]],
    );
    assert.equal(r.reply.text, "It's twenty past three in the afternoon.");
    assert.equal(
      (await ask("what's the date today")).reply.text,
      'Today is Wednesday, the 25th of November.',
    );
    assert.equal(
      (await ask('what day of the week is it')).reply.text,
      'Today is Wednesday, the 25th of November.',
    );
    assert.equal(
      (await ask('is it Monday today?')).reply.text,
      'No, today is Wednesday, the 25th of November.',
    );
  });

  test('the same instant in New York once the cloud sets the time zone, and the date can differ', async () => {
    cloudSets({ timezone: 'America/New_York' });
    assert.equal(
      (await ask('what time is it', '2026-11-25T15:20:00Z')).reply.text,
      "It's twenty past ten in the morning.",
    );
    // 02:00 on Thursday in London is still Wednesday evening in New York.
    assert.equal(
      (await ask('what time is it', '2026-11-26T02:00:00Z')).reply.text,
      "It's nine o'clock in the evening.",
    );
    assert.equal((await ask('what day is it')).reply.text, 'Today is Wednesday, the 25th of November.');
    cloudSets({ timezone: 'Europe/London' });
    assert.equal((await ask('what day is it')).reply.text, 'Today is Thursday, the 26th of November.');
    assert.equal((await ask('what time is it')).reply.text, "It's two o'clock in the morning.");
  });

  test('an American locale from the cloud says the month first', async () => {
    cloudSets({ timezone: 'America/New_York', locale: 'en-US' });
    const r = await ask("what's today's date", '2026-11-25T15:20:00Z');
    assert.equal(r.reply.text, 'Today is Wednesday, November 25th.');
    assert.equal((await ask('what time is it')).reply.text, "It's ten twenty in the morning.");
    cloudSets({ timezone: 'Europe/London', locale: 'en-GB' });
  });

  test('across the spring change of the clocks (London, then New York)', async () => {
    // Europe/London: 01:00 GMT on 29 March 2026 becomes 02:00 BST.
    assert.equal(
      (await ask('what time is it', '2026-03-29T00:30:00Z')).reply.text,
      "It's half past twelve at night.",
    );
    assert.equal(
      (await ask('what time is it', '2026-03-29T01:30:00Z')).reply.text,
      "It's half past two in the morning.",
    );
    // America/New_York: 02:00 EST on 8 March 2026 becomes 03:00 EDT.
    cloudSets({ timezone: 'America/New_York' });
    assert.equal(
      (await ask('what time is it', '2026-03-08T06:45:00Z')).reply.text,
      "It's quarter to two in the morning.",
    );
    assert.equal(
      (await ask('what time is it', '2026-03-08T07:15:00Z')).reply.text,
      "It's quarter past three in the morning.",
    );
    assert.equal((await ask('what day is tomorrow')).reply.text, 'Tomorrow is Monday, the 9th of March.');
    cloudSets({ timezone: 'Europe/London' });
  });

  test('"what time is my next medicine" still goes to the medicines', async () => {
    clock.set(Date.parse('2026-03-10T10:00:00Z'));
    await ask('remind me to take aspirin at 8 in the evening');
    const r = await ask('what time is my next medicine');
    assert.deepEqual(
      r.actions.map((a: any) => a.tool),
      ['next_dose'],
    );
    assert.match(r.reply.text, /Your next dose is Aspirin at 8 pm/);
  });

  test('"is it time for my tablets" says whether a dose is due now, not the list of medicines', async () => {
    await ask('remind me to take metformin at 8 in the morning', '2026-03-11T07:00:00Z');
    const early = await ask('is it time for my tablets', '2026-03-11T07:30:00Z');
    assert.deepEqual(
      early.actions.map((a: any) => a.tool),
      ['next_dose'],
    );
    assert.doesNotMatch(early.reply.text, /not marked as taken/);
    assert.match(early.reply.text, /Your next dose is Metformin at 8 am/);
    const due = await ask('is it time for my pills', '2026-03-11T08:05:00Z');
    assert.deepEqual(
      due.actions.map((a: any) => a.tool),
      ['next_dose'],
    );
    assert.match(due.reply.text, /Metformin at 8 am is due and not marked as taken yet\./);
    assert.match(due.reply.text, /Your next dose is Aspirin at 8 pm/);
  });
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { detectEmergency } from '../device/agent/safety.js';
import type { DeviceHandle } from '../device/main.js';
import { testVoices } from './voice/commands.js';
import { startVoiceDevice, synthWav } from './voice/device.js';

/**
 * Emergencies heard with low recognizer confidence ("help i have fallen" at 0.41, "i can't breathe" at
 * 0.44 in the accuracy runs) must get the emergency instructions, not "Sorry, I didn't catch that".
 * Confidence varies from run to run, so the device rejects every transcript here
 * (AIDE_ASR_REJECT_CONFIDENCE=1): each turn below takes the rejected path, checked per turn, with real
 * speech (espeak-ng and flite) through POST /api/voice/turn, PocketSphinx and the agent.
 */
let device: DeviceHandle;

before(async () => {
  device = await startVoiceDevice({ AIDE_ASR_REJECT_CONFIDENCE: '1' });
});
after(() => device?.close());

const voice = (engine: string, name: string) => {
  const v = testVoices.find((x) => x.engine === engine && x.voice === name);
  assert.ok(v, `test voice ${engine}/${name}`);
  return v;
};

type TurnBody = {
  transcript: string;
  rejected: boolean;
  reply: string;
  emergency: boolean;
  actions: { tool: string; ok: boolean }[];
};

async function turn(text: string, v: (typeof testVoices)[number]): Promise<TurnBody> {
  const res = await fetch(`${device.url}/api/voice/turn`, {
    method: 'POST',
    headers: { 'content-type': 'audio/wav' },
    body: new Uint8Array(await synthWav(text, v)),
  });
  assert.equal(res.status, 200, `turn for "${text}" (${v.engine}/${v.voice}) answered ${res.status}`);
  return (await res.json()) as TurnBody;
}

// Voices whose recognition of the phrase is right (the finding is about emergencies heard correctly
// but with low confidence; espeak-ng's "help i have fallen" is misheard, which is another matter).
const cases = [
  { text: 'help i have fallen', v: voice('flite', 'slt') },
  { text: 'help i have fallen', v: voice('flite', 'kal16') },
  { text: "i can't breathe", v: voice('espeak', 'en-us') },
  { text: "i can't breathe", v: voice('espeak', 'en-us+f3') },
];

for (const { text, v } of cases) {
  test(`rejected "${text}" (${v.engine}/${v.voice}) gets the emergency instructions`, async () => {
    const body = await turn(text, v);
    const label = `"${text}" heard as "${body.transcript}"`;
    assert.equal(body.rejected, true, `${label}: the transcript should take the rejected path`);
    assert.equal(body.emergency, true, `${label}: no emergency raised (reply: ${body.reply})`);
    const expected = detectEmergency(text);
    assert.ok(expected);
    assert.equal(body.reply, expected.reply, `${label}: reply is not the emergency instruction`);
    assert.doesNotMatch(body.reply, /didn't catch that/);
    assert.ok(
      body.actions.some((a) => a.tool === 'raise_emergency' && a.ok),
      `${label}: the family is not alerted (actions: ${JSON.stringify(body.actions)})`,
    );
  });
}

test('rejected speech without emergency language still gets "say again" and no action', async () => {
  // flite/kal16 hears this almost word for word, so the rejection rests on confidence alone.
  const body = await turn('the quick brown fox jumps over the lazy dog', voice('flite', 'kal16'));
  assert.equal(body.rejected, true);
  assert.equal(body.emergency, false, `"${body.transcript}" raised an emergency`);
  assert.match(body.reply, /didn't catch that/);
  assert.deepEqual(body.actions, []);
});

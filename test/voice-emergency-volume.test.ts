/**
 * A caregiver may turn the speaker right down (speech.volume / AIDE_TTS_VOLUME), but emergency
 * instructions are never played quieter than EMERGENCY_MIN_VOLUME: the spoken turn's reply to
 * "I have chest pain" comes back loud while ordinary speech stays at the chosen level.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { parseWav } from '../device/audio/wav.js';
import { EMERGENCY_MIN_VOLUME } from '../device/voice/service.js';
import { startVoiceDevice, synthWav } from './voice/device.js';

const peak = (wav: Buffer): number => {
  const parsed = parseWav(wav);
  assert.ok(parsed, 'reply is a WAV');
  let p = 0;
  for (const s of parsed.pcm) p = Math.max(p, Math.abs(s));
  return p;
};

test('emergency replies keep their volume when the speaker is turned down; other speech does not', async () => {
  const device = await startVoiceDevice({ AIDE_TTS_VOLUME: '10', AIDE_TTS_ENGINES: 'flite' });
  try {
    const said = await synthWav('i have chest pain', { engine: 'flite', voice: 'slt', rate: 150 });
    const res = await fetch(`${device.url}/api/voice/turn`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: new Uint8Array(said),
    });
    assert.equal(res.status, 200);
    const turn = (await res.json()) as { reply: string; emergency: boolean; audio: string };
    assert.equal(turn.emergency, true, `"i have chest pain" is an emergency (reply: ${turn.reply})`);
    const emergencyPeak = peak(Buffer.from(turn.audio, 'base64'));

    // The same words as ordinary speech, at the 10 % the speaker was set to.
    const quiet = await fetch(`${device.url}/api/voice/speak`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: turn.reply }),
    });
    assert.equal(quiet.status, 200);
    const quietPeak = peak(Buffer.from(await quiet.arrayBuffer()));
    assert.ok(quietPeak > 0, 'ordinary speech is still audible at 10 %');
    const ratio = emergencyPeak / quietPeak;
    // Same text, same engine: the ratio is EMERGENCY_MIN_VOLUME / 10 up to rounding.
    assert.ok(
      Math.abs(ratio - EMERGENCY_MIN_VOLUME / 10) < 0.5,
      `emergency peak ${emergencyPeak} vs ordinary ${quietPeak}: ratio ${ratio.toFixed(2)}, want ${EMERGENCY_MIN_VOLUME / 10}`,
    );
  } finally {
    await device.close();
  }
});

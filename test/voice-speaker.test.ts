import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSpeaker, probeSpeakerAddon } from '../device/audio/capture.js';

// ALSA reads ~/.asoundrc: a home whose default PCM is the `file` plugin (writing raw PCM to a file,
// through the `null` device) stands in for a sound card, so the bytes that reach "the speaker" can be
// checked. Set before anything in this process opens ALSA (child processes inherit it).
const home = mkdtempSync(join(tmpdir(), 'aide-alsa-home-'));
const out = join(home, 'played.raw');
writeFileSync(
  join(home, '.asoundrc'),
  `pcm.!default {\n  type file\n  slave.pcm "null"\n  file "${out}"\n  format "raw"\n}\n`,
);
const emptyHome = mkdtempSync(join(tmpdir(), 'aide-alsa-none-'));
const realHome = process.env.HOME;

const tone = (seconds: number, rate = 16000) => {
  const pcm = new Int16Array(Math.round(seconds * rate));
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate));
  return { pcm, sampleRate: rate };
};
const noSoundCard = !existsSync('/dev/snd') || !statSync('/dev/snd').isDirectory();

test('with an ALSA default device, speech plays through the speaker addon and its bytes reach the device', async () => {
  process.env.HOME = home;
  try {
    const speaker = await openSpeaker();
    assert.equal(speaker.kind, 'speaker');
    const s = tone(0.5);
    await speaker.play(s, new AbortController().signal);
    const bytes = readFileSync(out);
    // The probe's 10 ms of silence went to a child's file; this process wrote the sentence after it.
    assert.ok(bytes.length >= s.pcm.byteLength, `file holds ${bytes.length} bytes`);
    const played = new Int16Array(
      bytes.buffer,
      bytes.byteOffset + bytes.length - s.pcm.byteLength,
      s.pcm.length,
    );
    assert.deepEqual(played.subarray(0, 200), s.pcm.subarray(0, 200), 'the same samples, in order');
  } finally {
    process.env.HOME = realHome;
  }
});

test('aplay is the fallback player and also reaches the device', async () => {
  process.env.HOME = home;
  try {
    const speaker = await openSpeaker(undefined, { prefer: 'aplay' });
    assert.equal(speaker.kind, 'aplay');
    const before = existsSync(out) ? readFileSync(out).length : 0;
    const s = tone(0.25, 22050);
    await speaker.play(s, new AbortController().signal);
    // aplay truncates the file when it opens the device: this sentence is all it holds.
    assert.ok(readFileSync(out).length >= s.pcm.byteLength, `before ${before}`);
  } finally {
    process.env.HOME = realHome;
  }
});

test('without any ALSA device the probe names the problem and opening fails with a message, no crash', async (t) => {
  if (!noSoundCard) return t.skip('this machine has a sound card');
  process.env.HOME = emptyHome;
  mkdirSync(emptyHome, { recursive: true });
  try {
    const reason = await probeSpeakerAddon();
    assert.match(reason ?? '', /cannot open device|Unknown PCM|aborted/i);
    await assert.rejects(openSpeaker(), (err: Error) => {
      assert.match(err.message, /^speaker: .+; aplay: .+/);
      return true;
    });
  } finally {
    process.env.HOME = realHome;
  }
});

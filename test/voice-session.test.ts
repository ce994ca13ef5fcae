import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeAudio } from '../device/audio/decode.js';
import { concatPcm } from '../device/audio/wav.js';
import type { DeviceHandle } from '../device/main.js';
import { startVoiceDevice, synthWav } from './voice/device.js';
import { openSession } from './voice/ws-client.js';

let device: DeviceHandle;
before(async () => {
  device = await startVoiceDevice();
});
after(() => device?.close());

const say = async (text: string) =>
  decodeAudio(await synthWav(text, { engine: 'flite', voice: 'slt', rate: 150 }), 'audio/wav', {
    maxBytes: 5e6,
    maxSeconds: 60,
  });
const silence = (seconds: number) => new Int16Array(Math.round(16000 * seconds));
const join = (...parts: Int16Array[]) => concatPcm(parts);

test('one recording with three commands separated by pauses yields three turns over the WebSocket', async () => {
  const s = await openSession(device.url);
  try {
    s.send({ type: 'start' });
    const ready = await s.waitFor((m) => m.type === 'ready', 'ready');
    assert.deepEqual(ready.engines, { asr: 'pocketsphinx', tts: 'espeak' });
    // Sent in real time (100 ms frames every 100 ms), with pauses long enough for each reply (about 4 s) to finish
    // playing: barge-in compares wall-clock playback with the person's speech, so a recording sent
    // faster than real time would start the next command over the previous reply.
    const recording = join(
      await say('my blood pressure is one forty over ninety'),
      silence(8),
      await say('i took my metformin'),
      silence(8),
      await say('what medicines do i take'),
      silence(2),
    );
    await s.stream(recording, 100);
    await s.waitFor(
      (m) => m.type === 'audio_end' && s.messages.filter((x) => x.type === 'audio_end').length === 3,
      'three turns',
    );
    const transcripts = s.messages.filter((m) => m.type === 'transcript').map((m) => m.text);
    assert.deepEqual(transcripts, [
      'my blood pressure is one forty over ninety',
      'i took my metformin',
      'what medicines do i take',
    ]);
    const replies = s.messages.filter((m) => m.type === 'reply');
    assert.equal(replies.length, 3);
    assert.ok((replies[0]!.actions as { tool: string }[]).some((a) => a.tool === 'log_readings'));
    const audio = s.messages.filter((m) => m.type === 'audio');
    assert.ok(
      audio.length >= 3 && audio.every((a) => (a.bytes ?? 0) === (a.samples as number) * 2),
      'each audio header is followed by its PCM',
    );
    assert.equal(
      s.messages.filter((m) => m.type === 'playback_stop').length,
      0,
      'pauses between commands are not barge-in',
    );
  } finally {
    s.close();
  }
});

test('push-to-talk: partial transcripts while the person speaks (a pause inside the utterance), then the final one', async () => {
  // This person's end of speech is 2.5 s (a slow speaker), so a 1 s pause keeps one utterance; the
  // decoder closes a segment at the pause, which is sent as a partial transcript before the release.
  const personId = 'voice-test-slow-speaker';
  device.ctx.voice!.setPersonPrefs(personId, { silenceMs: 2500 });
  const s = await openSession(device.url, `?personId=${personId}`);
  try {
    s.send({ type: 'start' });
    await s.waitFor((m) => m.type === 'ready', 'ready');
    await s.stream(
      join(await say('my blood pressure is'), silence(1.0), await say('one forty over ninety')),
      20,
    );
    const partial = await s.waitFor((m) => m.type === 'partial', 'partial transcript');
    assert.equal(partial.text, 'my blood pressure is');
    s.send({ type: 'end' });
    const final = await s.waitFor((m) => m.type === 'transcript', 'final transcript');
    assert.equal(final.final, true);
    assert.equal(final.text, 'my blood pressure is one forty over ninety');
    assert.ok((partial.at as number) < (final.at as number), 'the partial came first');
    const ends = s.messages.filter((m) => m.type === 'vad' && m.speaking === false);
    assert.equal(ends.length, 1, 'one utterance, ended by the release');
  } finally {
    s.close();
  }
});

test('push-to-talk released while frames are still queued: they reach the recognizer without waiting for the VAD', async () => {
  const s = await openSession(device.url);
  try {
    s.send({ type: 'start' });
    await s.waitFor((m) => m.type === 'ready', 'ready');
    // All frames at once, then the release: most are still queued on the server when 'end' arrives.
    await s.stream(await say('what was my blood pressure yesterday'));
    s.send({ type: 'end' });
    const final = await s.waitFor((m) => m.type === 'transcript', 'final transcript');
    assert.equal(final.text, 'what was my blood pressure yesterday');
    assert.equal(s.messages.filter((m) => m.type === 'vad' && m.speaking === false).length, 1);
  } finally {
    s.close();
  }
});

test('speaking during playback stops it (barge-in) and starts a new turn', async () => {
  const s = await openSession(device.url);
  try {
    s.send({ type: 'start' });
    await s.waitFor((m) => m.type === 'ready', 'ready');
    await s.stream(join(await say('what medicines do i take'), silence(1.5)));
    await s.waitFor((m) => m.type === 'audio', 'first reply audio');
    await s.stream(join(await say('what time is it'), silence(1.5)));
    const stop = await s.waitFor((m) => m.type === 'playback_stop', 'playback_stop');
    assert.ok(s.messages.filter((m) => m.type === 'audio').every((a) => a.emergency === false));
    assert.equal(stop.reason, 'barge-in');
    await s.waitFor((m) => m.type === 'transcript' && m.text === 'what time is it', 'second transcript');
    await s.waitFor(
      (m) => m.type === 'audio_end' && s.messages.filter((x) => x.type === 'audio_end').length === 2,
      'second reply',
    );
  } finally {
    s.close();
  }
});

test('an emergency reply is never cut off by speech', async () => {
  const s = await openSession(device.url);
  try {
    s.send({ type: 'start' });
    await s.waitFor((m) => m.type === 'ready', 'ready');
    await s.stream(join(await say("help i've fallen and i can't get up"), silence(1.5)));
    const reply = await s.waitFor((m) => m.type === 'reply', 'reply');
    assert.equal(reply.emergency, true);
    await s.waitFor((m) => m.type === 'audio', 'first emergency audio');
    await s.stream(join(await say('what time is it'), silence(1.5)));
    await s.waitFor(
      (m) => m.type === 'transcript' && m.text === 'what time is it',
      'speech during the emergency reply is still heard',
    );
    const firstEnd = s.messages.find((m) => m.type === 'audio_end')!;
    assert.equal(firstEnd.interrupted, false);
    assert.equal(s.messages.filter((m) => m.type === 'playback_stop').length, 0);
    const emergencyAudio = s.messages.filter((m) => m.type === 'audio' && m.emergency === true);
    assert.ok(emergencyAudio.length >= 1);
    // The new speech began while the emergency reply was still playing (so not interrupting was a choice).
    const playMs = emergencyAudio.reduce(
      (n, a) => n + ((a.samples as number) / (a.sampleRate as number)) * 1000,
      0,
    );
    const speechStart = s.messages.find(
      (m) => m.type === 'vad' && m.speaking === true && m.at > emergencyAudio[0]!.at,
    )!;
    assert.ok(speechStart.at - emergencyAudio[0]!.at < playMs, 'speech started during playback');
  } finally {
    s.close();
  }
});

test('with a wake phrase model, only the command after "hey jarvis" becomes a turn', async () => {
  const woken = await startVoiceDevice({ AIDE_WAKE_MODEL: 'openwakeword-hey-jarvis' });
  const s = await openSession(woken.url);
  try {
    const ready = (await (await fetch(`${woken.url}/readyz`)).json()) as {
      subsystems: Record<string, { detail: string }>;
    };
    assert.match(ready.subsystems.wake!.detail, /openwakeword-hey-jarvis — NON-COMMERCIAL/);
    s.send({ type: 'start', wake: true });
    assert.equal((await s.waitFor((m) => m.type === 'ready', 'ready')).wake, true);
    await s.stream(join(await say('what time is it'), silence(1.5)));
    await s.waitFor(
      (m) => m.type === 'vad' && m.ignored === 'no wake phrase',
      'ignored without the wake phrase',
    );
    await s.stream(
      join(silence(0.5), await say('hey jarvis'), silence(1.5), await say('what time is it'), silence(1.5)),
    );
    const wake = await s.waitFor((m) => m.type === 'wake', 'wake');
    assert.ok((wake.score as number) >= 0.5);
    await s.waitFor((m) => m.type === 'audio_end', 'the command after the wake phrase is answered');
    const transcripts = s.messages.filter((m) => m.type === 'transcript').map((m) => m.text);
    assert.deepEqual(transcripts, ['what time is it']);
  } finally {
    s.close();
    await woken.close();
  }
});

test('endpointing adapts per person: starting again right after being cut off lengthens their pause, and it is remembered', async () => {
  const personId = 'voice-test-person';
  const s = await openSession(device.url, `?personId=${personId}`);
  try {
    s.send({ type: 'start' });
    await s.waitFor((m) => m.type === 'ready', 'ready');
    // A pause mid-sentence (1 s plus the synthesizer's own padding) longer than the 1.2 s default cuts it in two.
    await s.stream(
      join(await say('my blood pressure is'), silence(1.0), await say('one forty over ninety'), silence(2)),
    );
    const adapted = await s.waitFor((m) => m.type === 'endpointing', 'endpointing adapted');
    assert.equal(adapted.silenceMs, 1504); // 1.2 s + 300 ms, in 32 ms VAD windows
    assert.equal(device.ctx.voice?.personPrefs(personId).silenceMs, 1504);
  } finally {
    s.close();
  }
  const again = await openSession(device.url, `?personId=${personId}`);
  try {
    again.send({ type: 'start' });
    await again.waitFor((m) => m.type === 'ready', 'ready');
    // The same pause no longer splits this person's sentence.
    await again.stream(
      join(await say('my blood pressure is'), silence(1.0), await say('one forty over ninety'), silence(2)),
    );
    await again.waitFor((m) => m.type === 'transcript', 'one transcript');
    await new Promise((r) => setTimeout(r, 500));
    const ends = again.messages.filter((m) => m.type === 'vad' && m.speaking === false);
    assert.equal(ends.length, 1, 'one utterance');
    assert.equal(again.messages.filter((m) => m.type === 'endpointing').length, 0);
  } finally {
    again.close();
  }
});

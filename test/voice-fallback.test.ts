import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWav } from '../device/audio/wav.js';
import { startVoiceDevice, synthWav } from './voice/device.js';

test('configured sherpa-onnx models that do not exist: PocketSphinx and espeak-ng take over, and /readyz says why', async () => {
  const device = await startVoiceDevice({
    AIDE_ASR_MODEL: '/nonexistent/asr-model',
    AIDE_TTS_MODEL: '/nonexistent/tts-model',
  });
  try {
    const ready = await fetch(`${device.url}/readyz`);
    assert.equal(ready.status, 200);
    const voice = ((await ready.json()) as { subsystems: Record<string, { ready: boolean; detail: string }> })
      .subsystems.voice!;
    assert.equal(voice.ready, true);
    assert.match(
      voice.detail,
      /asr: pocketsphinx \(sherpa: sherpa-onnx ASR model folder not found: \/nonexistent\/asr-model\)/,
    );
    assert.match(
      voice.detail,
      /tts: espeak \(sherpa: sherpa-onnx TTS model folder not found: \/nonexistent\/tts-model\)/,
    );

    const wav = await synthWav('my blood pressure was one fifty two over ninety four', {
      engine: 'flite',
      voice: 'slt',
      rate: 150,
    });
    const heard = await fetch(`${device.url}/api/voice/transcribe`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: new Uint8Array(wav),
    });
    assert.equal(heard.status, 200);
    const body = (await heard.json()) as {
      text: string;
      engine: string;
      confidence: number;
      durationMs: number;
    };
    assert.equal(body.engine, 'pocketsphinx');
    assert.equal(body.text, 'my blood pressure was one fifty two over ninety four');
    assert.ok(body.confidence > 0.5 && body.durationMs > 1000);

    const spoken = await fetch(`${device.url}/api/voice/speak`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Time for your tablets. Please take them with water.' }),
    });
    assert.equal(spoken.status, 200);
    assert.equal(spoken.headers.get('content-type'), 'audio/wav');
    assert.equal(spoken.headers.get('x-aide-tts-engine'), 'espeak');
    const out = parseWav(Buffer.from(await spoken.arrayBuffer()));
    assert.ok(out && out.pcm.length / out.sampleRate > 2, 'two sentences of speech');
  } finally {
    await device.close();
  }
});

test('an engine that fails at run time hands over to the next one (espeak-ng voice missing → flite)', async () => {
  const device = await startVoiceDevice({ AIDE_TTS_ENGINES: 'espeak,flite' });
  try {
    const res = await fetch(`${device.url}/api/voice/speak`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Hello there.', voice: 'nosuchvoice' }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-aide-tts-engine'), 'flite');
    const metrics = await (await fetch(`${device.url}/metrics`)).text();
    assert.match(metrics, /aide_voice_engine_failures_total\{engine="espeak",what="synthesize"\} 1/);
    const bad = await fetch(`${device.url}/api/voice/speak`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: '', rate: 1000 }),
    });
    assert.equal(bad.status, 400);
    const err = ((await bad.json()) as { error: { message: string } }).error.message;
    assert.match(err, /text/);
    assert.match(err, /rate/);
  } finally {
    await device.close();
  }
});

test('a VAD model whose checksum does not match is refused before loading; the energy detector serves and /readyz says why', async () => {
  const { mkdtempSync, appendFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fetchModel } = await import('../device/models/store.js');
  const root = mkdtempSync(join(tmpdir(), 'aide-models-'));
  await fetchModel(root, 'silero-vad-v5');
  appendFileSync(join(root, 'installed', 'silero-vad-v5', 'silero_vad.onnx'), 'corrupt');
  const device = await startVoiceDevice({ AIDE_MODELS_DIR: root });
  try {
    const body = (await (await fetch(`${device.url}/readyz`)).json()) as {
      subsystems: Record<string, { detail: string }>;
    };
    assert.match(
      body.subsystems.vad!.detail,
      /^energy \(silero: vad model silero-vad-v5 refused: silero_vad.onnx: checksum mismatch/,
    );
  } finally {
    await device.close();
  }
});

test('microphone capture switched on without a sound card: /readyz reports it, the agent keeps serving', async () => {
  const device = await startVoiceDevice({ AIDE_AUDIO_CAPTURE: 'true' });
  try {
    let audio: { ready: boolean; optional?: boolean; detail: string } | undefined;
    // Up to 30 s for the recorder to be started and to fail (5 s was tight on a loaded machine).
    for (let i = 0; i < 300; i++) {
      const body = (await (await fetch(`${device.url}/readyz`)).json()) as {
        subsystems: Record<string, { ready: boolean; detail: string }>;
      };
      audio = body.subsystems.audio;
      if (audio && !audio.ready) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(audio?.ready, false);
    assert.equal(audio?.optional, true);
    assert.match(audio?.detail ?? '', /(microphone|speaker) unavailable: .+ \(retrying every 30 s\)/);
    assert.equal((await fetch(`${device.url}/readyz`)).status, 200, 'the console and WebSocket still serve');
    const spoken = await fetch(`${device.url}/api/voice/speak`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Still here.' }),
    });
    assert.equal(spoken.status, 200);
  } finally {
    await device.close();
  }
});

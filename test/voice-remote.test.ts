import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { llmEndpoint, speechEndpoint } from '../device/agent/cloud/endpoint.js';
import { parseWav } from '../device/audio/wav.js';
import { loadDeviceConfig } from '../device/config.js';
import type { DeviceHandle } from '../device/main.js';
import { normalizeTranscript, remoteConfidence } from '../device/voice/remote.js';
import { call, startApi } from './caregiver-helpers.js';
import { startPostgres } from './harness/index.js';
import { startVoiceDevice, synthWav } from './voice/device.js';
import { startSpeechServer } from './voice/openai-speech-server.js';

// Remote OpenAI-compatible speech engines in front of the local ones, against a real HTTP server that
// speaks OpenAI's wire format (PocketSphinx and espeak-ng behind it), directly and through the cloud's
// LLM proxy; fallback to the local engines when the remote is slow, down or refuses.

type Ready = { subsystems: Record<string, { ready: boolean; detail: string; optional?: boolean }> };
const readyz = async (d: DeviceHandle) => {
  const r = await fetch(`${d.url}/readyz`);
  return { status: r.status, body: (await r.json()) as Ready };
};
const spoken = 'my blood pressure was one fifty two over ninety four';
const transcribe = async (d: DeviceHandle, wav: Buffer) => {
  const r = await fetch(`${d.url}/api/voice/transcribe`, {
    method: 'POST',
    headers: { 'content-type': 'audio/wav' },
    body: new Uint8Array(wav),
  });
  assert.equal(r.status, 200);
  return (await r.json()) as { text: string; engine: string; confidence: number };
};
const speak = async (d: DeviceHandle, text: string) => {
  const r = await fetch(`${d.url}/api/voice/speak`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  assert.equal(r.status, 200);
  const wav = parseWav(Buffer.from(await r.arrayBuffer()));
  assert.ok(wav && wav.pcm.length / wav.sampleRate > 0.5, 'audible speech');
  return r.headers.get('x-aide-tts-engine');
};
const remoteFirst = { AIDE_ASR_ENGINES: 'remote,pocketsphinx', AIDE_TTS_ENGINES: 'remote,espeak' };

test('the remote engines answer first: OpenAI multipart upload and JSON speech request, WAV back', async () => {
  const server = await startSpeechServer({ apiKey: 'sk-speech-test' });
  const device = await startVoiceDevice({
    ...remoteFirst,
    AIDE_SPEECH_URL: server.url,
    AIDE_SPEECH_API_KEY: 'sk-speech-test',
  });
  try {
    const before = await readyz(device);
    assert.match(before.body.subsystems.voice!.detail, /^asr: remote; tts: remote$/);
    assert.match(
      before.body.subsystems['voice-remote']!.detail,
      /127\.0\.0\.1:\d+ \(configured\) not used yet/,
    );

    const heard = await transcribe(
      device,
      await synthWav(spoken, { engine: 'flite', voice: 'slt', rate: 150 }),
    );
    assert.equal(heard.engine, 'remote');
    assert.equal(heard.text, spoken);
    const up = server.seen.find((s) => s.path === '/v1/audio/transcriptions')!;
    assert.equal(up.authorization, 'Bearer sk-speech-test');
    assert.deepEqual(
      { model: up.fields.model, language: up.fields.language, format: up.fields.response_format },
      { model: 'whisper-1', language: 'en', format: 'json' },
    );
    assert.equal(up.file?.type, 'audio/wav');
    assert.equal(up.file?.sampleRate, 16000);
    assert.equal(up.file?.channels, 1);
    assert.ok(up.file!.seconds > 1);

    assert.equal(await speak(device, 'Time for your tablets. Please take them with water.'), 'remote');
    const asks = server.seen.filter((s) => s.path === '/v1/audio/speech');
    assert.deepEqual(
      asks.map((s) => s.fields.input),
      ['Time for your tablets.', 'Please take them with water.'],
      'one request per sentence',
    );
    assert.deepEqual(
      { model: asks[0]!.fields.model, voice: asks[0]!.fields.voice, format: asks[0]!.fields.response_format },
      { model: 'tts-1', voice: 'alloy', format: 'wav' },
    );
    assert.equal(asks[0]!.fields.speed, '0.83', 'the slower default rate (145 wpm) is sent as speed');
    const after = await readyz(device);
    assert.equal(after.body.subsystems['voice-remote']!.ready, true);
    assert.match(after.body.subsystems['voice-remote']!.detail, /answering/);
  } finally {
    await device.close();
    await server.stop();
  }
});

test('a slow remote: the local engine answers after the remote deadline, then the breaker skips the remote', async () => {
  const server = await startSpeechServer({ slowMs: 8000 });
  server.setMode('slow');
  const device = await startVoiceDevice({
    ...remoteFirst,
    AIDE_SPEECH_URL: server.url,
    AIDE_SPEECH_REMOTE_TIMEOUT_MS: '1500',
  });
  try {
    const wav = await synthWav(spoken, { engine: 'flite', voice: 'slt', rate: 150 });
    const first = await transcribe(device, wav);
    assert.equal(first.engine, 'pocketsphinx');
    assert.equal(first.text, spoken);
    const r = await readyz(device);
    assert.equal(r.status, 200, 'an optional remote does not make the device unready');
    const remote = r.body.subsystems['voice-remote']!;
    assert.equal(remote.ready, false);
    assert.match(
      remote.detail,
      /failing, local engines answer: transcribe: the remote speech service did not answer in time/,
    );

    assert.equal((await transcribe(device, wav)).engine, 'pocketsphinx');
    const asked = server.seen.length;
    assert.equal(asked, 2);
    assert.equal((await transcribe(device, wav)).engine, 'pocketsphinx');
    assert.equal(
      server.seen.length,
      asked,
      'after two failures the open breaker does not wait for the remote',
    );
    assert.match((await readyz(device)).body.subsystems['voice-remote']!.detail, /circuit open/);
    const metrics = await (await fetch(`${device.url}/metrics`)).text();
    assert.match(metrics, /aide_voice_engine_failures_total\{engine="remote",what="transcribe"\} 3/);
    assert.match(metrics, /aide_breaker_state\{name="remote-speech"\} 2/);
  } finally {
    await device.close();
    await server.stop();
  }
});

test('a remote that refuses the key or is gone: espeak-ng speaks, readiness names the reason', async () => {
  const server = await startSpeechServer({ apiKey: 'sk-right' });
  const wrongKey = await startVoiceDevice({
    ...remoteFirst,
    AIDE_SPEECH_URL: server.url,
    AIDE_SPEECH_API_KEY: 'sk-wrong',
  });
  try {
    assert.equal(await speak(wrongKey, 'Good morning.'), 'espeak');
    assert.match(
      (await readyz(wrongKey)).body.subsystems['voice-remote']!.detail,
      /synthesize: the remote speech service refused the request \(401\)/,
    );
  } finally {
    await wrongKey.close();
  }
  await server.stop();
  const gone = await startVoiceDevice({ ...remoteFirst, AIDE_SPEECH_URL: server.url });
  try {
    assert.equal(await speak(gone, 'Good morning.'), 'espeak');
    assert.match(
      (await readyz(gone)).body.subsystems['voice-remote']!.detail,
      /synthesize: cannot reach the remote speech service/,
    );
  } finally {
    await gone.close();
  }
  // Not configured at all: "remote" is skipped at load time, and readiness says what is missing.
  const none = await startVoiceDevice(remoteFirst);
  try {
    assert.match(
      (await readyz(none)).body.subsystems.voice!.detail,
      /^asr: pocketsphinx \(remote: remote speech needs AIDE_SPEECH_URL, or a device provisioned for the cloud/,
    );
  } finally {
    await none.close();
  }
});

describe('through the cloud: a provisioned device uses the LLM proxy for speech and hard questions', () => {
  test('speech and chat go through /v1/llm with device credentials; the provider sees only the cloud key', async () => {
    const pg = await startPostgres();
    const provider = await startSpeechServer({ apiKey: 'sk-provider-secret' });
    const passwordFile = join(mkdtempSync(join(tmpdir(), 'aide-pw-')), 'passwd');
    writeFileSync(passwordFile, '');
    execFileSync('mosquitto_passwd', ['-b', passwordFile, 'dev-voice', 'dev-voice-secret']);
    const api = await startApi({
      DATABASE_URL: pg.url,
      AIDE_DEVICE_PASSWORD_FILE: passwordFile,
      LLM_PROVIDER_URL: provider.url,
      LLM_PROVIDER_API_KEY: 'sk-provider-secret',
    });
    const cloud = {
      AIDE_CLOUD_API_URL: api.url,
      AIDE_MQTT_USERNAME: 'dev-voice',
      AIDE_MQTT_PASSWORD: 'dev-voice-secret',
    };
    const device = await startVoiceDevice({ ...remoteFirst, ...cloud });
    try {
      assert.match(
        (await readyz(device)).body.subsystems['voice-remote']!.detail,
        /\(cloud-proxy\) not used yet/,
      );
      const heard = await transcribe(
        device,
        await synthWav(spoken, { engine: 'flite', voice: 'slt', rate: 150 }),
      );
      assert.equal(heard.engine, 'remote');
      assert.equal(heard.text, spoken);
      assert.equal(await speak(device, 'Your next tablet is at noon.'), 'remote');
      const turn = await fetch(`${device.url}/api/turn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'why do my ankles swell in the evening?' }),
      });
      const result = (await turn.json()) as { engine: string; reply: { text: string } };
      assert.equal(result.engine, 'cloud', 'no LLM_BASE_URL: the agent asked the cloud proxy');
      assert.match(result.reply.text, /^The cloud heard: why do my ankles swell in the evening\?/);
      const paths = provider.seen.map((s) => s.path);
      for (const p of ['/v1/audio/transcriptions', '/v1/audio/speech', '/v1/chat/completions'])
        assert.ok(paths.includes(p), `${p} reached the provider`);
      assert.ok(
        provider.seen.every((s) => s.authorization === 'Bearer sk-provider-secret'),
        'the provider only ever sees the cloud key',
      );
      const logs = api.logs();
      assert.ok(!logs.includes('dev-voice-secret') && !logs.includes('sk-provider-secret'));
      assert.ok(!logs.includes('ankles') && !logs.includes('tablet is at noon'), 'no text in the cloud logs');

      // The proxy's own checks.
      const thief = await call(api.url, 'POST', '/v1/llm/audio/speech', {
        headers: { authorization: 'Bearer dev-voice:guess' },
        body: { model: 'tts-1', input: 'hello', voice: 'alloy' },
      });
      assert.equal(thief.status, 401);
      const empty = await call(api.url, 'POST', '/v1/llm/audio/speech', {
        headers: { authorization: 'Bearer dev-voice:dev-voice-secret' },
        body: { model: 'tts-1', input: '   ', voice: 'alloy' },
      });
      assert.equal(empty.status, 400);
      assert.equal(empty.body.error.details[0].field, 'input');
      const notMultipart = await fetch(`${api.url}/v1/llm/audio/transcriptions`, {
        method: 'POST',
        headers: { authorization: 'Bearer dev-voice:dev-voice-secret', 'content-type': 'audio/wav' },
        body: new Uint8Array(16),
      });
      assert.equal(notMultipart.status, 415);
      assert.match(
        ((await notMultipart.json()) as { error: { message: string } }).error.message,
        /multipart\/form-data/,
      );
      const anonymous = await fetch(`${api.url}/v1/llm/audio/transcriptions`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=x' },
        body: '--x--',
      });
      assert.equal(anonymous.status, 401);
    } finally {
      await device.close();
      await api.close();
      await provider.stop();
      await pg.stop();
    }
  });

  test('which endpoint the agent and the remote speech use', () => {
    const env = (e: Record<string, string>) =>
      loadDeviceConfig({ env: { AIDE_DATA_DIR: tmpdir(), AIDE_LOG_LEVEL: 'silent', ...e } });
    const provisioned = {
      AIDE_CLOUD_API_URL: 'https://cloud.example/',
      AIDE_MQTT_USERNAME: 'dev-1',
      AIDE_MQTT_PASSWORD: 'pw-1',
    };
    assert.deepEqual(llmEndpoint(env(provisioned)), {
      baseUrl: 'https://cloud.example/v1/llm',
      apiKey: 'dev-1:pw-1',
      via: 'cloud-proxy',
    });
    assert.equal(llmEndpoint(env({ ...provisioned, AIDE_LLM_VIA_CLOUD: 'false' })), undefined);
    assert.equal(
      llmEndpoint(env({ AIDE_CLOUD_API_URL: 'https://cloud.example' })),
      undefined,
      'no credentials',
    );
    assert.deepEqual(llmEndpoint(env({ ...provisioned, LLM_BASE_URL: 'http://ollama:11434/v1' })), {
      baseUrl: 'http://ollama:11434/v1',
      apiKey: 'not-needed',
      via: 'configured',
    });
    assert.equal(speechEndpoint(env(provisioned))?.via, 'cloud-proxy');
    assert.equal(
      speechEndpoint(env({ ...provisioned, AIDE_SPEECH_URL: 'https://api.openai.com/v1' }))?.via,
      'configured',
    );
    assert.equal(speechEndpoint(env({})), undefined);
  });
});

test('remote transcripts read like the local ones; confidence comes from what the server reports', () => {
  assert.equal(normalizeTranscript('My blood pressure is 140/90.'), 'my blood pressure is 140 over 90');
  assert.equal(normalizeTranscript('I took it at 8:30, thanks!'), 'i took it at 8:30 thanks');
  assert.equal(normalizeTranscript("I'm fine."), "i'm fine");
  assert.equal(remoteConfidence({ text: 'x' }, 'x'), 0.9);
  assert.equal(remoteConfidence({ text: '' }, ''), 0);
  const c = remoteConfidence({ segments: [{ avg_logprob: -0.1, no_speech_prob: 0.01 }] }, 'x');
  assert.ok(c > 0.85 && c < 0.91);
  assert.ok(remoteConfidence({ logprobs: [{ logprob: -2 }, { logprob: -3 }] }, 'x') < 0.1);
});

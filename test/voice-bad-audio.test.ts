import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { pcmToWav } from '../device/audio/wav.js';
import type { DeviceHandle } from '../device/main.js';
import { startVoiceDevice, synthWav } from './voice/device.js';

let device: DeviceHandle;
before(async () => {
  device = await startVoiceDevice();
});
after(() => device?.close());

const post = (path: string, body: Uint8Array, type: string) =>
  fetch(`${device.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: body as unknown as BodyInit,
  });
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string } }).error;

async function stillServes() {
  assert.equal((await fetch(`${device.url}/healthz`)).status, 200);
  const wav = await synthWav('what time is it', { engine: 'flite', voice: 'slt', rate: 150 });
  const res = await post('/api/voice/transcribe', new Uint8Array(wav), 'audio/wav');
  assert.equal(res.status, 200);
  assert.match(((await res.json()) as { text: string }).text, /time/);
}

test('bad audio gets 400/415/413 naming the problem, and the agent keeps serving', async () => {
  const cases: {
    name: string;
    body: Uint8Array;
    type: string;
    status: number;
    code: string;
    message: RegExp;
  }[] = [
    {
      name: 'truncated WAV header',
      body: Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt '),
      type: 'audio/wav',
      status: 400,
      code: 'invalid_argument',
      message: /truncated/,
    },
    {
      name: 'zero bytes',
      body: new Uint8Array(0),
      type: 'audio/wav',
      status: 400,
      code: 'invalid_argument',
      message: /empty \(0 bytes\)/,
    },
    {
      name: 'wrong content type (text)',
      body: Buffer.from('hello'),
      type: 'text/plain',
      status: 415,
      code: 'unsupported_media_type',
      message: /content-type must be one of .*got text\/plain/,
    },
    {
      name: 'wrong content type (image)',
      body: Buffer.from([0x89, 0x50, 0x4e, 0x47]),
      type: 'image/png',
      status: 415,
      code: 'unsupported_media_type',
      message: /image\/png/,
    },
    {
      name: 'WAV type, not a WAV',
      body: Buffer.from('this is not audio at all'),
      type: 'audio/wav',
      status: 400,
      code: 'invalid_argument',
      message: /not a WAV file/,
    },
    {
      name: 'MP3 type, garbage',
      body: Buffer.alloc(4000, 7),
      type: 'audio/mpeg',
      status: 400,
      code: 'invalid_argument',
      message: /could not decode/,
    },
    {
      name: 'two seconds of digital silence',
      body: pcmToWav(new Int16Array(32000)),
      type: 'audio/wav',
      status: 400,
      code: 'invalid_argument',
      message: /silent/,
    },
    {
      name: 'sample rate out of range',
      body: pcmToWav(new Int16Array(4000).fill(1000), 4000),
      type: 'audio/wav',
      status: 400,
      code: 'invalid_argument',
      message: /between 8000 and 48000 Hz, got 4000/,
    },
  ];
  for (const c of cases) {
    for (const path of ['/api/voice/transcribe', '/api/voice/turn']) {
      const res = await post(path, c.body, c.type);
      assert.equal(res.status, c.status, `${c.name} on ${path}`);
      const err = await errorOf(res);
      assert.equal(err.code, c.code, c.name);
      assert.match(err.message, c.message, c.name);
    }
  }
  await stillServes();
});

test('ten minutes of (compressed) silence is refused by the duration limit, not decoded forever', async () => {
  const webm = execFileSync(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'anullsrc=r=16000:cl=mono',
      '-t',
      '600',
      '-c:a',
      'libopus',
      '-f',
      'webm',
      'pipe:1',
    ],
    { maxBuffer: 10e6 },
  );
  const started = Date.now();
  const res = await post('/api/voice/transcribe', new Uint8Array(webm), 'audio/webm;codecs=opus');
  assert.equal(res.status, 400);
  assert.match((await errorOf(res)).message, /limit is 60 s/);
  assert.ok(Date.now() - started < 10_000, 'refused promptly');
  // Ten minutes as 16 kHz WAV is 19 MB: the byte limit answers first.
  const wav = pcmToWav(new Int16Array(16000 * 600));
  const big = await post('/api/voice/transcribe', new Uint8Array(wav), 'audio/wav');
  assert.equal(big.status, 413);
  await stillServes();
});

test('a 200 MB upload is refused with 413 before it is read, and the agent keeps serving', async () => {
  const total = 200 * 1024 * 1024;
  const { status, sent } = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
    const url = new URL(`${device.url}/api/voice/transcribe`);
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { 'content-type': 'audio/wav', 'content-length': String(total) },
    });
    let sent = 0;
    let done = false;
    const chunk = Buffer.alloc(1024 * 1024);
    req.on('response', (res) => {
      done = true;
      res.resume();
      resolve({ status: res.statusCode ?? 0, sent });
      req.destroy();
    });
    req.on('error', (err) => (done ? undefined : reject(err)));
    const pump = () => {
      while (!done && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!done) req.end();
    };
    pump();
  });
  assert.equal(status, 413);
  assert.ok(sent < total, `answered after ${sent} of ${total} bytes`);
  await stillServes();
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { createLogger, silentLogger } from '../common/log.js';
import { parseWav } from '../device/audio/wav.js';
import { loadDeviceConfig } from '../device/config.js';
import { type DeviceHandle, startDevice } from '../device/main.js';
import { type ApiUnderTest, addDeviceWithPerson, call, signUp, startApi } from './caregiver-helpers.js';
import { type PostgresServer, startPostgres } from './harness/index.js';
import { newPool } from './support/common.js';
import { runAide } from './support/spawn-aide.js';
import { synthWav } from './voice/device.js';

// The device side of pairing: the speaker asks the real caregiver API for a code with its own MQTT
// credentials, and a caregiver who types that code becomes the owner of the person on the device.
let pgServer: PostgresServer;
let db: pg.Pool;
let api: ApiUnderTest;
const personId = randomUUID();
const dadId = randomUUID();
const tmp = () => mkdtempSync(join(tmpdir(), 'aide-pair-'));

before(async () => {
  pgServer = await startPostgres();
  db = newPool(pgServer.url, 2);
  const passwordFile = join(tmp(), 'passwd');
  writeFileSync(passwordFile, '');
  execFileSync('mosquitto_passwd', ['-b', passwordFile, 'dev-pair', 'pair-secret-1']);
  execFileSync('mosquitto_passwd', ['-b', passwordFile, 'dev-spoken', 'pair-secret-2']);
  api = await startApi({ DATABASE_URL: pgServer.url, AIDE_DEVICE_PASSWORD_FILE: passwordFile });
  await addDeviceWithPerson(db, 'dev-pair', personId, 'Mum');
  await addDeviceWithPerson(db, 'dev-spoken', dadId, 'Dad');
});
after(async () => {
  await api?.close();
  await db?.end();
  await pgServer?.stop();
});

async function device(env: Record<string, string>, log = silentLogger): Promise<DeviceHandle> {
  const config = loadDeviceConfig({
    env: { AIDE_DATA_DIR: tmp(), AIDE_PORT: '0', AIDE_LOG_LEVEL: 'silent', ...env },
  });
  return startDevice(config, { log });
}

const ask = async (dev: DeviceHandle, text: string) => {
  const res = await fetch(`${dev.url}/api/turn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as { reply: { text: string }; actions: { tool: string }[]; engine: string };
};
const digitWords = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

test('the console gets a pairing code from the cloud, and a caregiver claims the device with it', async () => {
  const dev = await device({
    AIDE_CLOUD_API_URL: api.url,
    AIDE_MQTT_USERNAME: 'dev-pair',
    AIDE_MQTT_PASSWORD: 'pair-secret-1',
  });
  try {
    const res = await fetch(`${dev.url}/api/pairing-code`, { method: 'POST' });
    assert.equal(res.status, 200);
    const code = await res.json();
    assert.match(code.code, /^\d{8}$/);
    assert.equal(code.spoken, code.code.split('').join(' '));

    const daughter = await signUp(api.url, 'daughter');
    const claim = await call(api.url, 'POST', '/v1/devices/claim', {
      token: daughter.accessToken,
      body: { code: code.code },
    });
    assert.equal(claim.status, 201);
    const people = await call(api.url, 'GET', '/v1/people', { token: daughter.accessToken });
    assert.ok(
      people.body.people.some((p: { id: string }) => p.id === personId),
      'the person on the device is now hers',
    );
  } finally {
    await dev.close();
  }
});

test('wrong credentials or missing cloud settings give a clear error, never a made-up code', async () => {
  const wrong = await device({
    AIDE_CLOUD_API_URL: api.url,
    AIDE_MQTT_USERNAME: 'dev-pair',
    AIDE_MQTT_PASSWORD: 'not-the-secret',
  });
  try {
    const res = await fetch(`${wrong.url}/api/pairing-code`, { method: 'POST' });
    assert.equal(res.status, 401);
    assert.match((await res.json()).error.message, /refused this device/);
  } finally {
    await wrong.close();
  }
  const offline = await device({});
  try {
    const res = await fetch(`${offline.url}/api/pairing-code`, { method: 'POST' });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.deepEqual(
      body.error.details.map((d: { field: string }) => d.field),
      ['AIDE_CLOUD_API_URL', 'AIDE_MQTT_USERNAME', 'AIDE_MQTT_PASSWORD'],
    );
  } finally {
    await offline.close();
  }
});

test('aide pair prints a code an installer can read out', async () => {
  const r = await runAide(['pair', '--data', tmp()], {
    AIDE_CLOUD_API_URL: api.url,
    AIDE_MQTT_USERNAME: 'dev-pair',
    AIDE_MQTT_PASSWORD: 'pair-secret-1',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d{8} \(valid until /);
  const none = await runAide(['pair', '--data', tmp()], {
    AIDE_CLOUD_API_URL: '',
    AIDE_MQTT_USERNAME: '',
    AIDE_MQTT_PASSWORD: '',
  });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /aide pair: pairing needs the cloud: set AIDE_CLOUD_API_URL/);
});

test('asked aloud, the agent speaks the code slowly in groups; a caregiver claims with it; the code is never logged or stored', async () => {
  let logs = '';
  const log = createLogger({
    level: 'trace',
    destination: new Writable({
      write(chunk, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    }),
  });
  const dev = await device(
    { AIDE_CLOUD_API_URL: api.url, AIDE_MQTT_USERNAME: 'dev-spoken', AIDE_MQTT_PASSWORD: 'pair-secret-2' },
    log,
  );
  try {
    const r = await ask(dev, "Pair with my daughter's phone");
    assert.equal(r.engine, 'local');
    assert.deepEqual(
      r.actions.map((a) => a.tool),
      ['get_pairing_code'],
    );
    // "Your pairing code is: Four, seven, one, two. Eight, three, zero, five. Once more: ..."
    const m =
      /^Your pairing code is: ([A-Z][a-z]+, (?:[a-z]+, ){2}[a-z]+\. [A-Z][a-z]+, (?:[a-z]+, ){2}[a-z]+\.) Once more: \1 Type it into the Aide app on the phone\. It works for the next (\d+) minutes\.$/.exec(
        r.reply.text,
      );
    assert.ok(m, r.reply.text);
    assert.ok(Number(m[2]) >= 1 && Number(m[2]) <= 60);
    const code = m[1]!
      .toLowerCase()
      .split(/[^a-z]+/)
      .filter(Boolean)
      .map((w) => String(digitWords.indexOf(w)))
      .join('');
    assert.match(code, /^\d{8}$/);

    const son = await signUp(api.url, 'son');
    const claim = await call(api.url, 'POST', '/v1/devices/claim', {
      token: son.accessToken,
      body: { code },
    });
    assert.equal(claim.status, 201, 'the spoken code is the real one');
    const people = await call(api.url, 'GET', '/v1/people', { token: son.accessToken });
    assert.ok(people.body.people.some((p: { id: string }) => p.id === dadId));

    const again = await ask(dev, "what's my pairing code?");
    assert.equal(again.actions[0]!.tool, 'get_pairing_code');
    const stored = (await (await fetch(`${dev.url}/api/conversations/recent?limit=10`)).json()) as {
      items: { role: string; text: string }[];
    };
    const replies = stored.items.filter((t) => t.role === 'assistant').map((t) => t.text);
    assert.equal(replies.length, 2);
    for (const t of replies) {
      assert.match(t, /^Your pairing code is: \[pairing code\] Once more: \[pairing code\] /);
      assert.doesNotMatch(t, /\b(zero|one|two|three|four|five|six|seven|eight|nine),/);
    }
    assert.ok(logs.length > 0, 'the device logged something');
    assert.ok(!logs.includes(code), 'the code is not in the logs');
    assert.ok(!/\b(zero|one|two|three|four|five|six|seven|eight|nine), /i.test(logs), 'nor its spoken form');
  } finally {
    await dev.close();
  }
});

test('asked aloud with no cloud, refused credentials or an unreachable cloud: a plain spoken explanation', async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /^I'm not connected to the Aide cloud yet, so I can't make a pairing code\./],
    [
      { AIDE_CLOUD_API_URL: api.url, AIDE_MQTT_USERNAME: 'dev-pair', AIDE_MQTT_PASSWORD: 'wrong-secret' },
      /^The Aide cloud didn't recognise this speaker/,
    ],
    [
      // A port nothing listens on.
      { AIDE_CLOUD_API_URL: 'http://127.0.0.1:9', AIDE_MQTT_USERNAME: 'dev-pair', AIDE_MQTT_PASSWORD: 'x' },
      /^I can't reach the Aide cloud right now, so I can't make a pairing code\. Please check the internet connection/,
    ],
  ];
  for (const [env, want] of cases) {
    const dev = await device(env);
    try {
      const r = await ask(dev, 'what is my pairing code');
      assert.deepEqual(
        r.actions.map((a) => a.tool),
        ['get_pairing_code'],
      );
      assert.match(r.reply.text, want);
    } finally {
      await dev.close();
    }
  }
});

test('spoken through the voice pipeline: the question is recognized and the code comes back as audio', async () => {
  const dev = await device({
    AIDE_CLOUD_API_URL: api.url,
    AIDE_MQTT_USERNAME: 'dev-spoken',
    AIDE_MQTT_PASSWORD: 'pair-secret-2',
  });
  try {
    const wav = await synthWav("pair with my daughter's phone", { engine: 'flite', voice: 'slt', rate: 150 });
    const res = await fetch(`${dev.url}/api/voice/turn`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: new Uint8Array(wav),
    });
    assert.equal(res.status, 200);
    const turn = (await res.json()) as {
      transcript: string;
      actions: { tool: string }[];
      reply: string;
      audio: string;
    };
    assert.equal(turn.transcript, "pair with my daughter's phone");
    assert.deepEqual(
      turn.actions.map((a) => a.tool),
      ['get_pairing_code'],
    );
    assert.match(turn.reply, /^Your pairing code is: [A-Z][a-z]+, /);
    const audio = parseWav(Buffer.from(turn.audio, 'base64'));
    assert.ok(audio, 'a WAV reply');
    // Eight digits, twice, with pauses, plus the instructions: well over ten seconds at 145 words a minute.
    assert.ok(audio.pcm.length / audio.sampleRate > 10, `${audio.pcm.length / audio.sampleRate} s`);
  } finally {
    await dev.close();
  }
});

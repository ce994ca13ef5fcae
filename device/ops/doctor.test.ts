import assert from 'node:assert/strict';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, startMosquitto } from '../../test/harness/index.js';
import { repoRoot } from '../../test/install-chroot.js';
import { loadDeviceConfig } from '../config.js';
import { startDevice } from '../main.js';
import {
  audioOutput,
  type Check,
  type CommandResult,
  checkBroker,
  formatChecks,
  mqttConnect,
  runCommand,
  runDoctor,
} from './doctor.js';

function byName(checks: Check[], name: string): Check {
  const c = checks.find((x) => x.name === name);
  assert.ok(c, `no check named ${name}`);
  return c;
}

/** `aplay -l` / `arecord -l` as printed on a Raspberry Pi with a USB speakerphone (no sound hardware here). */
const piCards = (kind: string) => `**** List of ${kind} Hardware Devices ****
card 0: Headphones [bcm2835 Headphones], device 0: bcm2835 Headphones [bcm2835 Headphones]
  Subdevices: 8/8
card 2: Speakerphone [Jabra Speak 410 USB], device 0: USB Audio [USB Audio]
  Subdevices: 1/1
`;

test('doctor checks the broker with the device credentials and says what to fix', async (t) => {
  const broker = await startMosquitto({ users: { 'device-0042': 'right-password' } });
  const data = mkdtempSync(join(tmpdir(), 'aide-doctor-'));
  chmodSync(data, 0o700);
  t.after(async () => {
    await broker.stop();
    rmSync(data, { recursive: true, force: true });
  });
  const deps = (env: Record<string, string>) => ({
    config: loadDeviceConfig({
      env: { AIDE_DATA_DIR: data, MQTT_URL: broker.url, AIDE_MQTT_USERNAME: 'device-0042', ...env },
    }),
    run: runCommand,
    mqttConnect,
    consoleUrl: 'http://127.0.0.1:9',
  });

  const good = await checkBroker(deps({ AIDE_MQTT_PASSWORD: 'right-password' }));
  assert.equal(good.status, 'ok', good.detail);
  assert.match(good.detail, /connected to 127\.0\.0\.1:\d+ as device-0042/);

  const bad = await checkBroker(deps({ AIDE_MQTT_PASSWORD: 'wrong' }));
  assert.equal(bad.status, 'fail');
  assert.match(bad.fix ?? '', /AIDE_MQTT_USERNAME \/ AIDE_MQTT_PASSWORD in \/etc\/aide\/aide\.env/);

  const closed = await freePort();
  const down = await checkBroker(
    deps({ AIDE_MQTT_PASSWORD: 'right-password', MQTT_URL: `mqtt://127.0.0.1:${closed}` }),
  );
  assert.equal(down.status, 'fail');
  assert.match(down.detail, /ECONNREFUSED/);
  assert.match(down.fix ?? '', /internet connection, the MQTT_URL host and port/);
});

test('doctor reads sound cards, disk, data folder mode, clock and the agent, and exits with what to fix', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'aide-doctor-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const config = loadDeviceConfig({
    env: {
      AIDE_DATA_DIR: data,
      AIDE_PORT: '0',
      AIDE_LOG_LEVEL: 'silent',
      AIDE_AUDIO_CAPTURE: 'true',
      AIDE_MODELS_DIR: join(data, 'models'),
    },
  });
  const device = await startDevice(config);
  t.after(() => device.close());

  const withCards = async (
    cmd: string,
    args: string[],
    ms?: number,
    env?: NodeJS.ProcessEnv,
  ): Promise<CommandResult> =>
    cmd === 'aplay'
      ? { code: 0, out: piCards('PLAYBACK') }
      : cmd === 'arecord'
        ? { code: 0, out: '' }
        : runCommand(cmd, args, ms, env);
  chmodSync(data, 0o755);
  const checks = await runDoctor({ config, run: withCards, mqttConnect, consoleUrl: device.url });
  assert.deepEqual(byName(checks, 'audio output'), {
    name: 'audio output',
    status: 'ok',
    detail:
      'played 0.1 s of silence on the ALSA "default" device; sound cards: card 0: Headphones [bcm2835 Headphones]; card 2: Speakerphone [Jabra Speak 410 USB]',
  });
  const mic = byName(checks, 'audio input');
  assert.equal(mic.status, 'fail', 'capture is on, so a missing microphone is a failure');
  assert.match(mic.fix ?? '', /arecord -l/);
  assert.equal(byName(checks, 'data folder').status, 'fail');
  assert.match(byName(checks, 'data folder').fix ?? '', /chmod 700/);
  assert.match(byName(checks, 'disk space').detail, /^\d+ MB free on /);
  assert.notEqual(byName(checks, 'clock').status, 'fail');
  assert.equal(byName(checks, 'agent').status, 'ok');
  assert.equal(byName(checks, 'cloud broker').status, 'warn', 'sync off is a warning, not a failure');
  assert.notEqual(byName(checks, 'models').status, 'fail', byName(checks, 'models').detail);
  assert.match(formatChecks(checks), /^FAIL {2}audio input .*\n +fix: /m);
  assert.match(formatChecks(checks), /\d+ problem\(s\) to fix/);

  const missingTool = byName(
    await runDoctor({
      config,
      run: (cmd, args, ms, env) => runCommand(cmd === 'aplay' ? 'aplay-not-installed' : cmd, args, ms, env),
      mqttConnect,
      consoleUrl: device.url,
    }),
    'audio output',
  );
  assert.deepEqual([missingTool.status, missingTool.fix], ['fail', 'sudo apt-get install alsa-utils']);
});

test('doctor fails a model whose files no longer match their checksum', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'aide-doctor-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const models = join(data, 'models');
  // silero-vad ships inside an npm package, so it installs without internet.
  const fetched = await runCommand(
    process.execPath,
    [join(repoRoot, 'bin', 'aide.js'), 'models', 'fetch', 'silero-vad-v5'],
    120_000,
    { AIDE_MODELS_DIR: models },
  );
  if (fetched.code !== 0)
    return t.skip(`aide models fetch silero-vad-v5 did not work here: ${fetched.out.trim()}`);
  const config = loadDeviceConfig({ env: { AIDE_DATA_DIR: data, AIDE_MODELS_DIR: models } });
  const deps = { config, run: runCommand, mqttConnect, consoleUrl: 'http://127.0.0.1:9' };
  const ok = byName(await runDoctor(deps), 'models');
  assert.equal(ok.status, 'ok');
  assert.match(ok.detail, /\bsilero-vad-v5\b.* verified$/);

  const file = readdirSync(join(models, 'installed', 'silero-vad-v5'), {
    recursive: true,
    withFileTypes: true,
  }).find((e) => e.isFile() && e.name.endsWith('.onnx'));
  assert.ok(file, 'an installed .onnx file');
  appendFileSync(join(file.parentPath ?? file.path, file.name), Buffer.from([0]));
  const bad = byName(await runDoctor(deps), 'models');
  assert.equal(bad.status, 'fail');
  assert.match(bad.detail, /silero-vad-v5: FAILED/);
  assert.match(bad.fix ?? '', /aide models fetch/);
});

test('audio output is judged by playing on the device speech uses: an .asoundrc PCM with no sound card passes, a missing one fails naming it', async (t) => {
  if (existsSync('/dev/snd') && statSync('/dev/snd').isDirectory())
    return t.skip('this machine has a sound card, so "no card" cannot be checked');
  // ALSA reads $HOME/.asoundrc (aplay inherits HOME): `default` and a named "USB speaker" are `file`
  // PCMs writing raw samples to files (through the `null` device), so what doctor played is checked.
  const home = mkdtempSync(join(tmpdir(), 'aide-doctor-alsa-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const filePcm = (name: string, file: string) =>
    `pcm.${name} {\n  type file\n  slave.pcm "null"\n  file "${join(home, file)}"\n  format "raw"\n}\n`;
  writeFileSync(
    join(home, '.asoundrc'),
    filePcm('!default', 'default.raw') + filePcm('usbspeaker', 'usb.raw'),
  );
  const empty = mkdtempSync(join(tmpdir(), 'aide-doctor-noalsa-'));
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const check = (homeDir: string, env: Record<string, string> = {}) =>
    audioOutput({
      config: loadDeviceConfig({ env: { AIDE_DATA_DIR: home, ...env } }),
      run: (cmd, args, ms, e) => runCommand(cmd, args, ms, { ...e, HOME: homeDir }),
      mqttConnect,
      consoleUrl: 'http://127.0.0.1:9',
    });

  // aplay -l finds no card (the old check said fail), but the default PCM plays.
  const noCard = await runCommand('aplay', ['-l'], 5000, { HOME: home });
  assert.match(noCard.out, /no soundcards found/);
  const ok = await check(home);
  assert.equal(ok.status, 'ok', ok.detail);
  assert.match(
    ok.detail,
    /^played 0\.1 s of silence on the ALSA "default" device; no sound card listed by `aplay -l`/,
  );
  assert.match(ok.detail, /\.asoundrc or \/etc\/asound\.conf/);
  // 0.1 s at 16 kHz, 16-bit = 3200 bytes of zeros (ALSA rounds up to whole periods).
  const played = readFileSync(join(home, 'default.raw'));
  assert.ok(played.length >= 3200, `${played.length} bytes reached the default PCM`);
  assert.ok(
    played.every((b) => b === 0),
    'silence',
  );

  const named = await check(home, { AIDE_AUDIO_OUT_DEVICE: 'usbspeaker' });
  assert.equal(named.status, 'ok', named.detail);
  assert.match(named.detail, /^played 0\.1 s of silence on AIDE_AUDIO_OUT_DEVICE "usbspeaker"/);
  assert.ok(readFileSync(join(home, 'usb.raw')).length >= 3200, 'the named device was the one opened');

  const typo = await check(home, { AIDE_AUDIO_OUT_DEVICE: 'usbspeakr' });
  assert.equal(typo.status, 'fail');
  assert.match(typo.detail, /^cannot play on AIDE_AUDIO_OUT_DEVICE "usbspeakr": Unknown PCM usbspeakr; /);
  assert.match(typo.detail, /playback devices by `aplay -L`: .*\bdefault, usbspeaker\b/);
  assert.match(typo.fix ?? '', /AIDE_AUDIO_OUT_DEVICE in \/etc\/aide\/aide\.env/);

  const none = await check(empty);
  assert.equal(none.status, 'fail');
  assert.match(
    none.detail,
    /^cannot play on the ALSA "default" device: Unknown PCM default; no sound card listed/,
  );
  assert.match(none.fix ?? '', /connect a speaker/);
});

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceConfig } from '../config.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';
export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What an installer should do about a warn or fail. */
  fix?: string;
}

export interface CommandResult {
  code: number | null;
  out: string;
  /** The program is not installed. */
  missing?: boolean;
}

export interface DoctorDeps {
  config: DeviceConfig;
  /** Runs a program with a deadline; never rejects. */
  run(cmd: string, args: string[], timeoutMs?: number, env?: NodeJS.ProcessEnv): Promise<CommandResult>;
  /** MQTT connection check; resolves to undefined when connected, or an error message. */
  mqttConnect(config: DeviceConfig): Promise<string | undefined>;
  consoleUrl: string;
}

const aideBin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'aide.js');

export function runCommand(
  cmd: string,
  args: string[],
  timeoutMs = 10_000,
  env?: NodeJS.ProcessEnv,
): Promise<CommandResult> {
  return new Promise((res) => {
    let out = '';
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      env: env ? { ...process.env, ...env } : process.env,
    });
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('error', (err: NodeJS.ErrnoException) =>
      res({ code: null, out: err.message, missing: err.code === 'ENOENT' }),
    );
    child.on('close', (code) => res({ code, out }));
  });
}

/** Connects once with the device's credentials under a throwaway client id (never the agent's, which would kick its session). */
export async function mqttConnect(c: DeviceConfig): Promise<string | undefined> {
  if (!c.MQTT_URL) return undefined;
  const mqtt = await import('mqtt');
  try {
    const client = await mqtt.connectAsync(c.MQTT_URL, {
      clientId: `aide-doctor-${randomBytes(4).toString('hex')}`,
      username: c.AIDE_MQTT_USERNAME,
      password: c.AIDE_MQTT_PASSWORD,
      ca: c.AIDE_MQTT_CA_FILE ? readFileSync(c.AIDE_MQTT_CA_FILE) : undefined,
      connectTimeout: 5000,
      reconnectPeriod: 0,
      clean: true,
    });
    await client.endAsync();
    return undefined;
  } catch (err) {
    return (err as Error).message || String(err);
  }
}

export async function runDoctor(deps: DoctorDeps): Promise<Check[]> {
  const c = deps.config;
  return [
    await audioOutput(deps),
    await soundCards(deps, 'audio input', 'arecord', 'a microphone', c.AIDE_AUDIO_CAPTURE),
    await models(deps),
    disk(c),
    dataFolder(c),
    await clock(deps),
    await checkBroker(deps),
    await agent(deps),
  ];
}

async function soundCards(
  deps: DoctorDeps,
  name: string,
  tool: string,
  what: string,
  required: boolean,
): Promise<Check> {
  const r = await deps.run(tool, ['-l']);
  if (r.missing)
    return {
      name,
      status: 'fail',
      detail: `${tool} is not installed`,
      fix: 'sudo apt-get install alsa-utils',
    };
  const cards = r.out.split('\n').filter((l) => /^card \d+:/.test(l));
  if (cards.length)
    return { name, status: 'ok', detail: cards.map((l) => l.replace(/, device \d+:.*/, '')).join('; ') };
  return {
    name,
    status: required ? 'fail' : 'warn',
    detail: `no ${tool === 'aplay' ? 'playback' : 'capture'} device found by \`${tool} -l\``,
    fix: `connect ${what} (USB or HAT), check it appears in \`${tool} -l\`, and that the aide user is in the audio group (id aide)`,
  };
}

/**
 * Audio output as speech would really use it: `aplay -l` lists only sound cards, but the agent plays
 * on AIDE_AUDIO_OUT_DEVICE or ALSA's `default` PCM, which an ~/.asoundrc or /etc/asound.conf may define
 * (a USB speaker by name, dmix, a `file` PCM) with no card listed. So the device is opened and 0.1 s of
 * silence is written to it with aplay, the agent's own fallback player.
 */
export async function audioOutput(deps: DoctorDeps): Promise<Check> {
  const name = 'audio output';
  const device = deps.config.AIDE_AUDIO_OUT_DEVICE || 'default';
  const setting = deps.config.AIDE_AUDIO_OUT_DEVICE
    ? `AIDE_AUDIO_OUT_DEVICE "${device}"`
    : 'the ALSA "default" device';
  const cards = await deps.run('aplay', ['-l']);
  if (cards.missing)
    return { name, status: 'fail', detail: 'aplay is not installed', fix: 'sudo apt-get install alsa-utils' };
  const cardList = cards.out
    .split('\n')
    .filter((l) => /^card \d+:/.test(l))
    .map((l) => l.replace(/, device \d+:.*/, ''));
  // 1600 zero samples at 16 kHz mono S16_LE = 0.1 s of silence, the format the agent plays.
  const args = [
    '-q',
    '-D',
    device,
    '-t',
    'raw',
    '-f',
    'S16_LE',
    '-c',
    '1',
    '-r',
    '16000',
    '-s',
    '1600',
    '/dev/zero',
  ];
  const played = await deps.run('aplay', args, 5000);
  const where = cardList.length
    ? `sound cards: ${cardList.join('; ')}`
    : 'no sound card listed by `aplay -l`: the device is defined in an ALSA configuration (~/.asoundrc or /etc/asound.conf)';
  if (played.code === 0)
    return { name, status: 'ok', detail: `played 0.1 s of silence on ${setting}; ${where}` };
  const pcms = await deps.run('aplay', ['-L']);
  const names = pcms.out
    .split('\n')
    .filter((l) => /^\S/.test(l) && !/^(ALSA lib|aplay:)/.test(l))
    .map((l) => l.trim());
  const lines = played.out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const reason =
    played.code === null && !lines.length
      ? 'aplay did not finish within 5 s'
      : (lines.find((l) => /Unknown PCM|Device or resource busy/.test(l))?.replace(/^.*\) /, '') ??
        lines.at(-1)?.replace(/^aplay: (main:\d+: )?/, '') ??
        `aplay exited with ${played.code}`);
  const known = `playback devices by \`aplay -L\`: ${names.length ? names.join(', ') : 'none'}`;
  if (/busy/i.test(reason))
    return {
      name,
      status: 'warn',
      detail: `${setting} is busy (${reason}): another program is playing on it, perhaps the aide agent; ${where}`,
      fix: 'run `aide doctor` again when Aide is silent; if it stays busy, use a dmix device (e.g. AIDE_AUDIO_OUT_DEVICE=default on a card with dmix)',
    };
  return {
    name,
    status: 'fail',
    detail: `cannot play on ${setting}: ${reason}; ${where}; ${known}`,
    fix: `connect a speaker (USB or HAT), or set AIDE_AUDIO_OUT_DEVICE in /etc/aide/aide.env to one of the \`aplay -L\` devices (or define pcm.!default in /etc/asound.conf); check that the aide user is in the audio group (id aide)`,
  };
}

async function models(deps: DoctorDeps): Promise<Check> {
  const env = { AIDE_MODELS_DIR: resolve(deps.config.AIDE_MODELS_DIR) };
  const r = await deps.run(process.execPath, [aideBin, 'models', 'verify'], 120_000, env);
  if (/^Usage: aide/m.test(r.out)) {
    return {
      name: 'models',
      status: 'warn',
      detail: 'this release has no `aide models` command; Debian fallback engines only',
    };
  }
  const lines = r.out.trim().split('\n').filter(Boolean);
  if (r.code === 0 && lines.length === 0) {
    return {
      name: 'models',
      status: 'warn',
      detail: 'no speech models installed: the Debian fallback engines answer',
      fix: 'sudo aide models fetch (needs internet)',
    };
  }
  const failed = lines.filter((l) => /FAILED/.test(l));
  if (r.code === 0)
    return {
      name: 'models',
      status: 'ok',
      detail: lines.map((l) => l.split(':')[0]).join(', ') + ' verified',
    };
  return {
    name: 'models',
    status: 'fail',
    detail: (failed.length ? failed : lines.slice(-3)).join(' / ') || `aide models verify exited ${r.code}`,
    fix: 'sudo aide models fetch <id> to reinstall it (a model whose checksum does not match is not used)',
  };
}

function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

function disk(c: DeviceConfig): Check {
  const where = nearestExisting(c.AIDE_DATA_DIR);
  const s = statfsSync(where);
  const freeMb = Math.floor((s.bavail * s.bsize) / 1024 / 1024);
  const detail = `${freeMb} MB free on ${where}`;
  if (freeMb < 100)
    return {
      name: 'disk space',
      status: 'fail',
      detail,
      fix: 'free space now: the store stops accepting records when the disk is full (sudo journalctl --vacuum-size=50M, remove old backups)',
    };
  if (freeMb < c.AIDE_DISK_MIN_FREE_MB)
    return { name: 'disk space', status: 'warn', detail, fix: 'use a larger SD card or remove old files' };
  return { name: 'disk space', status: 'ok', detail };
}

function dataFolder(c: DeviceConfig): Check {
  const dir = resolve(c.AIDE_DATA_DIR);
  if (!existsSync(dir))
    return {
      name: 'data folder',
      status: 'warn',
      detail: `${dir} does not exist yet`,
      fix: 'run scripts/install-device.sh, or start the agent once',
    };
  const mode = statSync(dir).mode & 0o777;
  if (mode & 0o077) {
    return {
      name: 'data folder',
      status: 'fail',
      detail: `${dir} is mode ${mode.toString(8)}: others can read health records`,
      fix: `sudo chmod 700 ${dir}`,
    };
  }
  return { name: 'data folder', status: 'ok', detail: `${dir} (mode ${mode.toString(8)})` };
}

async function clock(deps: DoctorDeps): Promise<Check> {
  if (new Date().getUTCFullYear() < 2025) {
    return {
      name: 'clock',
      status: 'fail',
      detail: `system time is ${new Date().toISOString()}`,
      fix: 'connect to the internet so NTP sets the clock (reminders depend on it)',
    };
  }
  const td = await deps.run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], 3000);
  if (td.code === 0 && td.out.trim() === 'yes')
    return { name: 'clock', status: 'ok', detail: 'synchronised (timedatectl)' };
  if (td.code === 0 && td.out.trim() === 'no') {
    return {
      name: 'clock',
      status: 'warn',
      detail: 'not synchronised (timedatectl)',
      fix: 'sudo timedatectl set-ntp true; check the internet connection and `timedatectl timesync-status`',
    };
  }
  const ch = await deps.run('chronyc', ['-n', 'tracking'], 3000);
  if (ch.code === 0) {
    const leap = /Leap status\s*:\s*(.+)/.exec(ch.out)?.[1]?.trim();
    if (leap === 'Normal') return { name: 'clock', status: 'ok', detail: 'synchronised (chrony)' };
    return {
      name: 'clock',
      status: 'warn',
      detail: `chrony leap status: ${leap ?? 'unknown'}`,
      fix: 'check `chronyc sources` and the internet connection',
    };
  }
  return {
    name: 'clock',
    status: 'warn',
    detail: 'cannot tell whether the clock is synchronised (no systemd-timesyncd or chrony answering)',
    fix: 'sudo apt-get install systemd-timesyncd',
  };
}

export async function checkBroker(deps: DoctorDeps): Promise<Check> {
  const c = deps.config;
  if (!c.MQTT_URL)
    return {
      name: 'cloud broker',
      status: 'warn',
      detail: 'sync off (MQTT_URL not set): records stay on this device',
      fix: 'set MQTT_URL and the device credentials in /etc/aide/aide.env',
    };
  const host = new URL(c.MQTT_URL).host;
  const err = await deps.mqttConnect(c);
  if (!err)
    return {
      name: 'cloud broker',
      status: 'ok',
      detail: `connected to ${host} as ${c.AIDE_MQTT_USERNAME ?? '(no user)'}`,
    };
  const auth = /not authori[sz]ed|bad user ?name or password|connack.*(4|5|134|135)/i.test(err);
  return {
    name: 'cloud broker',
    status: 'fail',
    detail: `cannot connect to ${host}: ${err}`,
    fix: auth
      ? 'the broker refused the credentials: check AIDE_MQTT_USERNAME / AIDE_MQTT_PASSWORD in /etc/aide/aide.env (re-provision the device if they were revoked)'
      : 'check the internet connection, the MQTT_URL host and port, and AIDE_MQTT_CA_FILE for TLS',
  };
}

async function agent(deps: DoctorDeps): Promise<Check> {
  try {
    const res = await fetch(`${deps.consoleUrl}/readyz`, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as { notReady?: string[] };
    if (res.ok) return { name: 'agent', status: 'ok', detail: `ready at ${deps.consoleUrl}` };
    return {
      name: 'agent',
      status: 'fail',
      detail: `not ready: ${(body.notReady ?? []).join(', ')}`,
      fix: 'journalctl -u aide-device -n 50',
    };
  } catch {
    return {
      name: 'agent',
      status: 'fail',
      detail: `nothing answers at ${deps.consoleUrl}`,
      fix: 'sudo systemctl status aide-device; journalctl -u aide-device -n 50',
    };
  }
}

export function formatChecks(checks: Check[]): string {
  const mark = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL' } as const;
  const lines = checks.map(
    (c) => `${mark[c.status]}  ${c.name.padEnd(13)} ${c.detail}${c.fix ? `\n      fix: ${c.fix}` : ''}`,
  );
  const fails = checks.filter((c) => c.status === 'fail').length;
  const warns = checks.filter((c) => c.status === 'warn').length;
  lines.push(
    fails
      ? `${fails} problem(s) to fix, ${warns} warning(s)`
      : warns
        ? `no problems, ${warns} warning(s)`
        : 'all good',
  );
  return lines.join('\n');
}

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Speech } from '../voice/tts.js';
import { bytesToPcm } from './wav.js';

const require = createRequire(import.meta.url);

export interface Microphone {
  stop(): void;
}

/**
 * Captures 16 kHz mono PCM16 from the sound card through node-record-lpcm16 (arecord or sox).
 * A missing or busy device ends with `onError` naming the recorder's complaint, never a throw.
 */
export function startMicrophone(
  opts: { device?: string; recorder: 'arecord' | 'sox' },
  onPcm: (pcm: Int16Array) => void,
  onError: (message: string) => void,
): Microphone {
  const record = require('node-record-lpcm16') as {
    record(o: Record<string, unknown>): {
      stream(): NodeJS.ReadableStream;
      stop(): void;
      process: import('node:child_process').ChildProcess;
    };
  };
  let stderr = '';
  let rec: ReturnType<typeof record.record>;
  try {
    rec = record.record({
      sampleRate: 16000,
      channels: 1,
      audioType: 'raw',
      recorder: opts.recorder,
      device: opts.device || undefined,
    });
  } catch (err) {
    onError((err as Error).message);
    return { stop() {} };
  }
  rec.process.stderr?.on('data', (d: Buffer | string) => {
    stderr += d.toString();
  });
  rec.process.on('error', (err) => onError(`${opts.recorder} could not start: ${err.message}`));
  let odd: Buffer = Buffer.alloc(0);
  rec.stream().on('data', (chunk: Buffer | string) => {
    // The library spawns with encoding 'binary': chunks may arrive as latin1 strings.
    const buf = Buffer.concat([odd, typeof chunk === 'string' ? Buffer.from(chunk, 'binary') : chunk]);
    const even = buf.length - (buf.length % 2);
    odd = buf.subarray(even);
    if (even) onPcm(bytesToPcm(Buffer.from(buf.subarray(0, even))));
  });
  rec
    .stream()
    .on('error', () =>
      onError(`${opts.recorder} stopped: ${stderr.trim().split('\n').pop() || 'no sound device'}`),
    );
  return { stop: () => rec.process.kill() };
}

export interface Speaker {
  /** What plays: the `speaker` addon (ALSA, in process) or an `aplay` child per sentence. */
  kind: 'speaker' | 'aplay';
  /** Resolves when the sentence has played, or at once when `signal` aborts (barge-in). */
  play(s: Speech, signal: AbortSignal): Promise<void>;
}

type SpeakerClass = new (
  opts: Record<string, unknown>,
) => NodeJS.WritableStream & {
  close(flush?: boolean): void;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
};

const addonPath = (): string | undefined => {
  try {
    return require.resolve('speaker');
  } catch {
    return undefined; // optional dependency not installed (or not built)
  }
};

/**
 * Can the `speaker` addon open this ALSA device? Asked in a child process: the addon fails an
 * assertion inside libasound (ending the whole process) when the device is missing, so the agent only
 * loads it after a child has played 10 ms of silence through it. Resolves with the reason it cannot.
 */
export function probeSpeakerAddon(device?: string, timeoutMs = 10_000): Promise<string | undefined> {
  const path = addonPath();
  if (!path) return Promise.resolve('the speaker package is not installed');
  const script = `const S = require(${JSON.stringify(path)});
const s = new S({ channels: 1, bitDepth: 16, sampleRate: 16000, device: process.argv[1] || undefined });
s.on('error', (e) => { console.error(e.message); process.exit(3); });
s.on('close', () => process.exit(0));
s.end(Buffer.alloc(320));`;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', script, device ?? ''], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: timeoutMs,
    });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('error', (e) => resolve(`speaker probe could not run: ${e.message}`));
    p.on('close', (code, sig) => {
      if (code === 0) return resolve(undefined);
      const why =
        err
          .trim()
          .split('\n')
          .find((l) => /cannot open device|error:/i.test(l)) ??
        err.trim().split('\n').pop() ??
        '';
      resolve(
        `${why.replace(/^\[[^\]]*\]\s*/, '') || `speaker probe ended with ${sig ?? code}`}${sig === 'SIGABRT' || code === 134 ? ' (libasound aborted)' : ''}`,
      );
    });
  });
}

/** Plays through the `speaker` addon: one ALSA stream per sentence, closed at once on barge-in. */
function addonSpeaker(device?: string): Speaker {
  const SpeakerAddon = require('speaker') as SpeakerClass;
  return {
    kind: 'speaker',
    play(s, signal) {
      return new Promise((resolve) => {
        if (signal.aborted) return resolve();
        const out = new SpeakerAddon({
          channels: 1,
          bitDepth: 16,
          sampleRate: s.sampleRate,
          device: device || undefined,
        });
        const done = () => {
          signal.removeEventListener('abort', stop);
          resolve();
        };
        const stop = () => out.close(false); // drops what is queued; 'close' follows
        out.on('close', done);
        out.on('error', done); // device gone mid-sentence: the sink logs nothing more
        signal.addEventListener('abort', stop, { once: true });
        out.end(Buffer.from(s.pcm.buffer, s.pcm.byteOffset, s.pcm.byteLength));
      });
    },
  };
}

/**
 * Opens the sound card for speech: the `speaker` addon (ALSA in process: no process spawned per
 * sentence) when a probe shows it can open the device, otherwise `aplay`. A missing or busy device is
 * an error naming both reasons, to report on /readyz, never a crash.
 */
export async function openSpeaker(
  device?: string,
  opts: { prefer?: 'speaker' | 'aplay' } = {},
): Promise<Speaker> {
  let addonProblem: string | undefined;
  if (opts.prefer !== 'aplay') {
    addonProblem = await probeSpeakerAddon(device);
    if (!addonProblem) return addonSpeaker(device);
  }
  try {
    return await openAplay(device);
  } catch (err) {
    const aplay = (err as Error).message;
    throw new Error(addonProblem ? `speaker: ${addonProblem}; aplay: ${aplay}` : aplay);
  }
}

/**
 * Plays speech on the sound card with aplay (ALSA) in a child process, the fallback when the
 * `speaker` addon is not installed or cannot open the device.
 * The device is probed first, so a missing or busy one is an error to report, not a crash.
 */
async function openAplay(device?: string): Promise<Speaker> {
  const dev = device ? ['-D', device] : [];
  const aplay = (rate: number, signal?: AbortSignal) =>
    spawn('aplay', ['-q', ...dev, '-t', 'raw', '-f', 'S16_LE', '-c', '1', '-r', String(rate), '-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
      signal,
    });
  await new Promise<void>((resolve, reject) => {
    const p = aplay(16000);
    let err = '';
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('error', (e) => reject(new Error(`aplay could not start: ${e.message}`)));
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(err.trim().split('\n').pop() || `aplay exited with ${code}`)),
    );
    // aplay exits at once when there is no sound card; writing to it then must not crash the agent.
    p.stdin!.on('error', () => {});
    p.stdin!.end(Buffer.alloc(320));
  });
  return {
    kind: 'aplay',
    play(s, signal) {
      return new Promise((resolve) => {
        const p = aplay(s.sampleRate, signal);
        p.on('error', () => resolve()); // aborted (barge-in) or device gone: the sink logs nothing more
        p.on('close', () => resolve());
        p.stdin!.on('error', () => {});
        p.stdin!.end(Buffer.from(s.pcm.buffer, s.pcm.byteOffset, s.pcm.byteLength));
      });
    },
  };
}

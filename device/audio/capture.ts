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
  rec.process.stderr?.on('data', (d: Buffer | string) => void (stderr += d.toString()));
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

/**
 * Plays speech on the sound card with aplay (ALSA) in a child process. Not the `speaker` addon: with a
 * missing ALSA device it fails an assertion inside libasound and ends the whole agent (seen here).
 * The device is probed first, so a missing or busy one is an error to report, not a crash.
 */
export async function openSpeaker(
  device?: string,
): Promise<{ play(s: Speech, signal: AbortSignal): Promise<void> }> {
  const dev = device ? ['-D', device] : [];
  const aplay = (rate: number, signal?: AbortSignal) =>
    spawn('aplay', ['-q', ...dev, '-t', 'raw', '-f', 'S16_LE', '-c', '1', '-r', String(rate), '-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
      signal,
    });
  await new Promise<void>((resolve, reject) => {
    const p = aplay(16000);
    let err = '';
    p.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
    p.on('error', (e) => reject(new Error(`aplay could not start: ${e.message}`)));
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(err.trim().split('\n').pop() || `aplay exited with ${code}`)),
    );
    // aplay exits at once when there is no sound card; writing to it then must not crash the agent.
    p.stdin!.on('error', () => {});
    p.stdin!.end(Buffer.alloc(320));
  });
  return {
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

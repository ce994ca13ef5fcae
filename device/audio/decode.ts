import { spawn } from 'node:child_process';
import { invalidArgument, payloadTooLarge, unsupportedMediaType } from '../../common/errors.js';
import { bytesToPcm, dbfs, parseWav, SAMPLE_RATE } from './wav.js';

/** Content types the voice API accepts (anything else is 415 naming what was sent). */
export const acceptedAudioTypes = [
  'audio/wav',
  'audio/x-wav',
  'audio/wave',
  'audio/vnd.wave',
  'audio/webm',
  'audio/ogg',
  'audio/opus',
  'audio/mpeg',
  'audio/mp3',
  'application/octet-stream',
] as const;

export interface AudioLimits {
  maxBytes: number;
  maxSeconds: number;
  /** Below this RMS level (dBFS) the whole recording counts as silence. */
  silenceDbfs?: number;
}

export const baseType = (contentType: string | undefined) =>
  (contentType ?? '').split(';')[0]!.trim().toLowerCase();

export function checkContentType(contentType: string | undefined): void {
  const t = baseType(contentType);
  if (!(acceptedAudioTypes as readonly string[]).includes(t)) {
    throw unsupportedMediaType(
      `content-type must be one of audio/wav, audio/webm, audio/ogg, audio/mpeg; got ${t || 'none'}`,
      {
        details: [
          { field: 'content-type', rule: 'audio', message: `unsupported content type ${t || 'none'}` },
        ],
      },
    );
  }
}

const audioError = (rule: string, message: string) =>
  invalidArgument(message, { details: [{ field: 'audio', rule, message }] });

/**
 * Turns an uploaded recording (WAV 8–48 kHz mono/stereo, WebM/Ogg Opus, MP3) into 16 kHz mono PCM16.
 * WAV at 16 kHz mono is read directly; everything else goes through ffmpeg. Empty, truncated,
 * undecodable, too long and silent recordings are refused with an error naming the problem.
 */
export async function decodeAudio(
  buf: Buffer,
  contentType: string | undefined,
  limits: AudioLimits,
): Promise<Int16Array> {
  checkContentType(contentType);
  if (buf.length === 0) throw audioError('required', 'audio: the recording is empty (0 bytes)');
  if (buf.length > limits.maxBytes) {
    throw payloadTooLarge(`audio: the recording is ${buf.length} bytes, the limit is ${limits.maxBytes}`);
  }
  const t = baseType(contentType);
  const looksWav = buf.length >= 4 && buf.toString('ascii', 0, 4) === 'RIFF';
  if (t.includes('wav') && !looksWav) throw audioError('format', 'audio: not a WAV file (no RIFF header)');
  let pcm: Int16Array;
  const wav = looksWav ? parseWav(buf) : undefined;
  if (looksWav && !wav && buf.length < 44)
    throw audioError('truncated', `audio: the WAV header is truncated (${buf.length} bytes)`);
  if (wav?.sampleRate && (wav.sampleRate < 8000 || wav.sampleRate > 48000)) {
    throw audioError(
      'sample_rate',
      `audio: sample rate must be between 8000 and 48000 Hz, got ${wav.sampleRate}`,
    );
  }
  if (wav && wav.sampleRate === SAMPLE_RATE && wav.channels === 1) {
    pcm = wav.pcm;
  } else {
    pcm = await ffmpegTo16k(buf, limits.maxSeconds);
  }
  if (pcm.length === 0)
    throw audioError('truncated', 'audio: the recording holds no samples (truncated or empty)');
  const seconds = pcm.length / SAMPLE_RATE;
  if (seconds > limits.maxSeconds + 0.05) {
    throw audioError(
      'max_duration',
      `audio: the recording is ${seconds.toFixed(1)} s, the limit is ${limits.maxSeconds} s`,
    );
  }
  if (dbfs(pcm) < (limits.silenceDbfs ?? -60))
    throw audioError('silent', 'audio: the recording is silent (no speech heard)');
  return pcm;
}

/** ffmpeg decode + resample to 16 kHz mono s16le; stops reading one second past the limit. */
export function ffmpegTo16k(input: Buffer, maxSeconds: number): Promise<Int16Array> {
  return new Promise((resolve, reject) => {
    const ff = spawn(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-i',
        'pipe:0',
        '-t',
        String(maxSeconds + 1),
        '-ac',
        '1',
        '-ar',
        String(SAMPLE_RATE),
        '-f',
        's16le',
        'pipe:1',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 },
    );
    const out: Buffer[] = [];
    let err = '';
    ff.stdout.on('data', (d: Buffer) => out.push(d));
    ff.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    ff.stdin.on('error', () => {}); // ffmpeg may stop reading early (limit reached, bad input)
    ff.on('error', (e) => reject(audioError('decoder', `audio: decoder unavailable (${e.message})`)));
    ff.on('close', (code) => {
      const data = Buffer.concat(out);
      if (code !== 0 && data.length === 0) {
        const why = err.split('\n').find((l) => l.trim()) ?? `ffmpeg exit ${code}`;
        return reject(
          audioError(
            'decode',
            `audio: could not decode the recording (corrupt, truncated or unsupported): ${why.slice(0, 160)}`,
          ),
        );
      }
      resolve(bytesToPcm(data));
    });
    ff.stdin.end(input);
  });
}

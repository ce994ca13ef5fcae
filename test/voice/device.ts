import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pcmToWav } from '../../device/audio/wav.js';
import { loadDeviceConfig } from '../../device/config.js';
import { type DeviceHandle, startDevice } from '../../device/main.js';
import { createEspeakTts, createFliteTts } from '../../device/voice/tts.js';

/** A whole device on a free port with a temporary data folder (voice variables overridable). */
export async function startVoiceDevice(env: Record<string, string> = {}): Promise<DeviceHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'aide-voice-'));
  return startDevice(
    loadDeviceConfig({ env: { AIDE_DATA_DIR: dir, AIDE_PORT: '0', AIDE_LOG_LEVEL: 'silent', ...env } }),
  );
}

const engines = { espeak: createEspeakTts(), flite: createFliteTts() };

/** Speaks `text` with a Debian engine into a WAV at the engine's own sample rate. */
export async function synthWav(
  text: string,
  v: { engine: 'espeak' | 'flite'; voice: string; rate: number },
): Promise<Buffer> {
  const s = await engines[v.engine].synthesize(
    text,
    { voice: v.voice, rate: v.rate },
    new AbortController().signal,
  );
  return pcmToWav(s.pcm, s.sampleRate);
}

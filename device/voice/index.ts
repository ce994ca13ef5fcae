import { resolve } from 'node:path';
import type { FastifyInstance } from '../../common/http.js';
import type { Agent } from '../agent/turn.js';
import type { DeviceContext } from '../context.js';
import { resolveModel } from '../models/store.js';
import { startLocalAudio } from './local.js';
import { registerVoiceRoutes } from './routes.js';
import { createVoice, type Voice } from './service.js';
import { createEnergyVad, loadSileroVad, type Vad } from './vad.js';

export type { Voice } from './service.js';

export interface VoiceSubsystem {
  voice: Voice;
  newVad: () => Vad;
  /** Adds /api/voice/* and the session WebSocket to the console. */
  register(app: FastifyInstance): Promise<void>;
}

/**
 * Starts the voice pipeline: speech engines in configured order with fallbacks, and the VAD (Silero,
 * verified against the manifest before loading; an energy detector when it cannot be used). What
 * serves and why is on /readyz under "voice" and "vad".
 */
export async function startVoice(ctx: DeviceContext): Promise<VoiceSubsystem> {
  const voice = createVoice(ctx, { agent: () => (ctx as DeviceContext & { agent?: Agent }).agent });
  ctx.lifecycle.onShutdown('voice', () => voice.close());
  let newVad: () => Vad;
  try {
    const { dir, entry } = resolveModel(resolve(ctx.config.AIDE_MODELS_DIR), 'vad');
    newVad = await loadSileroVad(resolve(dir, entry.files[0]!.name));
    ctx.readiness.set('vad', { ready: true, detail: `silero (${entry.id})` });
  } catch (err) {
    const reason = (err as Error).message;
    ctx.log.warn({ reason }, 'silero VAD not available, using the energy detector');
    newVad = () => createEnergyVad();
    ctx.readiness.set('vad', { ready: true, detail: `energy (silero: ${reason})` });
  }
  ctx.readiness.set('wake', {
    ready: true,
    optional: true,
    detail: ctx.config.AIDE_WAKE_MODEL
      ? `configured: ${ctx.config.AIDE_WAKE_MODEL} (not run by this build)`
      : 'push-to-talk / console (no wake model configured)',
  });
  const stopLocal = startLocalAudio(ctx, voice, newVad);
  ctx.lifecycle.onShutdown('audio', stopLocal);
  return { voice, newVad, register: (app) => registerVoiceRoutes(app, ctx, voice, newVad) };
}

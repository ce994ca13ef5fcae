import { join, resolve } from 'node:path';
import type { FastifyInstance } from '../../common/http.js';
import type { Agent } from '../agent/turn.js';
import type { DeviceContext } from '../context.js';
import { resolveModel } from '../models/store.js';
import { startLocalAudio } from './local.js';
import { registerVoiceRoutes } from './routes.js';
import { createVoice, type Voice } from './service.js';
import { createEnergyVad, loadSileroVad, type Vad } from './vad.js';
import { loadWakeWord, type NewWake } from './wake.js';

export type { Voice } from './service.js';

/**
 * The wake-phrase detector when AIDE_WAKE_MODEL names a manifest model (or a custom classifier .onnx
 * used with the manifest's openWakeWord feature models); undefined means push-to-talk / console only.
 */
async function loadWake(ctx: DeviceContext): Promise<NewWake | undefined> {
  const configured = ctx.config.AIDE_WAKE_MODEL;
  if (!configured) {
    ctx.readiness.set('wake', {
      ready: true,
      optional: true,
      detail: 'push-to-talk / console (no wake model configured)',
    });
    return undefined;
  }
  const root = resolve(ctx.config.AIDE_MODELS_DIR);
  try {
    const features = resolveModel(root, 'wake-features');
    const custom = configured.endsWith('.onnx');
    const wake = custom ? undefined : resolveModel(root, 'wake', { id: configured });
    const classifier = custom ? resolve(configured) : join(wake!.dir, wake!.entry.files[0]!.name);
    const make = await loadWakeWord({
      melspectrogram: join(features.dir, 'melspectrogram.onnx'),
      embedding: join(features.dir, 'embedding_model.onnx'),
      classifier,
    });
    const licence = wake?.entry.nonCommercial ? ' — NON-COMMERCIAL licence (CC BY-NC-SA)' : '';
    ctx.readiness.set('wake', {
      ready: true,
      optional: true,
      detail: `${wake?.entry.id ?? classifier}${licence}`,
    });
    return make;
  } catch (err) {
    const reason = (err as Error).message;
    ctx.log.warn({ reason }, 'wake word not available, push-to-talk only');
    ctx.readiness.set('wake', { ready: false, optional: true, detail: `push-to-talk only (${reason})` });
    return undefined;
  }
}

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
  const newWake = await loadWake(ctx);
  const stopLocal = startLocalAudio(ctx, voice, newVad, newWake);
  ctx.lifecycle.onShutdown('audio', stopLocal);
  return { voice, newVad, register: (app) => registerVoiceRoutes(app, ctx, voice, newVad, newWake) };
}

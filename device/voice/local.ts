import { openSpeaker, startMicrophone } from '../audio/capture.js';
import type { DeviceContext } from '../context.js';
import type { Voice } from './service.js';
import { createEndpointer, type Vad } from './vad.js';
import type { NewWake } from './wake.js';

/**
 * The speaker-and-microphone loop of a real device (AIDE_AUDIO_CAPTURE=true): VAD on the microphone,
 * each utterance a turn, replies spoken on the sound card, speech during a non-emergency reply stops
 * it. A missing or busy sound device is reported on /readyz ("audio") and retried, never a crash.
 */
export function startLocalAudio(
  ctx: DeviceContext,
  voice: Voice,
  newVad: () => Vad,
  newWake?: NewWake,
): () => void {
  const c = ctx.config;
  if (!c.AIDE_AUDIO_CAPTURE) {
    ctx.readiness.set('audio', {
      ready: true,
      optional: true,
      detail: 'off (AIDE_AUDIO_CAPTURE=false): console and WebSocket only',
    });
    return () => {};
  }
  let stopped = false;
  let retry: ReturnType<typeof ctx.clock.setTimeout> | undefined;
  let mic: { stop(): void } | undefined;
  let detach: (() => void) | undefined;
  let emergencyPlaying = false;

  const fail = (what: string, message: string) => {
    ctx.readiness.set('audio', {
      ready: false,
      optional: true,
      detail: `${what} unavailable: ${message} (retrying every 30 s)`,
    });
    ctx.log.warn({ what, reason: message }, 'sound device unavailable');
    mic?.stop();
    mic = undefined;
    detach?.();
    detach = undefined;
    if (!stopped && !retry)
      retry = ctx.clock.setTimeout(() => {
        retry = undefined;
        void start();
      }, 30_000);
  };

  async function start() {
    let speaker: Awaited<ReturnType<typeof openSpeaker>>;
    try {
      speaker = await openSpeaker(c.AIDE_AUDIO_OUT_DEVICE);
    } catch (err) {
      return fail('speaker', (err as Error).message);
    }
    detach = voice.attachSink({
      id: 'speaker',
      async play(s, meta, signal) {
        emergencyPlaying = meta.emergency;
        try {
          await speaker.play(s, signal);
        } finally {
          emergencyPlaying = false;
        }
      },
    });
    // With a wake model, only the utterance after "hey …" becomes a turn (within 8 s).
    const wake = newWake?.();
    let armedUntil = 0;
    let skipCurrent = false;
    // Each utterance is recognized while it is spoken: the end of speech only finalizes.
    let listening: ReturnType<Voice['listen']> | undefined;
    const endpointer = createEndpointer(newVad(), {
      threshold: c.AIDE_VAD_THRESHOLD,
      silenceMs: c.AIDE_VAD_SILENCE_MS,
      maxUtteranceMs: c.AIDE_VOICE_MAX_SECONDS * 1000,
      onUtteranceAudio(pcm, first) {
        if (first) {
          listening?.cancel();
          listening = !wake || Date.now() < armedUntil ? voice.listen() : undefined;
        }
        listening?.push(pcm);
      },
    });
    voice.warm();
    let chain = Promise.resolve();
    mic = startMicrophone(
      { device: c.AIDE_AUDIO_IN_DEVICE, recorder: c.AIDE_AUDIO_RECORDER },
      (pcm) => {
        chain = chain
          .then(async () => {
            if (wake && (await wake.push(pcm)) >= 0.5 && Date.now() > armedUntil) {
              armedUntil = Date.now() + 8000;
              skipCurrent = endpointer.speaking;
              if (!emergencyPlaying) voice.interrupt();
            }
            for (const ev of await endpointer.push(pcm)) {
              if (ev.type === 'speech_start') {
                if (!wake && !emergencyPlaying) voice.interrupt();
              } else if (wake && (skipCurrent || Date.now() >= armedUntil)) {
                skipCurrent = false;
                listening?.cancel();
                listening = undefined;
              } else {
                armedUntil = 0;
                const l = listening;
                listening = undefined;
                const heard = await (l ? l.finish(ev.pcm) : voice.transcribe(ev.pcm));
                const outcome = await voice.respond(heard, {});
                void voice.speak(outcome.reply, { emergency: outcome.emergency });
              }
            }
          })
          .catch((err) => ctx.log.warn({ reason: (err as Error).message }, 'local voice turn failed'));
      },
      (message) => fail('microphone', message),
    );
    ctx.readiness.set('audio', {
      ready: true,
      optional: true,
      detail: `microphone ${c.AIDE_AUDIO_IN_DEVICE || 'default'} (${c.AIDE_AUDIO_RECORDER}), speaker ${c.AIDE_AUDIO_OUT_DEVICE || 'default'} (${speaker.kind})`,
    });
  }
  void start();
  return () => {
    stopped = true;
    if (retry) ctx.clock.clearTimeout(retry);
    mic?.stop();
    detach?.();
  };
}

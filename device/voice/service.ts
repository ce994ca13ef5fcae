import { join, resolve } from 'node:path';
import { invalidArgument, unavailable } from '../../common/errors.js';
import { withTimeout } from '../../common/resilience.js';
import { detectEmergency } from '../agent/safety.js';
import type { ActionRecord, Agent } from '../agent/turn.js';
import { concatPcm, durationMs, pcmToWav } from '../audio/wav.js';
import type { DeviceContext } from '../context.js';
import { activeModelDir } from '../models/store.js';
import { getSetting, setSetting } from '../store/settings.js';
import {
  type AsrEngine,
  createPocketSphinxAsr,
  createSherpaAsr,
  debianGeneralModel,
  type Transcript,
} from './asr.js';
import { describeSlots, firstThatWorks, loadEngines } from './engines.js';
import { trimmedGeneralModel } from './general-model.js';
import { ensureGrammar } from './grammar.js';
import { remoteEngines } from './remote.js';
import {
  createEspeakTts,
  createFliteTts,
  createSherpaTts,
  type Speech,
  scaleVolume,
  splitSentences,
  type TtsEngine,
} from './tts.js';

export interface Heard {
  text: string;
  confidence: number;
  engine: string;
  durationMs: number;
  /** True when the recognizer was too unsure: the text is not passed to the agent. */
  rejected: boolean;
  /** PocketSphinx: which model's result was taken (the domain model or the general second pass). */
  pass?: 'domain' | 'general';
}

/** Percent of full level below which emergency instructions are never played (see speech.volume). */
export const EMERGENCY_MIN_VOLUME = 80;

export interface VoicePrefs {
  /** Silence that ends this person's utterances (adapted as they speak). */
  silenceMs?: number;
  voice?: string;
  rate?: number;
}

/** An utterance recognized while it is spoken (see `Voice.listen`). */
export interface Listening {
  /** The utterance's audio as it arrives (16 kHz PCM16, from its first sample). */
  push(pcm: Int16Array): void;
  /** End of speech: `pcm` is the whole utterance (a prefix of what was pushed). */
  finish(pcm: Int16Array): Promise<Heard>;
  /** Not a turn after all (wake mode): the result is dropped. */
  cancel(): void;
}

/** A place spoken audio goes: the speaker, a browser session, a file. */
export interface AudioSink {
  id: string;
  /** Called per sentence; resolves when the sink has taken it (played or sent). */
  play(speech: Speech, meta: { text: string; emergency: boolean }, signal: AbortSignal): Promise<void>;
}

export interface TurnOutcome {
  transcript: Heard;
  reply: string;
  actions: ActionRecord[];
  emergency: boolean;
}

export interface Voice {
  transcribe(pcm: Int16Array): Promise<Heard>;
  /**
   * Starts recognizing an utterance while it is spoken (engines that stream, PocketSphinx: the end of
   * speech then only finalizes); `onPartial` gets the words heard so far at pauses. Engines that do not
   * stream transcribe the whole utterance at `finish`.
   */
  listen(onPartial?: (text: string) => void): Listening;
  /** Loads lazily loaded models and caches fixed phrases now (a talk session is starting). */
  warm(): void;
  /** Synthesizes sentence by sentence; yields each as soon as it is ready. */
  synthesize(
    text: string,
    prefs?: VoicePrefs & { personId?: string; emergency?: boolean },
    signal?: AbortSignal,
  ): AsyncGenerator<Speech & { text: string; engine: string }>;
  /** Whole reply as one WAV (for POST /api/voice/speak and /turn). */
  synthesizeWav(
    text: string,
    prefs?: VoicePrefs & { personId?: string; emergency?: boolean },
  ): Promise<{ wav: Buffer; engine: string }>;
  /**
   * Recognized text → the agent's turn (rejected transcripts get a "say again" without calling it,
   * unless they read as emergency language: those run as a turn so the emergency path answers).
   */
  respond(heard: Heard, opts?: { personId?: string; signal?: AbortSignal }): Promise<TurnOutcome>;
  /**
   * The device's spoken output path (reminders use it): speaks on every attached sink. Emergency
   * speech is never interrupted; other speech stops when `interrupt()` is called (barge-in).
   */
  speak(text: string, opts?: { personId?: string; emergency?: boolean }): Promise<void>;
  attachSink(sink: AudioSink): () => void;
  /** Stops non-emergency playback on all sinks. */
  interrupt(): void;
  engines(): { asr?: string; tts?: string };
  /** The voices the speaking engine has here (lower case), or undefined when it cannot list them. */
  voices(): { engine: string; voices: string[] } | undefined;
  /** The person's stored voice settings (voice, rate, silenceMs). */
  personPrefs(personId: string): VoicePrefs;
  /** Remembers a setting for the person (e.g. adapted end-of-speech silence). */
  setPersonPrefs(personId: string, patch: VoicePrefs): void;
  /** Stops the engines' long-running processes. */
  close(): void;
}

const sayAgain = "Sorry, I didn't catch that. Could you say it again?";

export function createVoice(ctx: DeviceContext, deps: { agent?: () => Agent | undefined } = {}): Voice {
  const { config: c, log, metrics } = ctx;
  const modelsDir = resolve(c.AIDE_MODELS_DIR);
  const list = (s: string) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const sherpaDir = (configured: string | undefined, task: 'asr' | 'tts') => {
    const dir = configured ? resolve(configured) : activeModelDir(modelsDir, task);
    if (!dir) throw unavailable(`no ${task} model installed (aide models fetch, then aide models use)`);
    return dir;
  };
  const remote = remoteEngines(c, { log, metrics, readiness: ctx.readiness });
  const asrSlots = loadEngines<AsrEngine>(
    list(c.AIDE_ASR_ENGINES),
    {
      remote: remote.asr,
      sherpa: () => createSherpaAsr(sherpaDir(c.AIDE_ASR_MODEL, 'asr')),
      pocketsphinx: () => {
        const dirs = [join(modelsDir, 'grammar'), join(resolve(c.AIDE_DATA_DIR), 'grammar')];
        const domain = ensureGrammar(dirs);
        return createPocketSphinxAsr({
          domain,
          // Dictionary trimmed to the 20 000 likeliest words: ~40 MB less and 2–3× faster than cmudict.
          general: trimmedGeneralModel(debianGeneralModel(), { dirs, domainDict: domain.dict }),
          acceptConfidence: c.AIDE_ASR_ACCEPT_CONFIDENCE,
        });
      },
    },
    log,
    'asr',
  );
  const ttsSlots = loadEngines<TtsEngine>(
    list(c.AIDE_TTS_ENGINES),
    {
      remote: remote.tts,
      sherpa: () => createSherpaTts(sherpaDir(c.AIDE_TTS_MODEL, 'tts')),
      espeak: () => createEspeakTts(c.AIDE_TTS_VOICE),
      flite: () => createFliteTts(),
    },
    log,
    'tts',
  );
  const asrState = describeSlots(asrSlots);
  const ttsState = describeSlots(ttsSlots);
  ctx.readiness.set('voice', {
    ready: Boolean(asrState.active && ttsState.active),
    detail: `asr: ${asrState.detail}; tts: ${ttsState.detail}`,
  });
  log.info({ asr: asrState.active ?? 'none', tts: ttsState.active ?? 'none' }, 'voice engines loaded');

  const rtf = metrics.histogram('aide_voice_real_time_factor', 'Engine processing time / audio duration', [
    'engine',
    'task',
  ]);
  const turns = metrics.counter('aide_voice_turns_total', 'Spoken turns', ['outcome']);
  const finalize = metrics.histogram(
    'aide_voice_asr_finalize_seconds',
    'End of speech → final transcript of an utterance recognized while spoken',
    ['engine'],
  );
  /** Synthesized sentences of fixed phrases ("say again", frequent answers), newest last. */
  const spoken = new Map<string, Speech & { engine: string }>();
  const SPOKEN_MAX = 32;
  const sinks = new Map<string, AudioSink>();
  let playback = new AbortController();

  const storedPrefs = (personId: string): VoicePrefs => {
    try {
      return JSON.parse(getSetting(ctx.db, `voice:${personId}`) ?? '{}') as VoicePrefs;
    } catch {
      return {};
    }
  };
  const prefsFor = (
    personId: string | undefined,
    given: VoicePrefs = {},
  ): Required<Pick<VoicePrefs, 'rate'>> & VoicePrefs => {
    const stored = personId ? storedPrefs(personId) : {};
    return {
      voice: given.voice ?? stored.voice ?? c.AIDE_TTS_VOICE,
      rate: given.rate ?? stored.rate ?? c.AIDE_TTS_RATE,
    };
  };

  async function* synthesize(
    text: string,
    prefs: VoicePrefs & { personId?: string; emergency?: boolean } = {},
    signal?: AbortSignal,
  ) {
    const opts = prefsFor(prefs.personId, prefs);
    // Volume (AIDE_TTS_VOLUME, the cloud's speech.volume) scales what is played; the cache keeps the
    // engine's own level. Emergency instructions are never quieter than EMERGENCY_MIN_VOLUME, even
    // when a caregiver turned the speaker right down.
    const volume = prefs.emergency ? Math.max(c.AIDE_TTS_VOLUME, EMERGENCY_MIN_VOLUME) : c.AIDE_TTS_VOLUME;
    const loud = <S extends Speech>(s: S): S => ({ ...s, pcm: scaleVolume(s.pcm, volume) });
    for (const sentence of splitSentences(text)) {
      if (signal?.aborted) return;
      const key = `${opts.voice ?? ''}|${opts.rate}|${sentence}`;
      const cached = spoken.get(key);
      if (cached) {
        spoken.delete(key); // most recently used last
        spoken.set(key, cached);
        yield { ...loud(cached), text: sentence };
        continue;
      }
      const t0 = performance.now();
      const { value, engine } = await firstThatWorks(
        ttsSlots,
        c.AIDE_TTS_TIMEOUT_MS,
        'synthesize',
        (e, s) => e.synthesize(sentence, opts, s),
        { log, metrics },
      );
      const seconds = value.pcm.length / value.sampleRate;
      if (seconds > 0) rtf.observe({ engine, task: 'tts' }, (performance.now() - t0) / 1000 / seconds);
      // Short sentences repeat ("Sorry, I didn't catch that.", confirmations): keep the audio.
      if (sentence.length <= 80) {
        spoken.set(key, { ...value, engine });
        if (spoken.size > SPOKEN_MAX) spoken.delete(spoken.keys().next().value!);
      }
      yield { ...loud(value), text: sentence, engine };
    }
  }

  const heardFrom = (value: Transcript, engine: string, pcm: Int16Array): Heard => ({
    text: value.text,
    confidence: Number(value.confidence.toFixed(3)),
    engine,
    durationMs: durationMs(pcm),
    rejected: !value.text || value.confidence < c.AIDE_ASR_REJECT_CONFIDENCE,
    ...(value.pass ? { pass: value.pass } : {}),
  });

  const voice: Voice = {
    listen(onPartial) {
      const engine = asrSlots.find((s) => s.engine)?.engine;
      const stream = engine?.begin?.(onPartial);
      if (!engine || !stream) return { push() {}, cancel() {}, finish: (pcm) => voice.transcribe(pcm) };
      return {
        push: (pcm) => stream.push(pcm),
        cancel: () => stream.cancel(),
        async finish(pcm) {
          const t0 = performance.now();
          try {
            const value = await withTimeout(c.AIDE_ASR_TIMEOUT_MS, `transcribe (${engine.name})`, (signal) =>
              stream.finish(signal, pcm.length),
            );
            finalize.observe({ engine: engine.name }, (performance.now() - t0) / 1000);
            return heardFrom(value, engine.name, pcm);
          } catch (err) {
            log.warn(
              { engine: engine.name, reason: (err as Error).message },
              'streamed recognition failed, transcribing the whole utterance',
            );
            return voice.transcribe(pcm);
          }
        },
      };
    },

    warm() {
      for (const s of asrSlots) s.engine?.warm?.();
      // The "say again" answer comes without the agent: have it ready.
      void (async () => {
        for await (const s of synthesize(sayAgain)) void s;
      })().catch(() => {});
    },

    async transcribe(pcm) {
      const t0 = performance.now();
      const { value, engine } = await firstThatWorks(
        asrSlots,
        c.AIDE_ASR_TIMEOUT_MS,
        'transcribe',
        (e, s) => e.transcribe(pcm, s),
        { log, metrics },
      );
      const ms = durationMs(pcm);
      if (ms > 0) rtf.observe({ engine, task: 'asr' }, (performance.now() - t0) / ms);
      return heardFrom(value, engine, pcm);
    },

    synthesize,

    async synthesizeWav(text, prefs) {
      if (!text.trim())
        throw invalidArgument('text must not be empty', {
          details: [{ field: 'text', rule: 'required', message: 'text must not be empty' }],
        });
      const parts: Int16Array[] = [];
      let rate = 0;
      let engine = '';
      for await (const s of synthesize(text, prefs)) {
        // Engines differ in sample rate; a fallback mid-reply is rare, keep the first rate.
        if (!rate) rate = s.sampleRate;
        engine ||= s.engine;
        parts.push(s.sampleRate === rate ? s.pcm : resampleLinear(s.pcm, s.sampleRate, rate));
        parts.push(new Int16Array(Math.round(rate * 0.25)));
      }
      return { wav: pcmToWav(concatPcm(parts), rate || 16000), engine };
    },

    async respond(heard, opts = {}) {
      // A low-confidence transcript that still reads as emergency language ("help i have fallen" heard
      // at 0.41) is run as a turn instead of answered "say again": the agent's own safety check (the
      // same detectEmergency it runs first) gives the emergency instructions and alerts the family.
      // Asking "did you say you have fallen?" was the other option, but an older person alone who has
      // fallen or cannot breathe may not manage a second, clearer answer, and every extra round costs
      // time; a false alarm costs a call from the family. Anything else stays rejected.
      if (heard.rejected && !(heard.text && detectEmergency(heard.text))) {
        turns.inc({ outcome: 'rejected' });
        return { transcript: heard, reply: sayAgain, actions: [], emergency: false };
      }
      const agent = deps.agent?.();
      if (!agent) throw unavailable('the agent is not running, so spoken turns cannot be answered');
      const result = await agent.runTurn({
        text: heard.text,
        personId: opts.personId,
        source: 'voice',
        signal: opts.signal,
      });
      turns.inc({ outcome: result.emergency ? 'emergency' : 'answered' });
      return {
        transcript: heard,
        reply: result.reply.text,
        actions: result.actions,
        emergency: result.emergency,
      };
    },

    async speak(text, opts = {}) {
      const signal = opts.emergency ? new AbortController().signal : playback.signal;
      for await (const s of synthesize(
        text,
        { personId: opts.personId, emergency: opts.emergency },
        signal,
      )) {
        if (signal.aborted) return;
        await Promise.all(
          [...sinks.values()].map((sink) =>
            sink
              .play(s, { text: s.text, emergency: Boolean(opts.emergency) }, signal)
              .catch((err) =>
                log.warn({ sink: sink.id, reason: (err as Error).message }, 'audio sink failed'),
              ),
          ),
        );
      }
    },

    attachSink(sink) {
      sinks.set(sink.id, sink);
      return () => void sinks.delete(sink.id);
    },

    interrupt() {
      playback.abort();
      playback = new AbortController();
    },

    engines: () => ({ asr: asrState.active, tts: ttsState.active }),

    voices() {
      const slot = ttsSlots.find((s) => s.engine);
      if (!slot?.engine?.voices) return undefined;
      return { engine: slot.engine.name, voices: slot.engine.voices() };
    },

    close() {
      for (const s of asrSlots) s.engine?.close?.();
    },

    personPrefs: (personId) => storedPrefs(personId),

    setPersonPrefs(personId, patch) {
      setSetting(
        ctx.db,
        ctx.clock,
        `voice:${personId}`,
        JSON.stringify({ ...storedPrefs(personId), ...patch }),
      );
    },
  };
  return voice;
}

/** Linear resampling, good enough to join sentences from engines with different rates. */
export function resampleLinear(pcm: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return pcm;
  const out = new Int16Array(Math.round((pcm.length * to) / from));
  for (let i = 0; i < out.length; i++) {
    const x = (i * from) / to;
    const i0 = Math.floor(x);
    const a = pcm[i0] ?? 0;
    const b = pcm[i0 + 1] ?? a;
    out[i] = Math.round(a + (b - a) * (x - i0));
  }
  return out;
}

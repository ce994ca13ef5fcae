import type { WebSocket } from 'ws';
import { AppError, toAppError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { bytesToPcm } from '../audio/wav.js';
import type { Heard, Listening, Voice } from './service.js';
import { createEndpointer, type Vad } from './vad.js';
import type { NewWake } from './wake.js';

export interface SessionDeps {
  voice: Voice;
  newVad: () => Vad;
  /** The wake-phrase detector, when one is installed and configured. */
  newWake?: NewWake;
  log: Logger;
  vadThreshold: number;
  silenceMs: number;
  maxUtteranceMs: number;
}

type ClientMessage =
  | { type: 'start'; personId?: string; wake?: boolean }
  | { type: 'end' }
  | { type: 'interrupt' }
  | { type: 'text'; text: string };

let nextId = 1;
const WAKE_THRESHOLD = 0.5;
/** After the wake phrase, the next utterance must start within this time. */
const WAKE_WINDOW_MS = 8000;
/** A new utterance this soon after the end we detected means we cut the person off. */
const ADAPT_MARGIN_MS = 600;
const ADAPT_STEP_MS = 300;
const MAX_SILENCE_MS = 2500;

/**
 * One talk session over a WebSocket (protocol in README.md, "Voice session protocol"): the client
 * streams 16 kHz PCM16 frames; the server endpoints them with the VAD, runs each utterance as a turn
 * and streams the reply back sentence by sentence. Speech during playback stops it (barge-in), except
 * during an emergency reply, which always plays to the end.
 */
export function runVoiceSession(
  socket: WebSocket,
  deps: SessionDeps,
  opts: { personId?: string } = {},
): void {
  const { voice, log } = deps;
  const id = `ws-${nextId++}`;
  let personId = opts.personId;
  // The utterance being recognized while it is spoken; its partial transcripts go to the client.
  let listening: Listening | undefined;
  const endpointer = createEndpointer(deps.newVad(), {
    threshold: deps.vadThreshold,
    silenceMs: deps.silenceMs,
    maxUtteranceMs: deps.maxUtteranceMs,
    onUtteranceAudio(pcm, first) {
      if (first) {
        listening?.cancel();
        // In wake mode only an utterance that starts after the wake phrase can be a turn.
        listening =
          !wake || Date.now() < armedUntil
            ? voice.listen((text) => send({ type: 'partial', text }))
            : undefined;
      }
      listening?.push(pcm);
    },
  });
  /** The utterance's recognition: finished now (streamed) or run whole. */
  const recognize = (pcm: Int16Array): Promise<Heard> => {
    const l = listening;
    listening = undefined;
    return l ? l.finish(pcm) : voice.transcribe(pcm);
  };
  const dropUtterance = () => {
    listening?.cancel();
    listening = undefined;
  };
  let inputChain = Promise.resolve();
  /** Push-to-talk releases received so far (frames sent before one skip the detectors). */
  let releases = 0;
  let turnChain = Promise.resolve();
  let playing: { ctrl: AbortController; emergency: boolean } | undefined;
  /** Wall-clock time when the client will have played everything sent so far. */
  let playEnd = 0;
  /** Until then the client is playing emergency speech, which is never cut off. */
  let emergencyUntil = 0;
  let closed = false;
  // Adaptive endpointing: a person who starts again just after we cut them off needs a longer pause.
  let lastEndSample = -1;
  const applyPrefs = () => {
    const ms = personId ? voice.personPrefs(personId).silenceMs : undefined;
    if (ms) endpointer.setSilenceMs(ms);
  };
  const adapt = (startSample: number) => {
    if (lastEndSample < 0) return;
    const gapMs = ((startSample - lastEndSample) / 16000) * 1000;
    if (gapMs >= endpointer.silenceMs + ADAPT_MARGIN_MS) return;
    endpointer.setSilenceMs(Math.min(MAX_SILENCE_MS, endpointer.silenceMs + ADAPT_STEP_MS));
    const next = endpointer.silenceMs; // whole VAD windows
    if (personId) voice.setPersonPrefs(personId, { silenceMs: next });
    send({ type: 'endpointing', silenceMs: next, gapMs: Math.round(gapMs) });
  };
  applyPrefs();
  // Wake mode (start {wake: true}): only the utterance after the wake phrase becomes a turn.
  let wake: ReturnType<NewWake> | undefined;
  let armedUntil = 0;
  let skipCurrent = false;

  const send = (msg: Record<string, unknown>) => {
    if (!closed && socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
  };
  const sendAudio = (pcm: Int16Array, sampleRate: number, meta: Record<string, unknown>) => {
    if (closed || socket.readyState !== socket.OPEN) return;
    socket.send(JSON.stringify({ type: 'audio', sampleRate, samples: pcm.length, ...meta }));
    socket.send(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    playEnd = Math.max(Date.now(), playEnd) + (pcm.length / sampleRate) * 1000;
    if (meta.emergency) emergencyUntil = playEnd;
  };
  const isPlaying = () => Date.now() < playEnd;

  const bargeIn = () => {
    if (!isPlaying()) return;
    if (playing?.emergency || Date.now() < emergencyUntil) return; // emergency instructions are never cut off
    playing?.ctrl.abort();
    voice.interrupt();
    playEnd = 0;
    send({ type: 'playback_stop', reason: 'barge-in' });
  };

  // The device's speak() path (reminders) also plays in this browser.
  const detach = voice.attachSink({
    id,
    async play(speech, meta) {
      sendAudio(speech.pcm, speech.sampleRate, {
        text: meta.text,
        emergency: meta.emergency,
        source: 'speak',
      });
    },
  });

  const speakReply = async (text: string, emergency: boolean) => {
    const ctrl = new AbortController();
    playing = { ctrl, emergency };
    try {
      for await (const s of voice.synthesize(
        text,
        { personId, emergency },
        emergency ? undefined : ctrl.signal,
      )) {
        if (ctrl.signal.aborted && !emergency) break;
        sendAudio(s.pcm, s.sampleRate, { text: s.text, emergency, engine: s.engine });
      }
    } finally {
      send({ type: 'audio_end', interrupted: ctrl.signal.aborted && !emergency });
      if (playing?.ctrl === ctrl) playing = undefined;
    }
  };

  const turn = (input: { heard?: Promise<Heard>; text?: string }) => {
    // Recognition starts at once (it must not wait for the previous reply); the turns stay in order.
    input.heard?.catch(() => {});
    turnChain = turnChain.then(async () => {
      try {
        const heard = input.heard
          ? await input.heard
          : { text: input.text ?? '', confidence: 1, engine: 'text', durationMs: 0, rejected: false };
        send({ type: 'transcript', final: true, ...heard });
        const outcome = await voice.respond(heard, { personId });
        send({
          type: 'reply',
          text: outcome.reply,
          actions: outcome.actions.map((a) => ({ tool: a.tool, ok: a.result.ok })),
          emergency: outcome.emergency,
        });
        await speakReply(outcome.reply, outcome.emergency);
      } catch (err) {
        const e = err instanceof AppError ? err : toAppError(err);
        log.warn({ session: id, code: e.code }, 'voice turn failed');
        send({ type: 'error', code: e.code, message: e.message });
      }
    });
  };

  const endOfUtterance = (pcm: Int16Array) => {
    if (!wake) {
      send({ type: 'vad', speaking: false });
      turn({ heard: recognize(pcm) });
    } else if (skipCurrent) {
      skipCurrent = false;
      dropUtterance();
      send({ type: 'vad', speaking: false, ignored: 'wake phrase' });
    } else if (Date.now() < armedUntil) {
      armedUntil = 0;
      send({ type: 'vad', speaking: false });
      turn({ heard: recognize(pcm) });
    } else {
      dropUtterance();
      send({ type: 'vad', speaking: false, ignored: 'no wake phrase' });
    }
  };

  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      const pcm = bytesToPcm(Buffer.isBuffer(data) ? data : Buffer.from(data));
      const beforeRelease = releases;
      inputChain = inputChain
        .then(async () => {
          // Frames still queued when the button was released: no wake/VAD work between release and reply.
          if (releases > beforeRelease) return void (await endpointer.append(pcm));
          if (wake) {
            const score = await wake.push(pcm);
            if (score >= WAKE_THRESHOLD && Date.now() > armedUntil) {
              armedUntil = Date.now() + WAKE_WINDOW_MS;
              skipCurrent = endpointer.speaking; // the utterance holding the wake phrase itself
              if (skipCurrent) dropUtterance();
              send({ type: 'wake', score: Number(score.toFixed(3)) });
              bargeIn();
            }
          }
          for (const ev of await endpointer.push(pcm)) {
            if (ev.type === 'speech_start') {
              send({ type: 'vad', speaking: true });
              adapt(ev.atSample);
              if (!wake) bargeIn();
            } else {
              lastEndSample = ev.endedAtSample;
              endOfUtterance(ev.pcm);
            }
          }
        })
        .catch((err) => log.warn({ session: id, reason: (err as Error).message }, 'vad failed'));
      return;
    }
    let msg: ClientMessage;
    try {
      msg = JSON.parse(data.toString()) as ClientMessage;
    } catch {
      send({
        type: 'error',
        code: 'invalid_argument',
        message: 'message: must be JSON text or binary PCM16 audio',
      });
      return;
    }
    if (msg.type === 'start') {
      if (typeof msg.personId === 'string') personId = msg.personId;
      applyPrefs();
      wake = msg.wake === true && deps.newWake ? deps.newWake() : undefined;
      voice.warm();
      send({ type: 'ready', sampleRate: 16000, engines: voice.engines(), wake: Boolean(wake) });
    } else if (msg.type === 'end') {
      releases++;
      inputChain = inputChain.then(() => {
        for (const ev of endpointer.flush())
          if (ev.type === 'speech_end') {
            // Push-to-talk: the press itself says "listen", wake phrase or not.
            send({ type: 'vad', speaking: false });
            turn({ heard: recognize(ev.pcm) });
          }
      });
    } else if (msg.type === 'interrupt') {
      bargeIn();
    } else if (msg.type === 'text' && typeof msg.text === 'string' && msg.text.trim()) {
      turn({ text: msg.text.trim().slice(0, 4000) });
    } else {
      send({
        type: 'error',
        code: 'invalid_argument',
        message: `type: must be start, end, interrupt or text, got ${String((msg as { type?: unknown }).type)}`,
      });
    }
  });
  socket.on('close', () => {
    closed = true;
    dropUtterance();
    playing?.ctrl.abort();
    detach();
  });
  socket.on('error', () => {});
}

import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { unavailable } from '../../common/errors.js';
import type { SphinxModel, Transcript } from './asr.js';

const fillers = /^(<s>|<\/s>|<sil>|\[.*\]|\+\+.*\+\+)$/;
/** Silence appended after each utterance so the decoder's own endpointer closes it. */
const TAIL_SECONDS = 1.2;
const RATE = 16000;
/** A decoder that neither read audio nor used CPU for this long has nothing left to do. */
const STALL_MS = 1500;
/** However slow the decoder, an utterance ends this long (plus its own length) after it was closed. */
const HARD_LIMIT_MS = 10_000;
const POLL_MS = 250;
const procReadable = (() => {
  try {
    readFileSync('/proc/self/io');
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/**
 * The pocketsphinx process of a process group (it runs behind `sh -c 'cat | exec …'`, so it is not the
 * spawned pid): scans /proc for the member named pocketsphinx*. Undefined while it has not exec'd yet.
 */
function findDecoderPid(group: number): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      if (!comm.startsWith('pocketsphinx')) continue;
      // After "(comm) ": state, ppid, pgrp, ...
      if (Number(stat.slice(close + 2).split(' ')[2]) === group) return Number(e);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return undefined;
}

/**
 * How far the decoder has got, as the bytes it has read (`rchar`) and the CPU ticks it has used: any
 * change means it is still working through the audio. Undefined when /proc cannot tell.
 */
function decoderProgress(pid: number): string | undefined {
  try {
    const rchar = /^rchar:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1];
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the command name.
    if (rchar === undefined || f[11] === undefined) return undefined;
    return `${rchar}:${f[11]}:${f[12]}`;
  } catch {
    return undefined;
  }
}

/**
 * One utterance decoded while it is spoken: audio goes to the decoder as it arrives, so the end of
 * speech only has to finalize (the decoder has already searched everything but the last ~100 ms).
 */
export interface UtteranceStream {
  push(pcm: Int16Array): void;
  /**
   * The utterance is over. `samples`: how much of what was pushed is the utterance (the endpointer
   * trims trailing silence); default all of it. Resolves with what was heard.
   */
  finish(signal: AbortSignal, samples?: number): Promise<Transcript>;
  /** Not a turn after all (wake mode): the decoder finishes it, the result is dropped. */
  cancel(): void;
}

export interface SphinxStreamOptions {
  /** Run the decoder at a lower CPU priority (the general second pass must not slow the domain pass). */
  nice?: number;
  /** Stop the decoder process after this long without audio (its model is loaded again when needed). */
  idleExitMs?: number;
  /**
   * An utterance the decoder has not finished ends this long plus the utterance's length after it was
   * closed, even while the decoder is still working (default 10 s).
   */
  hardLimitMs?: number;
}

/**
 * A long-running pocketsphinx_continuous reading raw 16 kHz PCM on stdin: the models load once (the
 * general model takes seconds to load on a Pi-class core), and cepstral normalisation adapts to the
 * room. Utterances are decoded one at a time, either whole (`transcribe`) or streamed while spoken
 * (`begin`). Each is followed by silence and finished when the decoder reports the end of a segment
 * past the utterance's end on its timeline. Segments the decoder closes at pauses inside a streamed
 * utterance are reported as partial transcripts.
 */
export function createSphinxStream(model: SphinxModel, extraArgs: string[], opts: SphinxStreamOptions = {}) {
  let proc: ChildProcess | undefined;
  let timeline = 0; // seconds of audio written since the process started
  let queue: Promise<unknown> = Promise.resolve();
  let busy = 0; // utterances queued or being decoded
  let onLine: ((line: string) => void) | undefined;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;

  const start = () => {
    const args = [
      '-infile',
      '/dev/stdin',
      '-lm',
      model.lm,
      '-dict',
      model.dict,
      '-time',
      'yes',
      '-logfn',
      '/dev/null',
      '-vad_postspeech',
      '80',
      ...extraArgs,
    ];
    if (model.hmm) args.push('-hmm', model.hmm);
    if (model.args) args.push(...model.args);
    const nice = opts.nice ? `nice -n ${Math.round(opts.nice)} ` : '';
    // Node's stdio "pipes" are sockets, which pocketsphinx cannot fopen as /dev/stdin: put a real pipe
    // (cat |) in front, in its own process group so the whole group is stopped together.
    const p = spawn('sh', ['-c', `cat | exec ${nice}pocketsphinx_continuous "$@"`, 'sh', ...args], {
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true,
    });
    p.stdin!.on('error', () => {});
    p.on('error', () => {});
    p.on('exit', () => {
      if (proc === p) proc = undefined;
    });
    createInterface({ input: p.stdout! }).on('line', (l) => onLine?.(l));
    // A decoder waiting for audio must not keep a finished process (or test) alive.
    p.unref();
    (p.stdout as unknown as { unref?(): void }).unref?.();
    (p.stdin as unknown as { unref?(): void }).unref?.();
    timeline = 0;
    proc = p;
    return p;
  };
  const pids = new WeakMap<ChildProcess, number>();
  /**
   * What the decoder behind `p` has done so far (a value that changes while it works); null while it is
   * not running yet; undefined when /proc cannot tell.
   */
  const progress = (p: ChildProcess): string | null | undefined => {
    if (!procReadable) return undefined;
    let pid = pids.get(p);
    if (pid === undefined && p.pid) {
      pid = findDecoderPid(p.pid);
      if (pid !== undefined) pids.set(p, pid);
    }
    return pid === undefined ? null : decoderProgress(pid);
  };
  const kill = (p: ChildProcess) => {
    try {
      if (p.pid) process.kill(-p.pid, 'SIGTERM');
    } catch {
      p.kill();
    }
  };
  const write = (p: ChildProcess, pcm: Int16Array) => {
    p.stdin!.write(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  };
  const touch = () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = undefined;
  };
  const idleLater = () => {
    if (!opts.idleExitMs || busy > 0) return;
    idleTimer = setTimeout(() => {
      idleTimer = undefined;
      if (busy === 0 && proc) kill(proc);
    }, opts.idleExitMs);
    idleTimer.unref();
  };
  /** Runs `job` after every earlier utterance, keeping count of the decoder's work. */
  const enqueue = <T>(job: () => Promise<T>): Promise<T> => {
    busy++;
    touch();
    const run = queue.then(job).finally(() => {
      busy--;
      idleLater();
    });
    queue = run.catch(() => {});
    return run;
  };

  /**
   * Decodes audio written from `begin` (seconds on the decoder's timeline) on: collects the words of
   * each segment that starts there, calls `onSegment` for segments that close before the end is known,
   * and resolves once a segment closes past `end` (set by `close`).
   */
  function listen(p: ChildProcess, begin: number, onSegment?: (text: string) => void) {
    const words: string[] = [];
    const probs: number[] = [];
    let segStart = begin;
    let lastSegEnd = -1;
    let end: number | undefined;
    let settle: ((err?: Error) => void) | undefined;
    const result = (): Transcript =>
      words.length
        ? { text: words.join(' '), confidence: probs.reduce((a, b) => a + b, 0) / probs.length }
        : { text: '', confidence: 0 };
    onLine = (line) => {
      const m = /^(\S+) (\d+\.\d+) (\d+\.\d+) (\d+\.\d+)$/.exec(line.trim());
      if (!m) return;
      const w = m[1]!.replace(/\(\d+\)$/, '');
      if (w === '<s>') {
        segStart = Number(m[2]);
        return;
      }
      // The tail of an earlier utterance (a segment may start up to 0.2 s, -vad_prespeech, before its speech).
      if (segStart < begin - 0.3) return;
      if (w === '</s>') {
        lastSegEnd = Number(m[3]);
        if (end !== undefined && lastSegEnd >= end - 0.05) settle?.();
        else if (end === undefined && words.length) onSegment?.(words.join(' '));
        return;
      }
      if (fillers.test(w)) return;
      words.push(w);
      probs.push(Number(m[4]));
    };
    return {
      /** Waits for the decoder to pass `endAt`; nothing heard at all ends after a grace period. */
      close(endAt: number, signal: AbortSignal, graceMs: number): Promise<Transcript> {
        end = endAt;
        return new Promise<Transcript>((resolve, reject) => {
          const finish = (err?: Error) => {
            clearInterval(noSpeech);
            p.off('exit', exited);
            onLine = undefined;
            settle = undefined;
            signal.removeEventListener('abort', abort);
            if (err) reject(err);
            else resolve(result());
          };
          const abort = () => {
            kill(p); // out of step with our timeline: start afresh next time
            finish(signal.reason instanceof Error ? signal.reason : unavailable('pocketsphinx aborted'));
          };
          const exited = () => finish(unavailable('pocketsphinx exited'));
          // Nothing heard at all: the decoder prints nothing. Give up once the grace period has passed
          // AND the decoder has stopped working (no audio read, no CPU used for STALL_MS): a decoder
          // running behind on a loaded core is still reading what was fed, and ending then would lose
          // the command. A hard limit ends it whatever the decoder does; without /proc, the grace alone.
          const closedAt = Date.now();
          const hardMs = (opts.hardLimitMs ?? HARD_LIMIT_MS) + (endAt - begin) * 1000;
          let seen = progress(p);
          let changedAt = closedAt;
          const check = () => {
            const now = Date.now();
            const cur = progress(p);
            if (cur === undefined) {
              if (now - closedAt >= graceMs) finish();
              return;
            }
            // null: the decoder has not started yet (loading counts as working).
            if (cur === null || cur !== seen) {
              seen = cur;
              changedAt = now;
            }
            if (now - closedAt >= hardMs || (now - closedAt >= graceMs && now - changedAt >= STALL_MS))
              finish();
          };
          const noSpeech = setInterval(check, POLL_MS);
          settle = finish;
          if (lastSegEnd >= endAt - 0.05) return finish(); // already closed during trailing silence
          if (signal.aborted) return abort();
          signal.addEventListener('abort', abort, { once: true });
          p.once('exit', exited);
        });
      },
    };
  }

  function decodeOne(pcm: Int16Array, signal: AbortSignal): Promise<Transcript> {
    const p = proc ?? start();
    const begin = timeline;
    const end = begin + pcm.length / RATE;
    const session = listen(p, begin);
    write(p, pcm);
    write(p, new Int16Array(Math.round(RATE * TAIL_SECONDS)));
    timeline = end + TAIL_SECONDS;
    return session.close(end, signal, 2000 + (end - begin) * 1000);
  }

  /** An utterance streamed live into the (idle) decoder. */
  function live(onPartial?: (text: string) => void): UtteranceStream {
    let finished: Promise<Transcript> | undefined;
    let release!: () => void;
    const done = new Promise<void>((r) => {
      release = r;
    });
    // Holds the decoder (and the queue) from now until the utterance is finished.
    void enqueue(() => done);
    const p = proc ?? start();
    const begin = timeline;
    let pushed = 0;
    const session = listen(p, begin, onPartial);
    let alive = true;
    const exited = () => {
      alive = false;
    };
    p.once('exit', exited);
    const stream: UtteranceStream = {
      push(pcm) {
        if (finished || !alive) return;
        write(p, pcm);
        pushed += pcm.length;
        timeline += pcm.length / RATE;
      },
      finish(signal, samples = pushed) {
        if (finished) return finished;
        const end = begin + Math.min(samples, pushed) / RATE;
        if (!alive) finished = Promise.reject(unavailable('pocketsphinx exited'));
        else {
          write(p, new Int16Array(Math.round(RATE * TAIL_SECONDS)));
          timeline += TAIL_SECONDS;
          // Grace for a decoder running behind real time on a loaded core.
          finished = session.close(end, signal, 2000 + (pushed / RATE) * 500);
        }
        const done = () => {
          p.off('exit', exited);
          release();
        };
        finished.then(done, done);
        return finished;
      },
      cancel() {
        stream.finish(new AbortController().signal).catch(() => {});
      },
    };
    return stream;
  }

  /** Another utterance holds the decoder: keep the audio, decode it whole when it is finished. */
  function buffered(): UtteranceStream {
    const parts: Int16Array[] = [];
    let pushed = 0;
    let finished: Promise<Transcript> | undefined;
    return {
      push(pcm) {
        if (finished) return;
        parts.push(pcm.slice());
        pushed += pcm.length;
      },
      finish(signal, samples = pushed) {
        if (finished) return finished;
        const all = new Int16Array(Math.min(samples, pushed));
        let off = 0;
        for (const p of parts) {
          if (off >= all.length) break;
          all.set(p.subarray(0, all.length - off), off);
          off += p.length;
        }
        finished = enqueue(() => decodeOne(all, signal));
        return finished;
      },
      cancel() {
        finished ??= Promise.resolve({ text: '', confidence: 0 });
      },
    };
  }

  return {
    transcribe(pcm: Int16Array, signal: AbortSignal): Promise<Transcript> {
      return enqueue(() => decodeOne(pcm, signal));
    },
    /** Starts an utterance decoded while it is spoken (whole at the end when the decoder is busy). */
    begin(onPartial?: (text: string) => void): UtteranceStream {
      return busy === 0 ? live(onPartial) : buffered();
    },
    /** The pocketsphinx process's pid (not its shell's), once it runs; undefined without /proc. */
    get decoderPid() {
      return proc && procReadable ? (pids.get(proc) ?? findDecoderPid(proc.pid ?? -1)) : undefined;
    },
    /** True while the decoder process runs (its models are loaded). */
    get running() {
      return proc !== undefined;
    },
    /** Loads the models now rather than on the first utterance. */
    warm() {
      if (!proc) start();
      touch();
      idleLater();
    },
    close() {
      touch();
      if (proc) kill(proc);
    },
  };
}

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { unavailable } from '../../common/errors.js';
import type { SphinxModel, Transcript } from './asr.js';

const fillers = /^(<s>|<\/s>|<sil>|\[.*\]|\+\+.*\+\+)$/;
/** Silence appended after each utterance so the decoder's own endpointer closes it. */
const TAIL_SECONDS = 1.2;

/**
 * A long-running pocketsphinx_continuous reading raw 16 kHz PCM on stdin: the models load once (the
 * general model takes seconds to load on a Pi-class core), and cepstral normalisation adapts to the
 * room. Utterances are decoded one at a time; each is followed by silence and finished when the
 * decoder reports the end of a segment past the utterance's end on its timeline.
 */
export function createSphinxStream(model: SphinxModel, extraArgs: string[]) {
  let proc: ChildProcess | undefined;
  let timeline = 0; // seconds of audio written since the process started
  let queue: Promise<unknown> = Promise.resolve();
  let onLine: ((line: string) => void) | undefined;

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
    // Node's stdio "pipes" are sockets, which pocketsphinx cannot fopen as /dev/stdin: put a real pipe
    // (cat |) in front, in its own process group so the whole group is stopped together.
    const p = spawn('sh', ['-c', 'cat | exec pocketsphinx_continuous "$@"', 'sh', ...args], {
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
  const kill = (p: ChildProcess) => {
    try {
      if (p.pid) process.kill(-p.pid, 'SIGTERM');
    } catch {
      p.kill();
    }
  };

  function decodeOne(pcm: Int16Array, signal: AbortSignal): Promise<Transcript> {
    const p = proc ?? start();
    const begin = timeline;
    const end = begin + pcm.length / 16000;
    const tail = new Int16Array(Math.round(16000 * TAIL_SECONDS));
    timeline = end + TAIL_SECONDS;
    return new Promise<Transcript>((resolve, reject) => {
      const words: string[] = [];
      const probs: number[] = [];
      const finish = (err?: Error) => {
        clearTimeout(noSpeech);
        p.off('exit', exited);
        onLine = undefined;
        signal.removeEventListener('abort', abort);
        if (err) return reject(err);
        resolve(
          words.length
            ? { text: words.join(' '), confidence: probs.reduce((a, b) => a + b, 0) / probs.length }
            : { text: '', confidence: 0 },
        );
      };
      const abort = () => {
        kill(p); // out of step with our timeline: start afresh next time
        finish(signal.reason instanceof Error ? signal.reason : unavailable('pocketsphinx aborted'));
      };
      const exited = () => finish(unavailable('pocketsphinx exited'));
      signal.addEventListener('abort', abort, { once: true });
      p.once('exit', exited);
      // Nothing heard at all: the decoder prints nothing; give up a while after the audio should be done.
      const noSpeech = setTimeout(() => finish(), 2000 + (end - begin) * 1000);
      onLine = (line) => {
        const m = /^(\S+) (\d+\.\d+) (\d+\.\d+) (\d+\.\d+)$/.exec(line.trim());
        if (!m) return;
        const w = m[1]!.replace(/\(\d+\)$/, '');
        if (w === '</s>') {
          if (Number(m[3]) >= end - 0.05) finish();
          return;
        }
        if (fillers.test(w)) return;
        words.push(w);
        probs.push(Number(m[4]));
      };
      p.stdin!.write(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
      p.stdin!.write(Buffer.from(tail.buffer));
    });
  }

  return {
    transcribe(pcm: Int16Array, signal: AbortSignal): Promise<Transcript> {
      const run = queue.then(() => decodeOne(pcm, signal));
      queue = run.catch(() => {});
      return run;
    },
    /** Loads the models now rather than on the first utterance. */
    warm() {
      if (!proc) start();
    },
    close() {
      if (proc) kill(proc);
    },
  };
}

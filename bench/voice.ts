/**
 * Voice latency and cost, on this machine, in one run:
 *  - end of speech → first reply audio byte over /api/voice/session (push-to-talk release, and VAD
 *    endpointing with the configured silence), p50/p95, for 2–5 s spoken commands;
 *  - baseline from the same run: a typed turn over the same socket (agent + TTS, no ASR);
 *  - real-time factor of each engine (PocketSphinx, espeak-ng, flite, Silero VAD);
 *  - resident memory of the agent with its engines loaded.
 * The agent runs pinned to one core (`taskset -c 0`) as a stand-in for one Pi core.
 * Run: node --import tsx bench/voice.ts [--n 12]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeAudio } from '../device/audio/decode.js';
import { pcmToWav } from '../device/audio/wav.js';
import { resolveModel } from '../device/models/store.js';
import { createEspeakTts, createFliteTts } from '../device/voice/tts.js';
import { loadSileroVad, VAD_WINDOW } from '../device/voice/vad.js';
import { openSession } from '../test/voice/ws-client.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '12' } } });
const N = Number(values.n);
const root = resolve(import.meta.dirname, '..');
const commands = [
  'my blood pressure is one forty over ninety',
  'i took my metformin',
  'what medicines do i take',
  'my blood sugar is six point eight',
  'what was my blood pressure yesterday',
  'when do i take my metformin',
  'my weight is seventy two kilos',
  'oxygen saturation ninety six',
  'i slept seven hours',
  'what time is it',
  'my temperature is thirty seven point five',
  'did i take my ramipril',
];
const voices = [
  { engine: 'flite', voice: 'slt' },
  { engine: 'flite', voice: 'awb' },
  { engine: 'espeak', voice: 'en-us' },
] as const;
const tts = { espeak: createEspeakTts(), flite: createFliteTts() };
const sig = new AbortController().signal;

const freePort = () =>
  new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmt = (xs: number[]) =>
  `p50 ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms (n=${xs.length})`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
/** Resident memory of a process and all its descendants (the long-running decoders). */
function treeRssMb(pid: number): number {
  let total = rssMb(pid);
  let kids: number[] = [];
  try {
    kids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map(Number)
      .filter(Boolean);
  } catch {} // ps exits 1 when there are none
  for (const k of kids) total += treeRssMb(k);
  return total;
}

async function main() {
  // Spoken commands, decoded exactly as the API would.
  const utterances: Int16Array[] = [];
  for (let i = 0; i < N; i++) {
    const v = voices[i % voices.length]!;
    const s = await tts[v.engine].synthesize(
      commands[i % commands.length]!,
      { voice: v.voice, rate: 150 },
      sig,
    );
    utterances.push(
      await decodeAudio(pcmToWav(s.pcm, s.sampleRate), 'audio/wav', { maxBytes: 5e6, maxSeconds: 60 }),
    );
  }
  const secs = utterances.map((u) => u.length / 16000);
  console.log(
    `commands: ${N}, ${Math.min(...secs).toFixed(1)}–${Math.max(...secs).toFixed(1)} s of speech each`,
  );

  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'aide-bench-voice-'));
  const agent: ChildProcess = spawn(
    'taskset',
    ['-c', '0', process.execPath, '--import', 'tsx', join(root, 'bin/aide.ts'), 'device'],
    {
      cwd: root,
      env: { ...process.env, AIDE_DATA_DIR: data, AIDE_PORT: String(port), AIDE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${url}/readyz`)).ok) break;
      } catch {}
      if (i > 200) throw new Error('agent did not become ready');
      await sleep(100);
    }
    const ready = (await (await fetch(`${url}/readyz`)).json()) as {
      subsystems: Record<string, { detail: string }>;
    };
    console.log(`engines: voice ${ready.subsystems.voice?.detail}; vad ${ready.subsystems.vad?.detail}`);
    const s = await openSession(url);
    s.send({ type: 'start' });
    await s.waitFor((m) => m.type === 'ready', 'ready');

    const firstAudioAfter = async (t0: number, count: number) => {
      await s.waitFor(
        (m) => m.type === 'audio_end' && s.messages.filter((x) => x.type === 'audio_end').length === count,
        'reply',
        60_000,
      );
      const audio = s.messages.find((m) => m.type === 'audio' && m.at >= t0);
      return audio ? audio.at - t0 : Number.NaN;
    };
    // Real-time streaming: 100 ms frames every 100 ms, as a microphone would deliver them.
    const realtime = async (pcm: Int16Array) => s.stream(pcm, 100);
    let turns = 0;
    const warm = utterances[0]!;
    await realtime(warm);
    s.send({ type: 'end' });
    await firstAudioAfter(performance.now(), ++turns);

    const ptt: number[] = [];
    for (const u of utterances) {
      await realtime(u);
      const t0 = performance.now();
      s.send({ type: 'end' });
      ptt.push(await firstAudioAfter(t0, ++turns));
    }
    const vad: number[] = [];
    const trailing = new Int16Array(16000 * 2);
    for (const u of utterances.slice(0, Math.min(6, N))) {
      await realtime(u);
      const t0 = performance.now();
      await realtime(trailing);
      vad.push(await firstAudioAfter(t0, ++turns));
    }
    const typed: number[] = [];
    for (const c of commands.slice(0, Math.min(6, N))) {
      const t0 = performance.now();
      s.send({ type: 'text', text: c });
      typed.push(await firstAudioAfter(t0, ++turns));
    }
    s.close();
    const rss = rssMb(agent.pid!);
    const rssTree = treeRssMb(agent.pid!);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const rtf = [
      ...metrics.matchAll(
        /aide_voice_real_time_factor_sum\{engine="([^"]+)",task="([^"]+)"\} ([\d.e+-]+)\naide_voice_real_time_factor_count\{[^}]*\} (\d+)/g,
      ),
    ].map((m) => `${m[1]} ${m[2]} ${(Number(m[3]) / Number(m[4])).toFixed(3)}`);

    console.log(
      '\nend of speech → first reply audio byte over the session WebSocket (agent pinned to 1 core)',
    );
    console.log(`  push-to-talk release      ${fmt(ptt)}`);
    console.log(
      `  VAD endpointing           ${fmt(vad)} (includes the ${process.env.AIDE_VAD_SILENCE_MS ?? 1200} ms end-of-speech silence)`,
    );
    console.log(`  baseline: typed turn      ${fmt(typed)} (agent + first sentence of TTS, no ASR)`);
    console.log(`real-time factor in the pinned agent (processing time / audio time): ${rtf.join('; ')}`);
    console.log(
      `agent resident memory with engines loaded: ${rss.toFixed(0)} MB node process, ${rssTree.toFixed(0)} MB with its PocketSphinx decoders (espeak-ng/flite are short-lived, not counted)`,
    );
  } finally {
    agent.kill('SIGTERM');
  }

  // Engine RTFs measured here directly (bench process, not pinned): synthesis and VAD.
  const text = 'Your blood pressure is one hundred and forty over ninety. I have saved it.';
  for (const [name, engine] of Object.entries(tts)) {
    const t0 = performance.now();
    const out = await engine.synthesize(text, { rate: 145 }, sig);
    console.log(
      `  ${name} synthesis RTF ${((performance.now() - t0) / 1000 / (out.pcm.length / out.sampleRate)).toFixed(3)}`,
    );
  }
  const newVad = await loadSileroVad(
    join(resolveModel(resolve(root, 'models'), 'vad').dir, 'silero_vad.onnx'),
  );
  const v = newVad();
  const all = utterances.flatMap((u) => [...u]);
  const t0 = performance.now();
  const f = new Float32Array(VAD_WINDOW);
  let windows = 0;
  for (let i = 0; i + VAD_WINDOW <= all.length; i += VAD_WINDOW, windows++) {
    for (let j = 0; j < VAD_WINDOW; j++) f[j] = all[i + j]! / 32768;
    await v.probability(f);
  }
  console.log(
    `  silero VAD RTF ${((performance.now() - t0) / 1000 / ((windows * VAD_WINDOW) / 16000)).toFixed(4)}`,
  );
  console.log('targets (issue 6): p95 ≤ 500 ms end of speech → first audio, ≤ 300 MB resident');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

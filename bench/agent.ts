// Agent benchmark: local-engine turns through the console API (log a reading, ask an average, add a
// medicine) beside GET /healthz in the same run, one request at a time against a device pinned to one
// core; then development-set accuracy. Run: npm run bench -- agent   (BENCH_TURNS=300 for more samples)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devSetAccuracy, loadDevSet } from '../device/agent/devset.js';
import { spawnAide } from '../test/support/spawn-aide.js';

const N = Number(process.env.BENCH_TURNS ?? 200);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 100) / 100;
};

/** CPU milliseconds (user + system) the device process has used: the load-independent cost of a turn. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in 100 Hz clock ticks
}

async function timed(fn: () => Promise<Response>): Promise<number> {
  const t0 = performance.now();
  const res = await fn();
  await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return performance.now() - t0;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'aide-bench-agent-'));
  const aide = await spawnAide(['device', '--data', dir, '--port', '0'], {
    AIDE_LOG_LEVEL: 'info',
    AIDE_TIMEZONE: 'Europe/London',
  });
  const pinned = spawnSync('taskset', ['-a', '-p', '-c', '0', String(aide.child.pid)]).status === 0;
  const post = (text: string) => () =>
    fetch(`${aide.url}/api/turn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });
  const scenarios: Record<string, (i: number) => () => Promise<Response>> = {
    'GET /healthz (baseline)': () => () => fetch(`${aide.url}/healthz`),
    'turn: log a reading': (i) => post(`my blood pressure is ${120 + (i % 40)} over ${70 + (i % 20)}`),
    'turn: ask an average': () => post("what's my average blood pressure this week"),
    'turn: add a medicine': (i) => post(`add medicine Benchamol${i} 10 mg at 8 am and 8 pm`),
  };
  // Warm up every path once (JIT, prepared statements, caches).
  for (const make of Object.values(scenarios)) for (let i = 0; i < 20; i++) await timed(make(10_000 + i));
  const rows: Record<
    string,
    { n: number; p50_ms: number; p95_ms: number; max_ms: number; server_cpu_ms: number }
  > = {};
  for (const [name, make] of Object.entries(scenarios)) {
    const ms: number[] = [];
    const cpu0 = cpuMs(aide.child.pid!);
    for (let i = 0; i < N; i++) ms.push(await timed(make(i)));
    rows[name] = {
      server_cpu_ms: Math.round(((cpuMs(aide.child.pid!) - cpu0) / N) * 100) / 100,
      n: N,
      p50_ms: pct(ms, 50),
      p95_ms: pct(ms, 95),
      max_ms: Math.round(Math.max(...ms) * 100) / 100,
    };
  }
  aide.child.kill('SIGTERM');
  await aide.exited;
  rmSync(dir, { recursive: true, force: true });

  console.log(
    `\n== agent turns via POST /api/turn, sequential, device ${pinned ? 'pinned to one core (taskset)' : 'NOT pinned (taskset failed)'}`,
  );
  console.table(rows);
  const turnP95 = Math.max(
    ...Object.entries(rows)
      .filter(([k]) => k.startsWith('turn'))
      .map(([, r]) => r.p95_ms),
  );
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`machine load average: ${load} (2 shared cores: wall-clock figures include waiting for a CPU)`);
  console.log(
    `worst turn p95: ${turnP95} ms (target ≤ 30 ms); /healthz p95 in the same run: ${rows['GET /healthz (baseline)']!.p95_ms} ms`,
  );

  const cases = loadDevSet();
  const t0 = performance.now();
  const acc = devSetAccuracy(cases);
  const perUtterance = (performance.now() - t0) / cases.length;
  console.log(
    `\n== development set: ${(acc.accuracy * 100).toFixed(1)}% exactly right (${acc.correct}/${acc.total}), target ≥ 95%; understanding ${perUtterance.toFixed(2)} ms per utterance`,
  );
  const held = loadDevSet('./heldout.json');
  const h = devSetAccuracy(held);
  console.log(
    `== held-out set (${h.total} utterances, never tuned on): ${(h.accuracy * 100).toFixed(1)}% (${h.correct}/${h.total})`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

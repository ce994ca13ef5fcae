// Foundation benchmark: the device console's GET /healthz beside a bare node:http hello-world in the same
// run, plus `aide device` cold start time and resident memory. Run: npm run bench -- http
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { spawnAide } from '../test/support/spawn-aide.js';

const duration = Number(process.env.BENCH_SECONDS ?? 10);

async function load(url: string) {
  const r = await autocannon({ url, connections: 10, duration });
  return {
    reqPerSec: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx,
  };
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024);
}

async function baseline() {
  // The child runs the baseline so both servers get a process of their own, like the agent.
  const child = spawn(process.execPath, [
    '-e',
    "require('http').createServer((q,s)=>{s.setHeader('content-type','application/json');s.end('{\"status\":\"ok\"}')}).listen(0,'127.0.0.1',function(){console.log(this.address().port)})",
  ]);
  const port = await new Promise<number>((resolve) =>
    child.stdout.once('data', (d) => resolve(Number(String(d).trim()))),
  );
  const result = await load(`http://127.0.0.1:${port}/`);
  child.kill();
  return result;
}

async function main() {
  const coldStarts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const aide = await spawnAide(
      ['device', '--data', mkdtempSync(join(tmpdir(), 'aide-bench-')), '--port', '0'],
      { AIDE_LOG_LEVEL: 'info' },
    );
    await fetch(`${aide.url}/readyz`);
    coldStarts.push(Math.round(performance.now() - t0));
    aide.child.kill('SIGTERM');
    await aide.exited;
  }
  const aide = await spawnAide(
    ['device', '--data', mkdtempSync(join(tmpdir(), 'aide-bench-')), '--port', '0'],
    { AIDE_LOG_LEVEL: 'info' },
  );
  const rssIdle = rssMiB(aide.child.pid!);
  const healthz = await load(`${aide.url}/healthz`);
  const rssLoaded = rssMiB(aide.child.pid!);
  aide.child.kill('SIGTERM');
  await aide.exited;
  const bare = await baseline();

  console.log(`\n== console GET /healthz vs bare node:http (10 connections, ${duration}s each)`);
  console.table({
    'aide console /healthz': healthz,
    'baseline node:http': bare,
  });
  console.log(
    `aide share of baseline throughput: ${Math.round((100 * healthz.reqPerSec) / bare.reqPerSec)}%`,
  );
  console.log(`aide device cold start to ready (ms, 3 runs): ${coldStarts.join(', ')}`);
  console.log(`aide device resident memory: ${rssIdle} MiB idle, ${rssLoaded} MiB after load`);
}

await main();

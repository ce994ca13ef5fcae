// The device agent under a systemd-like supervisor (test/systemd-supervisor.ts): it reports
// READY=1 on NOTIFY_SOCKET, pings WATCHDOG=1 while healthy, is killed and restarted when it hangs
// (SIGSTOP), and is not restart-looped when its configuration is bad (exit 78).
// Slow-ish (agent starts; ~20 s): skipped with AIDE_TEST_QUICK=1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from './harness/index.js';
import { repoRoot } from './install-chroot.js';
import { startSupervisor } from './systemd-supervisor.js';

const quick = process.env.AIDE_TEST_QUICK === '1';
const missing = ['python3', 'systemd-notify'].find(
  (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0,
);
const skip = quick ? 'slow (AIDE_TEST_QUICK=1)' : missing ? `needs ${missing}` : false;

const agent = join(repoRoot, 'bin', 'aide.js');

async function readyz(port: number): Promise<number> {
  try {
    // Generous: a just-started agent on a loaded CI machine can take more than a couple of seconds.
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(15_000) })).status;
  } catch {
    return 0;
  }
}

test('the agent reports ready, pings the watchdog, and a hung agent is killed and restarted', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'aide-watchdog-'));
  const port = await freePort();
  const sup = await startSupervisor({
    command: process.execPath,
    args: [agent, 'device'],
    env: { ...process.env, AIDE_DATA_DIR: data, AIDE_PORT: String(port), AIDE_LOG_LEVEL: 'warn' },
    // Pings every 3 s, each through a systemd-notify process and the python receiver: with WatchdogSec=3
    // a loaded machine delaying one ping by 1.5 s could get a healthy agent killed.
    watchdogSec: 6,
    restartSec: 0.5,
  });
  t.after(async () => {
    await sup.stop();
    rmSync(data, { recursive: true, force: true });
  });

  const ready = await sup.waitFor((n) => n.fields.READY === '1', 40_000, 'READY=1');
  const first = sup.mainPid() as number;
  assert.equal(ready.fields.MAINPID, String(first), 'systemd-notify --pid names the agent as the sender');
  assert.equal(await readyz(port), 200);

  const ping = await sup.waitFor(
    (n) => n.fields.WATCHDOG === '1' && n.at > ready.at,
    20_000,
    'first WATCHDOG=1',
  );
  await sup.waitFor((n) => n.fields.WATCHDOG === '1' && n.at > ping.at, 20_000, 'second WATCHDOG=1');
  const pings = sup.notifications.filter(
    (n) => n.fields.WATCHDOG === '1' && Number(n.fields.MAINPID) === first,
  );
  assert.ok(pings.length >= 2);

  // Hang the agent: it stops pinging; within WatchdogSec the supervisor kills and restarts it.
  process.kill(first, 'SIGSTOP');
  const stoppedAt = Date.now();
  await sup.waitFor(
    (n) => n.fields.READY === '1' && n.at > stoppedAt,
    60_000,
    'READY=1 from the restarted agent',
  );
  const second = sup.mainPid() as number;
  assert.notEqual(second, first, 'a new process');
  assert.ok(sup.events.includes(`watchdog timeout ${first}`), sup.events.join('\n'));
  const exit = sup.exits.find((e) => e.pid === first);
  assert.ok(exit && exit.signal !== null, `the hung agent was killed by a signal: ${JSON.stringify(exit)}`);
  // A systemd-notify started just before SIGSTOP is its own process and may still deliver; on a loaded
  // machine that takes more than a moment. A live agent would ping again within 3 s and well before the
  // 6 s watchdog fired, so pings later than 1.5 s after the stop still show a process that was not hung.
  assert.equal(
    sup.notifications.filter(
      (n) => n.fields.WATCHDOG === '1' && Number(n.fields.MAINPID) === first && n.at > stoppedAt + 1500,
    ).length,
    0,
    'no pings from the hung process',
  );
  assert.equal(await readyz(port), 200, 'the console answers again');
  await sup.waitFor((n) => n.fields.WATCHDOG === '1', 20_000, 'WATCHDOG=1 from the restarted agent');
});

test('bad configuration exits 78 and is not restarted (RestartPreventExitStatus=78)', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'aide-watchdog-'));
  const sup = await startSupervisor({
    command: process.execPath,
    args: [agent, 'device'],
    env: { ...process.env, AIDE_DATA_DIR: data, AIDE_PORT: 'eighty', MQTT_URL: 'ftp://nope' },
    watchdogSec: 3,
    restartSec: 0.2,
    preventRestartOn: [78],
  });
  t.after(async () => {
    await sup.stop();
    rmSync(data, { recursive: true, force: true });
  });
  const deadline = Date.now() + 40_000;
  while (sup.exits.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(sup.exits[0]?.code, 78, sup.events.join('\n'));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(sup.starts.length, 1, 'started once, never restarted');
  assert.equal(sup.notifications.filter((n) => n.fields.READY === '1').length, 0, 'never reported ready');
});

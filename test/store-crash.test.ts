import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { quick } from './harness/index.js';

// A power cut during a burst of writes: the agent is SIGKILLed while requests are in flight. After a
// restart, every write the console acknowledged (201) is there, with its outbox message.
const dir = mkdtempSync(join(tmpdir(), 'aide-store-crash-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function startAgent(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['bin/aide.js', 'device'], {
    env: {
      ...process.env,
      AIDE_DATA_DIR: dir,
      AIDE_PORT: '0',
      AIDE_LOG_LEVEL: 'info',
      AIDE_TIMEZONE: 'Europe/Berlin',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('agent did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`agent exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const rec = JSON.parse(line);
        if (rec.msg === 'aide device ready') {
          clearTimeout(timer);
          resolve({ child, url: rec.url });
        }
      } catch {
        // not a log line
      }
    });
  });
}

test('kill -9 during a burst of writes loses no acknowledged reading', {
  skip: quick && 'slow (AIDE_TEST_QUICK)',
  timeout: 90_000,
}, async () => {
  const first = await startAgent();
  const acked: string[] = [];
  let killed = false;
  let sent = 0;
  let inFlight = 0;
  const worker = async () => {
    while (!killed) {
      const i = sent++;
      inFlight++;
      try {
        const res = await fetch(`${first.url}/api/measurements`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'heart_rate', value: 40 + (i % 100), note: `burst ${i}` }),
        });
        if (res.status === 201) acked.push(((await res.json()) as { id: string }).id);
      } catch {
        // connection cut by the kill: this write was never acknowledged
      } finally {
        inFlight--;
      }
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  while (acked.length < 300) await new Promise((r) => setTimeout(r, 5));
  const inFlightAtKill = inFlight;
  first.child.kill('SIGKILL');
  killed = true;
  await Promise.all(workers);
  await new Promise((r) =>
    first.child.exitCode !== null || first.child.signalCode !== null ? r(null) : first.child.once('exit', r),
  );
  assert.ok(inFlightAtKill > 0, 'writes were in flight when the agent died');

  const second = await startAgent();
  try {
    const stored = new Set<string>();
    let cursor: string | undefined;
    do {
      const res = await fetch(
        `${second.url}/api/measurements?type=heart_rate&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
      );
      const page = (await res.json()) as { items: { id: string }[]; nextCursor?: string };
      for (const m of page.items) stored.add(m.id);
      cursor = page.nextCursor;
    } while (cursor);
    const lost = acked.filter((id) => !stored.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged readings lost`);
    const status = (await (await fetch(`${second.url}/api/status`)).json()) as { outboxSize: number };
    // One outbox message per stored reading (+ the first person's).
    assert.equal(status.outboxSize, stored.size + 1);
  } finally {
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  }
});

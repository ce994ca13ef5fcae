// `aide update` end to end: releases side by side under a test install root, the agent run from
// <root>/current by a systemd-like supervisor, restarts through --restart-command (SIGHUP to this
// test process, which restarts the agent like `systemctl restart`). A good release is switched to
// and migrated; one that never becomes ready is rolled back. Slow (~1 min): AIDE_TEST_QUICK=1 skips.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { freePort } from './harness/index.js';
import { repoRoot } from './install-chroot.js';
import { realpathNow, type Supervisor, startSupervisor } from './systemd-supervisor.js';

const quick = process.env.AIDE_TEST_QUICK === '1';
const missing = ['python3', 'systemd-notify', 'tar'].find(
  (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0,
);
const skip = quick ? 'slow (AIDE_TEST_QUICK=1)' : missing ? `needs ${missing}` : false;

let work: string;
let root: string;
let data: string;
let port: number;
let sup: Supervisor | undefined;
let supervisorReady: Promise<void>;
const onHup = () => {
  supervisorReady = (async () => {
    if (!sup) {
      sup = await startSupervisor({
        command: process.execPath,
        args: [join(root, 'current', 'bin', 'aide.js'), 'device'],
        env: { ...process.env, AIDE_DATA_DIR: data, AIDE_PORT: String(port), AIDE_LOG_LEVEL: 'warn' },
        watchdogSec: 10,
        restartSec: 0.5,
        preventRestartOn: [78],
        resolve: realpathNow(join(root, 'current')),
      });
    } else await sup.restart();
  })();
};

/** A release folder: this checkout's code with `version`, sharing the checkout's node_modules. */
function makeRelease(version: string, change?: (dir: string) => void): string {
  const dir = join(work, `src-${version}`);
  mkdirSync(dir);
  spawnSync('sh', [
    '-c',
    `tar -C "$0" --exclude=./node_modules --exclude=./.git --exclude=./data -cf - . | tar -C "$1" -xf -`,
    repoRoot,
    dir,
  ]);
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, version }, null, 2));
  change?.(dir);
  return dir;
}

/**
 * `readyTimeoutS`: how long `aide update` waits for a restarted agent. A good release returns as soon as it
 * is ready, so the default is generous for a loaded CI machine (a fresh release folder starts cold).
 */
function update(
  from: string | undefined,
  env: Record<string, string> = {},
  readyTimeoutS = 90,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'bin', 'aide.js'),
        'update',
        ...(from ? ['--from', from] : ['--check']),
        '--root',
        root,
        '--data',
        data,
        '--port',
        String(port),
        '--restart-command',
        `kill -HUP ${process.pid}`,
        '--ready-timeout',
        String(readyTimeoutS),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AIDE_LOG_LEVEL: 'warn', ...env } },
    );
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('close', (code) => resolve({ code, out }));
  });
}

const current = () => readlinkSync(join(root, 'current'));
async function health(): Promise<{ status: number; uptime?: number }> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(15_000) });
    return {
      status: (await fetch(`http://127.0.0.1:${port}/readyz`)).status,
      uptime: ((await r.json()) as { uptimeSeconds: number }).uptimeSeconds,
    };
  } catch {
    return { status: 0 };
  }
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'aide-update-'));
  root = join(work, 'opt-aide');
  data = join(work, 'data');
  port = await freePort();
  process.on('SIGHUP', onHup);
});
after(async () => {
  process.off('SIGHUP', onHup);
  await sup?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('first install: a release folder becomes current and the agent starts from it', {
  skip,
  timeout: 120_000,
}, async () => {
  const r = await update(makeRelease('0.1.0'));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /0\.1\.0 is ready/);
  assert.equal(current(), 'releases/0.1.0');
  await supervisorReady;
  assert.equal(sup?.starts.at(-1)?.resolved, join(root, 'releases', '0.1.0'));
});

test('a good update installs side by side, migrates, switches and restarts', {
  skip,
  timeout: 120_000,
}, async () => {
  const src = makeRelease('0.2.0', (dir) =>
    writeFileSync(
      join(dir, 'device/store/migrations/900_update_probe.sql'),
      'CREATE TABLE update_probe (id INTEGER PRIMARY KEY);\n',
    ),
  );
  const r = await update(src);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /store backed up to .*aide-\d{8}T\d{9}Z\.db/);
  assert.match(r.out, /migrations of 0\.2\.0 applied/);
  assert.equal(current(), 'releases/0.2.0');
  assert.equal(readlinkSync(join(root, 'previous')), 'releases/0.1.0');
  assert.ok(existsSync(join(root, 'releases', '0.1.0')), 'the old release stays for rollback');
  assert.equal(
    sup?.starts.at(-1)?.resolved,
    join(root, 'releases', '0.2.0'),
    'the agent now runs the new release',
  );
  const db = new Database(join(data, 'aide.db'), { readonly: true });
  const applied = db.prepare("SELECT name FROM schema_migrations WHERE name = '900_update_probe'").get();
  db.close();
  assert.ok(applied, 'the new release’s migration ran');
  assert.equal((await health()).status, 200);
});

test('an update that never becomes ready is rolled back to the running release', {
  skip,
  timeout: 240_000,
}, async () => {
  const src = makeRelease('0.3.0', (dir) => {
    // A broken build: the agent dies at start-up (as a bad native module or syntax error would).
    const launcher = join(dir, 'bin', 'aide.js');
    writeFileSync(
      launcher,
      readFileSync(launcher, 'utf8').replace(
        'register();',
        "register();\nif (process.argv[2] === 'device') throw new Error('broken release');",
      ),
    );
  });
  const startsBefore = sup?.starts.length ?? 0;
  // The broken release costs the whole wait; the rollback gets as long to bring 0.2.0 back.
  const r = await update(src, {}, 40);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /0\.3\.0 did not become ready within 40 s \(console not answering/);
  assert.match(r.out, /rolled back: 0\.2\.0 is ready/);
  assert.match(r.out, /update failed: .*now running 0\.2\.0/);
  assert.equal(current(), 'releases/0.2.0');
  assert.ok(
    existsSync(join(root, 'releases', '0.3.0', '.failed')),
    'the bad release is marked so update checks skip it',
  );
  const tried = sup?.starts.slice(startsBefore).map((s) => s.resolved) ?? [];
  assert.ok(tried.includes(join(root, 'releases', '0.3.0')), 'the new release was really started');
  assert.equal(tried.at(-1), join(root, 'releases', '0.2.0'), 'and the old one runs again');
  const h = await health();
  assert.equal(h.status, 200);
});

test('a release tarball installs too, and the same version again is a no-op', {
  skip,
  timeout: 120_000,
}, async () => {
  const src = makeRelease('0.3.1');
  const tarball = join(work, 'aide-0.3.1.tar.gz');
  spawnSync('tar', ['-czf', tarball, '-C', work, 'src-0.3.1']);
  const r = await update(tarball);
  assert.equal(r.code, 0, r.out);
  assert.equal(current(), 'releases/0.3.1');
  assert.ok(
    existsSync(join(root, 'releases', '0.3.1', 'bin', 'aide.js')),
    'the top folder of the tarball was lifted',
  );
  const again = await update(src);
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /already running 0\.3\.1; nothing to do/);
});

test('the update check installs a newer release from the channel only with a matching sha256', {
  skip,
  timeout: 120_000,
}, async (t) => {
  makeRelease('0.4.0');
  const tarball = join(work, 'aide-0.4.0.tar.gz');
  spawnSync('tar', ['-czf', tarball, '-C', work, 'src-0.4.0']);
  const body = readFileSync(tarball);
  let offer = { version: '0.4.0', url: 'releases/aide-0.4.0.tar.gz', sha256: '0'.repeat(64) };
  const server = createServer((req, res) => {
    if (req.url === '/channel.json')
      res.setHeader('content-type', 'application/json').end(JSON.stringify(offer));
    else if (req.url === '/releases/aide-0.4.0.tar.gz') res.end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const channel = {
    AIDE_UPDATE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/channel.json`,
  };

  const notAuto = await update(undefined, channel);
  assert.equal(notAuto.code, 0, notAuto.out);
  assert.match(notAuto.out, /0\.4\.0 is available \(running 0\.3\.1\)/);
  assert.equal(current(), 'releases/0.3.1');

  const tampered = await update(undefined, { ...channel, AIDE_UPDATE_AUTO: '1' });
  assert.notEqual(tampered.code, 0, tampered.out);
  assert.match(tampered.out, /sha256 is [0-9a-f]{64}, the channel says 0{64}; not installed/);
  assert.equal(current(), 'releases/0.3.1', 'nothing changed');
  assert.ok(!existsSync(join(root, 'releases', '0.4.0')));

  offer = { ...offer, sha256: createHash('sha256').update(body).digest('hex') };
  const good = await update(undefined, { ...channel, AIDE_UPDATE_AUTO: '1' });
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /0\.4\.0 is ready/);
  assert.equal(current(), 'releases/0.4.0');

  const again = await update(undefined, { ...channel, AIDE_UPDATE_AUTO: '1' });
  assert.match(again.out, /running 0\.4\.0; channel offers 0\.4\.0: up to date/);
});

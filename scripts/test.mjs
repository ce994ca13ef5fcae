#!/usr/bin/env node
// The one test command (`npm test`). On a fresh machine it installs what the tests need
// (Debian packages when root, npm packages, the Kafka jars), starts one Kafka broker for the
// whole run, runs every *.test.ts with node's test runner, then stops Kafka and removes any
// server a crashed test left behind. Exits with the test runner's code.
//
//   node scripts/test.mjs [--quick] [path-filter ...] [--test-name-pattern=... other node --test flags]
//
// Environment: AIDE_TEST_TIMEOUT_MS (per test file and per test, default 600000),
// AIDE_TEST_CONCURRENCY (default 2), AIDE_TEST_NO_INSTALL=1 (skip apt-get and npm ci),
// AIDE_TEST_BUDGET_MS (whole run, default 4800000 = 80 min).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TEST_DIRS = ['common', 'device', 'cloud-sync', 'bin', 'scripts', 'test'];
// The agent's runtime data folders are not searched. Fetched models live in the top-level models/, which is
// not in TEST_DIRS, so device/models/ (code, with its own tests) runs like any other folder.
const SKIP_DIRS = new Set(['node_modules', 'data', 'bench', 'coverage']);

function parseArgs(argv) {
  const opts = { quick: false, filters: [], nodeFlags: [] };
  for (const arg of argv) {
    if (arg === '--quick') opts.quick = true;
    else if (arg.startsWith('--')) opts.nodeFlags.push(arg);
    else opts.filters.push(arg);
  }
  return opts;
}

function log(msg) {
  console.log(`# aide-test: ${msg}`);
}

/** After the run: stderr, so node's `# pass N` / `# fail N` stay the closing lines of stdout. */
function logAfter(msg) {
  console.error(`# aide-test: ${msg}`);
}

async function installDebianPackages() {
  const { ensurePackages, packageSets } = await import('./system-packages.mjs');
  try {
    ensurePackages(packageSets.test);
  } catch (err) {
    // Tests that need a missing package fail naming it; the rest still run.
    log(`WARNING: could not install Debian packages: ${err.message}`);
  }
}

/** True when node_modules does not hold exactly what package-lock.json pins. */
function npmDepsStale() {
  const hidden = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(hidden)) return true;
  const want = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages ?? {};
  const have = JSON.parse(readFileSync(hidden, 'utf8')).packages ?? {};
  for (const [path, meta] of Object.entries(want)) {
    if (path === '' || meta.optional || meta.link || meta.inBundle || meta.extraneous) continue;
    if (have[path]?.version !== meta.version) return true;
  }
  return false;
}

function installNpmDeps() {
  if (!npmDepsStale()) return;
  log('node_modules is missing or differs from package-lock.json: running npm ci');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('npm ci failed');
    process.exit(r.status ?? 1);
  }
}

function findTestFiles(filters) {
  const files = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.') || SKIP_DIRS.has(e.name)) continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile() && e.name.endsWith('.test.ts')) files.push(path);
    }
  };
  for (const d of TEST_DIRS) walk(join(root, d));
  const rel = files.map((f) => relative(root, f)).sort();
  return filters.length === 0 ? rel : rel.filter((f) => filters.some((p) => f.includes(p)));
}

/** Kills what the harness's PID files list (if it is still that process) and removes temp dirs. */
function sweep(pidDir) {
  let entries = [];
  try {
    entries = readdirSync(pidDir);
  } catch {
    return;
  }
  let killed = 0;
  for (const name of entries) {
    let info;
    try {
      info = JSON.parse(readFileSync(join(pidDir, name), 'utf8'));
    } catch {
      continue;
    }
    if (name.startsWith('dir-') && info.dir) {
      rmSync(info.dir, { recursive: true, force: true });
      continue;
    }
    if (!info.pid) continue;
    // Guard against PID reuse: only kill the process that started at the recorded time.
    let stat = '';
    try {
      stat = readFileSync(`/proc/${info.pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] !== info.startTime) continue;
    try {
      process.kill(-info.pgid, 'SIGKILL');
      killed++;
    } catch {
      // gone
    }
  }
  rmSync(pidDir, { recursive: true, force: true });
  if (killed > 0) logAfter(`swept ${killed} leftover server process group(s)`);
}

async function startSharedKafka() {
  const { tsImport } = await import('tsx/esm/api');
  const harness = await tsImport('../test/harness/index.ts', import.meta.url);
  const started = Date.now();
  try {
    const kafka = await harness.startKafka();
    log(`shared Kafka ${harness.KAFKA_VERSION} at ${kafka.bootstrap} ready in ${Date.now() - started} ms`);
    return { kafka, harness };
  } catch (err) {
    // Tests that need Kafka will fail with the reason; the rest still run.
    log(`WARNING: shared Kafka did not start: ${err.message.split('\n').slice(0, 15).join('\n# ')}`);
    return { kafka: undefined, harness };
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const files = findTestFiles(opts.filters);
  if (files.length === 0) {
    console.error(`no *.test.ts files match ${opts.filters.join(' ') || 'the test folders'}`);
    process.exit(1);
  }
  if (process.env.AIDE_TEST_NO_INSTALL !== '1') {
    await installDebianPackages();
    installNpmDeps();
  }

  const pidDir = mkdtempSync(join(tmpdir(), 'aide-test-run-'));
  process.env.AIDE_HARNESS_PID_DIR = pidDir;
  if (opts.quick) process.env.AIDE_TEST_QUICK = '1';

  const { kafka } = await startSharedKafka();
  if (kafka) {
    process.env.AIDE_TEST_KAFKA_BROKERS = kafka.brokers.join(',');
    process.env.AIDE_TEST_KAFKA_PID = String(kafka.pid);
  }

  const timeout = process.env.AIDE_TEST_TIMEOUT_MS ?? '600000';
  const concurrency = process.env.AIDE_TEST_CONCURRENCY ?? '2';
  const args = [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${timeout}`, // Node 20 applies it to each file as well as each test
    '--test-force-exit', // a client left open by a failed test must not hold its file's process
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
    ...opts.nodeFlags,
    ...files,
  ];
  log(`running ${files.length} test files${opts.quick ? ' (quick)' : ''}`);
  const runner = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: process.env });

  let stopping = false;
  const budgetMs = Number(process.env.AIDE_TEST_BUDGET_MS ?? 4_800_000);
  const budget = setTimeout(() => {
    logAfter(`the whole run exceeded ${budgetMs} ms: stopping the test runner`);
    runner.kill('SIGTERM');
    setTimeout(() => runner.kill('SIGKILL'), 15_000).unref();
  }, budgetMs);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      runner.kill(sig);
    });
  }

  const code = await new Promise((resolve) => {
    runner.on('close', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  clearTimeout(budget);

  if (kafka) {
    try {
      await kafka.dispose();
    } catch (err) {
      logAfter(`WARNING: stopping shared Kafka: ${err.message}`);
    }
  }
  sweep(pidDir);
  process.exit(code);
}

main().catch((err) => {
  console.error(err);
  if (process.env.AIDE_HARNESS_PID_DIR) sweep(process.env.AIDE_HARNESS_PID_DIR);
  process.exit(1);
});

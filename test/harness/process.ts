// Starts throwaway server processes and guarantees they die with the test process.
// Every server runs in its own process group (detached), so kill() takes its worker
// processes too (PostgreSQL backends), and a PID file per server lets scripts/test.mjs
// sweep anything a crashed test left behind.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/** Folder where each running server leaves `<pid>.json`; scripts/test.mjs sets one per run. */
export function pidDir(): string {
  const dir =
    process.env.AIDE_HARNESS_PID_DIR ?? join(tmpdir(), `aide-harness-pids-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Asks the OS for a free loopback TCP port (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port from OS'));
      srv.close(() => resolve(addr.port));
    });
  });
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.connect(port, host);
  });
}

/**
 * True when process `pid` itself holds a listening TCP socket on `port` (Linux /proc). Stricter
 * than a connect test, which a different server that grabbed the port would also pass.
 */
export function listensOn(pid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local_address rem_address st ... inode(9)
      if (cols[3] === '0A' && cols[1]?.endsWith(`:${hexPort}`)) inodes.add(cols[9]!);
    }
  }
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) return true;
    } catch {
      // fd closed meanwhile
    }
  }
  return false;
}

/** True when a live (non-zombie) process belongs to process group `pgid`. Linux /proc. */
export function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pidAlive(pgid);
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') return true;
    } catch {
      // process vanished while we looked
    }
  }
  return false;
}

/** Field 22 of /proc/<pid>/stat: when the process started (unchanged by exec). */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    try {
      process.kill(pgid, signal);
    } catch {
      // already gone
    }
  }
}

export interface SpawnSpec {
  /** Short name for logs and errors, e.g. 'mosquitto'. */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** File receiving the process's stdout and stderr. */
  logFile: string;
  /** Signal for a graceful stop (PostgreSQL wants SIGINT for its fast shutdown). */
  stopSignal?: NodeJS.Signals;
  /** How long a graceful stop may take before SIGKILL. */
  stopTimeoutMs?: number;
}

export interface ManagedProcess {
  readonly pid: number;
  readonly running: boolean;
  /** Resolves when the process (and its process group) has exited. */
  exited(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  logTail(lines?: number): string;
}

interface Tracked {
  pgid: number;
  pidFile: string;
}

const tracked = new Map<number, Tracked>();
const tempDirs = new Map<string, string>(); // dir -> its marker file in pidDir()
let hooksInstalled = false;

/** Synchronous: usable from 'exit' and signal handlers. Kills every server this process started. */
export function killAllSync(removeTempDirs: boolean): void {
  for (const [pgid, t] of tracked) {
    // A group that is already empty may have had its id reused: never signal it.
    if (groupAlive(pgid)) signalGroup(pgid, 'SIGKILL');
    rmSync(t.pidFile, { force: true });
  }
  tracked.clear();
  if (removeTempDirs) for (const dir of [...tempDirs.keys()]) removeTempDir(dir);
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => killAllSync(true));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAllSync(true);
      // If nobody else handles this signal, keep the default behaviour (die by it).
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

/**
 * A fresh temp folder that is removed when the test process exits, and (through a marker
 * in pidDir()) by the sweep in scripts/test.mjs if the process dies without exit hooks.
 */
export function makeTempDir(name: string): string {
  installExitHooks();
  const dir = mkdtempSync(join(tmpdir(), `aide-${name}-`));
  const marker = join(pidDir(), `dir-${basename(dir)}.json`);
  writeFileSync(marker, JSON.stringify({ dir, owner: process.pid }));
  tempDirs.set(dir, marker);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  const marker = tempDirs.get(dir);
  if (marker) rmSync(marker, { force: true });
  tempDirs.delete(dir);
}

export function spawnManaged(spec: SpawnSpec): ManagedProcess {
  installExitHooks();
  const out = openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', out, out],
      detached: true, // own process group: kill(-pid) reaches its children
    });
  } finally {
    closeSync(out);
  }
  if (child.pid === undefined) throw new Error(`${spec.name}: could not spawn ${spec.command}`);
  child.unref(); // a forgotten server must not keep the test process alive
  const pid = child.pid;
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.once('error', () => {
    exited = true;
  });
  const pidFile = join(pidDir(), `${pid}.json`);
  writeFileSync(
    pidFile,
    // startTime guards the sweep in scripts/test.mjs against killing a reused PID.
    JSON.stringify({ pid, pgid: pid, name: spec.name, owner: process.pid, startTime: procStartTime(pid) }),
  );
  tracked.set(pid, { pgid: pid, pidFile });

  const waitGone = async (timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    // A ref'd timer keeps the event loop alive while the unref'd child is awaited.
    while (Date.now() < deadline) {
      if (exited && !groupAlive(pid)) return true;
      await sleep(50);
    }
    return exited && !groupAlive(pid);
  };
  const forget = () => {
    const t = tracked.get(pid);
    if (t) rmSync(t.pidFile, { force: true });
    tracked.delete(pid);
  };

  return {
    pid,
    get running() {
      return !exited;
    },
    async exited() {
      await waitGone(Number.POSITIVE_INFINITY);
    },
    async stop() {
      if (!exited) signalGroup(pid, spec.stopSignal ?? 'SIGTERM');
      else if (groupAlive(pid)) signalGroup(pid, 'SIGKILL'); // leader gone, workers left
      if (!(await waitGone(spec.stopTimeoutMs ?? 15_000))) {
        signalGroup(pid, 'SIGKILL');
        await waitGone(10_000);
      }
      forget();
    },
    async kill() {
      if (!exited || groupAlive(pid)) signalGroup(pid, 'SIGKILL');
      await waitGone(10_000);
      forget();
    },
    logTail(lines = 30) {
      try {
        return readFileSync(spec.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
}

/**
 * Polls `ready()` until it resolves true. Fails early (with the log tail) if the process dies,
 * or after `timeoutMs`.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  name: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!proc.running) {
      await proc.kill(); // reap its group and drop its PID file
      throw new Error(`${name} exited during start-up (pid ${proc.pid}). Log tail:\n${proc.logTail()}`);
    }
    if (await ready()) return;
    await sleep(100);
  }
  await proc.kill();
  throw new Error(`${name} not ready within ${timeoutMs} ms (pid ${proc.pid}). Log tail:\n${proc.logTail()}`);
}

/** Runs a command to completion; rejects with its output when it exits non-zero. */
export function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d) => {
      output += d;
    });
    child.stderr?.on('data', (d) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} failed (${code ?? signal}):\n${output.trim()}`));
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

const PORT_CLASH = /address already in use|EADDRINUSE|failed to bind|could not bind/i;

/**
 * Runs `start` in a fresh temp folder; if it fails, the folder is removed. A free port can be
 * taken by someone else between asking the OS and the server binding it, so a start that
 * fails with "address in use" is tried again (new folder, new ports) up to 3 times.
 */
export async function startInTempDir<T>(name: string, start: (dir: string) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const dir = makeTempDir(name);
    try {
      return await start(dir);
    } catch (err) {
      removeTempDir(dir);
      if (attempt >= 3 || !PORT_CLASH.test(String((err as Error).message))) throw err;
    }
  }
}

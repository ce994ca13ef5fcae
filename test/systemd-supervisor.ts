// A small systemd-like supervisor for tests, where systemd is not PID 1: it owns a NOTIFY_SOCKET
// (unix datagram, received by python3 because Node has no AF_UNIX SOCK_DGRAM), starts the service
// with NOTIFY_SOCKET and WATCHDOG_USEC like a Type=notify unit with WatchdogSec, kills it when it is
// not ready within TimeoutStartSec or, once ready, when the watchdog pings stop for WatchdogSec
// (SIGABRT, then SIGKILL, as systemd does), and restarts it (Restart=always,
// except on RestartPreventExitStatus). Messages are accepted from the main PID or naming it with
// MAINPID= (systemd-notify --pid), as NotifyAccess=all would.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const receiver = `
import json, os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"bound": path}), flush=True)
while True:
    msg, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(4 * 16))
    pid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = int.from_bytes(data[0:4], sys.byteorder)
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            # sd_notify_barrier passes a pipe fd and waits for us to close it.
            for i in range(0, len(data) - len(data) % 4, 4):
                os.close(int.from_bytes(data[i:i + 4], sys.byteorder))
    print(json.dumps({"pid": pid, "msg": msg.decode("utf-8", "replace")}), flush=True)
`;

export interface Notification {
  pid: number | null;
  fields: Record<string, string>;
  at: number;
}

export interface Start {
  pid: number;
  at: number;
  /** What the service's executable path resolved to at start (e.g. the release behind a `current` symlink). */
  resolved: string;
}

export interface SupervisorOptions {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  watchdogSec: number;
  /** systemd TimeoutStartSec=: READY=1 must come within this (default 90 s). The watchdog runs only after READY=1. */
  startTimeoutSec?: number;
  restartSec?: number;
  /** Exit codes that do not restart the service (systemd RestartPreventExitStatus=). */
  preventRestartOn?: number[];
  /** Resolved again at every start, so a switched `current` symlink takes effect on restart. */
  resolve?: () => string;
}

export interface Supervisor {
  notifications: Notification[];
  starts: Start[];
  exits: { pid: number; code: number | null; signal: NodeJS.Signals | null; at: number }[];
  events: string[];
  mainPid(): number | undefined;
  /** Resolves with the first notification from the current main process that matches. */
  waitFor(pred: (n: Notification) => boolean, timeoutMs: number, what: string): Promise<Notification>;
  /** systemctl restart: stop (SIGTERM) and start again; starts it if it is not running. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSupervisor(opts: SupervisorOptions): Promise<Supervisor> {
  const dir = mkdtempSync(join(tmpdir(), 'aide-notify-'));
  const socketPath = join(dir, 'notify.sock');
  const py = spawn('python3', ['-c', receiver, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const notifications: Notification[] = [];
  const starts: Start[] = [];
  const exits: Supervisor['exits'] = [];
  const events: string[] = [];
  const waiters = new Set<() => void>();
  let child: ChildProcess | undefined;
  let lastPing: number | undefined; // undefined until READY=1: systemd arms the watchdog when start-up completes
  let startedAt = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let stopping = false;

  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: py.stdout! });
    py.once('exit', (code) => reject(new Error(`notify receiver exited ${code}`)));
    lines.on('line', (line) => {
      const m = JSON.parse(line) as { bound?: string; pid?: number | null; msg?: string };
      if (m.bound) return resolve();
      const fields = Object.fromEntries(
        (m.msg ?? '')
          .split('\n')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      const main = child?.pid;
      if (main === undefined || (m.pid !== main && Number(fields.MAINPID) !== main)) return; // NotifyAccess: main process only
      const n = { pid: m.pid ?? null, fields, at: Date.now() };
      notifications.push(n);
      if (fields.WATCHDOG === '1' || fields.READY === '1') lastPing = n.at;
      for (const w of waiters) w();
    });
  });

  const start = () => {
    if (stopping) return;
    const resolved = opts.resolve ? opts.resolve() : opts.command;
    const c = spawn(opts.command, opts.args, {
      env: { ...opts.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: String(opts.watchdogSec * 1_000_000) },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    c.stderr?.on('data', (b) => (stderr = (stderr + b).slice(-2000)));
    child = c;
    lastPing = undefined;
    startedAt = Date.now();
    starts.push({ pid: c.pid as number, at: Date.now(), resolved });
    events.push(`start ${c.pid} ${resolved}`);
    c.on('exit', (code, signal) => {
      exits.push({ pid: c.pid as number, code, signal, at: Date.now() });
      events.push(
        `exit ${c.pid} code=${code} signal=${signal}${code ? ` stderr=${stderr.trim().split('\n').slice(-2).join(' | ')}` : ''}`,
      );
      if (child === c) child = undefined;
      for (const w of waiters) w();
      if (stopping || (code !== null && (opts.preventRestartOn ?? []).includes(code))) return;
      if (c.killedBySupervisorRestart) return;
      restartTimer = setTimeout(start, (opts.restartSec ?? 0.2) * 1000);
    });
  };

  const killGroup = (c: ChildProcess, sig: NodeJS.Signals) => {
    try {
      process.kill(-(c.pid as number), sig);
    } catch {
      // already gone
    }
  };

  const watchdog = setInterval(() => {
    const c = child;
    if (!c || c.exitCode !== null || c.killedByWatchdog) return;
    const late =
      lastPing === undefined
        ? Date.now() - startedAt > (opts.startTimeoutSec ?? 90) * 1000 && `start timeout ${c.pid}`
        : Date.now() - lastPing > opts.watchdogSec * 1000 && `watchdog timeout ${c.pid}`;
    if (late) {
      events.push(late);
      c.killedByWatchdog = true;
      killGroup(c, 'SIGABRT'); // a stopped process cannot act on it: escalate like TimeoutAbortSec
      setTimeout(() => c.exitCode === null && c.signalCode === null && killGroup(c, 'SIGKILL'), 1000).unref();
    }
  }, 100);

  const stopChild = async (c: ChildProcess | undefined) => {
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    killGroup(c, 'SIGCONT');
    killGroup(c, 'SIGTERM');
    const force = setTimeout(() => killGroup(c, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(force);
  };

  start();

  return {
    notifications,
    starts,
    exits,
    events,
    mainPid: () => child?.pid,
    waitFor(pred, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const main = child?.pid;
          const hit = notifications.find(
            (n) => (n.pid === main || Number(n.fields.MAINPID) === main) && pred(n),
          );
          if (hit) {
            cleanup();
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`timed out after ${timeoutMs} ms waiting for ${what}; events:\n${events.join('\n')}`),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async restart() {
      clearTimeout(restartTimer);
      const c = child;
      if (c) c.killedBySupervisorRestart = true;
      await stopChild(c);
      events.push('restart');
      start();
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      clearInterval(watchdog);
      await stopChild(child);
      py.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

declare module 'node:child_process' {
  interface ChildProcess {
    killedByWatchdog?: boolean;
    killedBySupervisorRestart?: boolean;
  }
}

/** The realpath of a path at this moment (e.g. /opt/aide/current → /opt/aide/releases/0.2.0). */
export const realpathNow = (p: string) => () => realpathSync(p);

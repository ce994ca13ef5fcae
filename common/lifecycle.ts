import { execFile } from 'node:child_process';
import type { Logger } from './log.js';

type Hook = { name: string; fn: () => Promise<void> | void };

export interface Lifecycle {
  /** Registers a shutdown step; steps run in reverse order of registration. */
  onShutdown(name: string, fn: () => Promise<void> | void): void;
  shutdown(reason: string): Promise<void>;
  /** Installs SIGTERM/SIGINT handlers: graceful stop within `graceMs`, then a forced exit. */
  handleSignals(): void;
}

export function createLifecycle(opts: {
  log: Logger;
  graceMs?: number;
  exit?: (code: number) => void;
}): Lifecycle {
  const hooks: Hook[] = [];
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let stopping: Promise<void> | undefined;

  async function shutdown(reason: string): Promise<void> {
    if (stopping) return stopping;
    stopping = (async () => {
      opts.log.info({ reason }, 'shutting down');
      notifySystemd('STOPPING=1');
      for (const hook of [...hooks].reverse()) {
        try {
          await hook.fn();
        } catch (err) {
          opts.log.error({ err, step: hook.name }, 'shutdown step failed');
        }
      }
      opts.log.info('stopped');
    })();
    return stopping;
  }

  return {
    onShutdown: (name, fn) => void hooks.push({ name, fn }),
    shutdown,
    handleSignals() {
      const onSignal = (sig: string) => {
        const force = setTimeout(() => {
          opts.log.error({ graceMs: opts.graceMs ?? 10_000 }, 'graceful shutdown took too long, exiting');
          exit(1);
        }, opts.graceMs ?? 10_000);
        force.unref();
        shutdown(sig).then(() => exit(0));
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
    },
  };
}

/**
 * sd_notify(3) for Type=notify units. Node has no unix datagram sockets, so this uses systemd-notify;
 * the unit sets NotifyAccess=all so the helper's messages count as the agent's.
 */
export function notifySystemd(...assignments: string[]): void {
  if (!process.env.NOTIFY_SOCKET) return;
  execFile('systemd-notify', [`--pid=${process.pid}`, ...assignments], () => {});
}

/**
 * Tells systemd we are ready and, when the unit has WatchdogSec, pings at half the interval while
 * `healthy()` holds; a hung or unhealthy agent stops pinging and systemd restarts it.
 */
export function startSystemdWatchdog(healthy: () => boolean = () => true): () => void {
  notifySystemd('READY=1', `STATUS=ready`);
  const usec = Number(process.env.WATCHDOG_USEC ?? 0);
  if (!process.env.NOTIFY_SOCKET || !usec) return () => {};
  const timer = setInterval(
    () => {
      if (healthy()) notifySystemd('WATCHDOG=1');
    },
    Math.max(500, usec / 2000),
  );
  timer.unref();
  return () => clearInterval(timer);
}

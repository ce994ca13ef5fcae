// The stop / kill / restart / dispose contract every harness server shares.
import { type ManagedProcess, removeTempDir } from './process.js';

export interface ServerHandle {
  /** PID of the server process (changes on restart). */
  readonly pid: number;
  /** The server's temp folder (config, data, logs). */
  readonly dir: string;
  readonly running: boolean;
  /** Graceful shutdown (SIGTERM, or SIGINT for PostgreSQL); SIGKILL if it hangs. Data stays. */
  stop(): Promise<void>;
  /** SIGKILL to the whole process group: a crash / power cut. Data on disk stays. */
  kill(): Promise<void>;
  /** Starts again on the same port with the same data (stops it first if running). */
  restart(): Promise<void>;
  /** Stops the server and deletes its temp folder. Safe to call twice. */
  dispose(): Promise<void>;
  /** Last lines of the server's own log, for assertion messages. */
  logTail(lines?: number): string;
}

export async function createServerHandle(
  dir: string,
  launch: () => Promise<ManagedProcess>,
): Promise<ServerHandle> {
  let proc = await launch();
  let disposed = false;
  return {
    get pid() {
      return proc.pid;
    },
    dir,
    get running() {
      return proc.running;
    },
    stop: () => proc.stop(),
    kill: () => proc.kill(),
    async restart() {
      if (disposed) throw new Error('server was disposed; start a new one');
      if (proc.running) await proc.stop();
      else await proc.kill(); // reap what is left of its process group
      proc = await launch();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await proc.stop();
      removeTempDir(dir);
    },
    logTail: (lines) => proc.logTail(lines),
  };
}

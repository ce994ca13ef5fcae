// A throwaway PostgreSQL cluster: initdb into a temp folder, trust auth, loopback only.
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureCommand, ensurePostgresBin, isRoot } from './packages.js';
import { freePort, listensOn, run, spawnManaged, startInTempDir, waitUntilReady } from './process.js';
import { createServerHandle, type ServerHandle } from './server.js';

export interface PostgresServer extends ServerHandle {
  /** postgres://postgres@127.0.0.1:<port>/aide_test */
  url: string;
  /** The same server's `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  database: string;
  /** Creates another empty database on this server and returns its URL. */
  createDatabase(name: string): Promise<string>;
}

export interface PostgresOptions {
  /** Name of the database created at start (default aide_test). */
  database?: string;
  /** Extra `-c name=value` server settings, e.g. { max_connections: '200' }. */
  settings?: Record<string, string>;
}

const DB_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user. */
interface RunAs {
  command: (bin: string, args: string[]) => [string, string[]];
  /** Hands a folder to the user the server runs as. */
  own: (path: string) => void;
}

async function runAsServerUser(): Promise<RunAs> {
  if (!isRoot()) return { command: (bin, args) => [bin, args], own: () => {} };
  const setpriv = await ensureCommand('setpriv', 'util-linux');
  const id = await run('id', ['-u', 'postgres']).catch(() => {
    throw new Error(
      'running as root needs the `postgres` system user (Debian package postgresql creates it)',
    );
  });
  const uid = Number(id.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).trim());
  // setpriv execs in place (unlike runuser/su, which fork), so the PID we hold is the postmaster's.
  return {
    command: (bin, args) => [
      setpriv,
      [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', bin, ...args],
    ],
    own: (path) => chownSync(path, uid, gid),
  };
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const database = opts.database ?? 'aide_test';
  if (!DB_NAME.test(database))
    throw new Error(`database must match ${DB_NAME}, got ${JSON.stringify(database)}`);
  const [initdb, postgres, pgIsReady, createdb] = await Promise.all([
    ensurePostgresBin('initdb'),
    ensurePostgresBin('postgres'),
    ensurePostgresBin('pg_isready'),
    ensurePostgresBin('createdb'),
  ]);
  const bins = { initdb, postgres, pgIsReady, createdb };
  return startInTempDir('postgres', (dir) => startIn(dir, bins, database, opts));
}

async function startIn(
  dir: string,
  { initdb, postgres, pgIsReady, createdb }: Record<'initdb' | 'postgres' | 'pgIsReady' | 'createdb', string>,
  database: string,
  opts: PostgresOptions,
): Promise<PostgresServer> {
  const as = await runAsServerUser();
  const dataDir = join(dir, 'data');
  const sockDir = join(dir, 'sock');
  mkdirSync(sockDir);
  as.own(dir);
  as.own(sockDir);

  const [initCmd, initArgs] = as.command(initdb, [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  await run(initCmd, initArgs, { cwd: dir, timeoutMs: 120_000 });

  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: sockDir,
    // A process kill loses nothing with fsync off (the OS still has the pages); only an OS crash would.
    fsync: 'off',
    shared_buffers: '32MB',
    max_connections: '100',
    log_min_messages: 'warning',
    ...opts.settings,
  };
  const serverArgs = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const [cmd, args] = as.command(postgres, serverArgs);
  const ready = async (pid: number) => {
    if (!listensOn(pid, port)) return false;
    try {
      await run(
        pgIsReady,
        ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres'],
        {
          timeoutMs: 5_000,
        },
      );
      return true;
    } catch {
      return false;
    }
  };
  const launch = async () => {
    const proc = spawnManaged({
      name: 'postgres',
      command: cmd,
      args,
      cwd: dir,
      logFile: join(dir, 'postgres.log'),
      stopSignal: 'SIGINT', // fast shutdown; SIGTERM would wait for every client to leave
      stopTimeoutMs: 20_000,
    });
    await waitUntilReady(proc, 'postgres', () => ready(proc.pid), 60_000);
    return proc;
  };
  const handle = await createServerHandle(dir, launch);
  const createDatabase = async (name: string) => {
    if (!DB_NAME.test(name)) throw new Error(`database must match ${DB_NAME}, got ${JSON.stringify(name)}`);
    await run(createdb, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', name]);
    return `postgres://postgres@127.0.0.1:${port}/${name}`;
  };
  try {
    await createDatabase(database);
  } catch (err) {
    await handle.dispose();
    throw err;
  }
  return Object.assign(handle, {
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    database,
    createDatabase,
  });
}

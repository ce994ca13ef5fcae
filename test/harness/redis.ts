// A throwaway Redis with no persistence.
import { join } from 'node:path';
import { ensureCommand } from './packages.js';
import { freePort, listensOn, spawnManaged, startInTempDir, waitUntilReady } from './process.js';
import { createServerHandle, type ServerHandle } from './server.js';

export interface RedisServer extends ServerHandle {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
}

export async function startRedis(): Promise<RedisServer> {
  const redis = await ensureCommand('redis-server', 'redis-server');
  return startInTempDir('redis', (dir) => startIn(dir, redis));
}

async function startIn(dir: string, redis: string): Promise<RedisServer> {
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--protected-mode',
    'no',
    '--loglevel',
    'notice',
  ];
  const launch = async () => {
    const proc = spawnManaged({
      name: 'redis',
      command: redis,
      args,
      cwd: dir,
      logFile: join(dir, 'redis.log'),
    });
    // Returns as soon as it listens; a loaded CI machine can be slow to start it.
    await waitUntilReady(proc, 'redis', async () => listensOn(proc.pid, port), 30_000);
    return proc;
  };
  const handle = await createServerHandle(dir, launch);
  return Object.assign(handle, { url: `redis://127.0.0.1:${port}`, port });
}

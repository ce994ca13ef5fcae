import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const aideBin = fileURLToPath(new URL('../../bin/aide.js', import.meta.url));

// A failed assertion must not leave an agent running that holds the test file open.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Kills every aide process this test file started (use in `after`). */
export function killAllAide(): void {
  for (const child of running) child.kill('SIGKILL');
}

export interface AideProcess {
  child: ChildProcess;
  /** Console or service base URL, read from the "listening"/"ready" log line. */
  url: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `aide <args>` as a real process and resolves once it logs its URL. The default wait is long: on a
 * loaded CI machine node + tsx + a cloud service can take well over ten seconds to start.
 */
export async function spawnAide(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000,
): Promise<AideProcess> {
  const child = spawn(process.execPath, [aideBin, ...args], {
    env: { ...process.env, AIDE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  const exited = once(child, 'exit').then(
    ([code, signal]) => ({ code, signal }) as { code: number | null; signal: NodeJS.Signals | null },
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`aide ${args.join(' ')} did not start in time:\n${out}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = out.match(/"url":"(http:\/\/[^"]+)"/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`aide ${args.join(' ')} exited with ${code} before starting:\n${out}`));
    });
  });
  child.stdout!.on('data', () => {});
  return { child, url, output: () => out, exited };
}

/** Runs `aide <args>` to completion. */
export async function runAide(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [aideBin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  const [code] = await once(child, 'exit');
  return { code, stdout, stderr };
}

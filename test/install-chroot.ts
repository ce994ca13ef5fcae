// A throwaway Debian bookworm root for installer tests: a cached debootstrap (minbase) root in
// ~/.cache/aide/debootstrap, mounted copy-on-write (overlayfs) per test, with /proc, /dev, the
// apt caches (so packages download once) and the Aide checkout (read-only) bind-mounted in.
import assert from 'node:assert/strict';
import { execFileSync, type SpawnSyncReturns, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderBundle } from '../cloud-sync/broker/devices.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(homedir(), '.cache', 'aide');
const debArch = process.arch === 'arm64' ? 'arm64' : 'amd64';
const nodeArch = process.arch === 'arm64' ? 'arm64' : 'x64';

/** Why the chroot tests cannot run here, or undefined when they can. */
export function chrootUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (chroot, mount)';
  for (const tool of ['debootstrap', 'chroot', 'mount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
  }
  return undefined;
}

/** The `skip` of a chroot test: slow ones are skipped with AIDE_TEST_QUICK=1, all where chroots cannot run. */
export function chrootTestSkip(): string | undefined {
  return process.env.AIDE_TEST_QUICK === '1' ? 'slow (AIDE_TEST_QUICK=1)' : chrootUnavailable();
}

/** The Debian mirror apt on this machine already uses (deb.debian.org when none is found). */
function debianMirror(): string {
  const out = spawnSync('sh', ['-c', 'cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null'], {
    encoding: 'utf8',
  }).stdout;
  const m = /(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\s/m.exec(out);
  return m?.[1] ?? 'http://deb.debian.org/debian';
}

/** Builds the cached bookworm root once (about 30 s with a reachable mirror). */
export function ensureBaseRoot(): string {
  const dir = join(cache, 'debootstrap', `bookworm-minbase-${debArch}`);
  if (existsSync(join(dir, 'etc', 'debian_version'))) return dir;
  mkdirSync(dirname(dir), { recursive: true });
  const partial = `${dir}.partial-${process.pid}`;
  execFileSync(
    'debootstrap',
    ['--variant=minbase', `--arch=${debArch}`, 'bookworm', partial, debianMirror()],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 15 * 60_000,
    },
  );
  try {
    renameSync(partial, dir);
  } catch (err) {
    // Another test file finished its debootstrap first: use that one.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(join(dir, 'etc', 'debian_version'))) throw err;
  }
  return dir;
}

/**
 * This machine's Node packed the way nodejs.org ships it (node-vX-linux-ARCH/bin/node) with a
 * SHASUMS256.txt, so the installer's --node-tarball path runs for real.
 */
export function ensureNodeTarball(): string {
  const name = `node-${process.version}-linux-${nodeArch}`;
  const dir = join(cache, 'node');
  const tarball = join(dir, `${name}.tar.gz`);
  if (existsSync(tarball) && existsSync(join(dir, 'SHASUMS256.txt'))) return tarball;
  const work = mkdtempSync(join(tmpdir(), 'aide-node-'));
  try {
    mkdirSync(join(work, name, 'bin'), { recursive: true });
    copyFileSync(process.execPath, join(work, name, 'bin', 'node'));
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-I', 'gzip -1', '-cf', `${tarball}.partial`, '-C', work, name]);
    renameSync(`${tarball}.partial`, tarball);
    const sum = execFileSync('sha256sum', [tarball], { encoding: 'utf8' }).split(' ')[0];
    writeFileSync(join(dir, 'SHASUMS256.txt'), `${sum}  ${name}.tar.gz\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return tarball;
}

export interface Chroot {
  root: string;
  /** Runs a command inside the root (serialized with other test files' chroots); never throws. */
  run(cmd: string[], opts?: { timeoutMs?: number }): { status: number | null; out: string };
  /** Path on the host of a path inside the root. */
  path(p: string): string;
  cleanup(): void;
}

export function openChroot(): Chroot {
  const base = ensureBaseRoot();
  const work = mkdtempSync(join(tmpdir(), 'aide-chroot-'));
  const root = join(work, 'root');
  for (const d of ['upper', 'work', 'root']) mkdirSync(join(work, d));
  const mounts: string[] = [];
  const mount = (args: string[], target: string) => {
    mkdirSync(target, { recursive: true });
    execFileSync('mount', [...args, target]);
    mounts.push(target);
  };
  try {
    mount(
      [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${base},upperdir=${join(work, 'upper')},workdir=${join(work, 'work')}`,
      ],
      root,
    );
    mount(['-t', 'proc', 'proc'], join(root, 'proc'));
    mount(['--bind', '/dev'], join(root, 'dev'));
    mkdirSync(join(cache, 'apt-archives', 'partial'), { recursive: true });
    mkdirSync(join(cache, 'apt-lists', 'partial'), { recursive: true });
    mount(['--bind', join(cache, 'apt-archives')], join(root, 'var', 'cache', 'apt', 'archives'));
    mount(['--bind', join(cache, 'apt-lists')], join(root, 'var', 'lib', 'apt', 'lists'));
    // A snapshot of the working tree (others may be editing it) with the repo's node_modules bound in.
    const src = join(work, 'src');
    mkdirSync(join(src, 'node_modules'), { recursive: true });
    execFileSync('sh', [
      '-c',
      `tar -C "$0" --exclude=./node_modules --exclude=./.git --exclude=./data -cf - . | tar -C "$1" -xf -`,
      repoRoot,
      src,
    ]);
    mount(['--bind', '-o', 'ro', src], join(root, 'src', 'aide'));
    mount(['--bind', '-o', 'ro', join(repoRoot, 'node_modules')], join(root, 'src', 'aide', 'node_modules'));
    mount(['--bind', '-o', 'ro', join(cache, 'node')], join(root, 'mnt', 'node'));
    copyFileSync('/etc/resolv.conf', join(root, 'etc', 'resolv.conf'));
    // Debian's minbase keeps downloaded packages only when told to; keep them for the next run.
    writeFileSync(
      join(root, 'etc', 'apt', 'apt.conf.d', '99keep-debs'),
      'Binary::apt::APT::Keep-Downloaded-Packages "true";\n',
    );
    // A throwaway root needs no fsync per unpacked file (what makes dpkg slow on overlayfs).
    writeFileSync(join(root, 'etc', 'dpkg', 'dpkg.cfg.d', 'aide-test-unsafe-io'), 'force-unsafe-io\n');
  } catch (err) {
    unmountAll(mounts);
    removeScratch(work);
    throw err;
  }
  return {
    root,
    path: (p) => join(root, p),
    run(cmd, opts = {}) {
      // One chroot command at a time across test files: they share the apt caches (and their locks).
      const r = spawnSync('flock', ['-w', '900', join(cache, 'chroot.lock'), 'chroot', root, ...cmd], {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? 10 * 60_000,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          LANG: 'C.UTF-8',
          HOME: '/root',
          TERM: 'dumb',
        },
      });
      return {
        status: r.status,
        out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`,
      };
    },
    cleanup() {
      unmountAll(mounts);
      removeScratch(work);
    },
  };
}

function unmountAll(mounts: string[]): void {
  for (const m of [...mounts].reverse()) {
    if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
  }
}

/** Deletes the scratch folder only when nothing is mounted under it (never through a bind mount into the repo or caches). */
function removeScratch(work: string): void {
  const mounted = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1]?.startsWith(work));
  if (mounted) {
    console.error(`install-chroot: ${work} still has mounts; leaving it in place`);
    return;
  }
  rmSync(work, { recursive: true, force: true });
}

/** scripts/install-device.sh run inside the root from the checkout, with the Node tarball ensureNodeTarball made. */
export function installDeviceCommand(...args: string[]): string[] {
  return [
    '/bin/bash',
    '/src/aide/scripts/install-device.sh',
    '--source',
    '/src/aide',
    '--node-tarball',
    `/mnt/node/node-${process.version}-linux-${nodeArch}.tar.gz`,
    ...args,
  ];
}

/** scripts/flash-sd.sh on the host, customising the chroot's root as it would an image's. */
export function flashSd(c: Chroot, nodeTarball: string, ...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(
    'bash',
    [
      join(repoRoot, 'scripts', 'flash-sd.sh'),
      '--root',
      c.root,
      '--release',
      c.path('src/aide'),
      '--node-tarball',
      nodeTarball,
      ...args,
    ],
    { encoding: 'utf8', timeout: 5 * 60_000 },
  );
}

/** A made-up broker CA for the credentials bundles of the installer tests. */
export const testCaPem =
  '-----BEGIN CERTIFICATE-----\nMIIBdGVzdCBjYSBmb3IgYWlkZQ==\n-----END CERTIFICATE-----\n';

/** The bundle `aide cloud devices add` would write for this device. */
export function testBundle(deviceId: string, password: string): string {
  return renderBundle({
    deviceId,
    password,
    brokerUrl: 'mqtts://mqtt.example.org:8883',
    apiUrl: 'https://care.example.org',
    caPem: testCaPem,
    issuedAt: new Date(),
  });
}

/** The root's /etc/aide/aide.env holds testBundle's settings and the CA is beside it; returns aide.env. */
export function assertBundleInstalled(c: Chroot, deviceId: string, password: string): string {
  const env = readFileSync(c.path('etc/aide/aide.env'), 'utf8');
  for (const line of [
    `AIDE_DEVICE_ID='${deviceId}'`,
    "MQTT_URL='mqtts://mqtt.example.org:8883'",
    `AIDE_MQTT_USERNAME='${deviceId}'`,
    `AIDE_MQTT_PASSWORD='${password}'`,
    "AIDE_CLOUD_API_URL='https://care.example.org'",
    "AIDE_MQTT_CA_FILE='/etc/aide/broker-ca.crt'",
  ])
    assert.ok(env.split('\n').includes(line), `aide.env has ${line.replace(password, '…')}`);
  assert.equal(readFileSync(c.path('etc/aide/broker-ca.crt'), 'utf8'), testCaPem);
  return env;
}

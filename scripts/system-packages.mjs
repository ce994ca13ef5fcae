#!/usr/bin/env node
// Installs the Debian packages a role needs when they are missing: as root with apt-get it installs them,
// otherwise it prints the command to run. Plain Node, no dependencies, so it works before `npm ci`.
//   node scripts/system-packages.mjs device   (speech engines and audio tools for `npm start`)
//   node scripts/system-packages.mjs test     (everything the test suite uses)
import { execFileSync, spawnSync } from 'node:child_process';

export const packageSets = {
  device: ['espeak-ng', 'flite', 'pocketsphinx', 'pocketsphinx-en-us', 'sox', 'alsa-utils', 'ffmpeg'],
  test: [
    'espeak-ng',
    'flite',
    'pocketsphinx',
    'pocketsphinx-en-us',
    'sox',
    'libsox-fmt-all',
    'alsa-utils',
    'ffmpeg',
    'libasound2-dev',
    'chromium',
    'prometheus',
    'debootstrap',
    'python3-aiosmtpd',
    'mosquitto',
    'mosquitto-clients',
    'postgresql',
    'redis-server',
    'openssl',
    'maven',
    'openjdk-17-jre-headless',
    'systemd',
  ],
};

export function missingPackages(names) {
  return names.filter((name) => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${Status} is dpkg-query's own --showformat field, not JS
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

export function ensurePackages(names, { required = false } = {}) {
  if (spawnSync('dpkg-query', ['--version']).status !== 0) {
    console.warn(`not a Debian system: make sure these are installed: ${names.join(' ')}`);
    return;
  }
  const missing = missingPackages(names);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    const msg = `missing Debian packages: ${missing.join(' ')}\n  install them with: sudo apt-get install -y ${missing.join(' ')}`;
    if (required) throw new Error(msg);
    console.warn(msg);
    return;
  }
  console.log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  execFileSync('apt-get', [...lock, 'update', '-q'], { stdio: 'inherit', env });
  execFileSync('apt-get', [...lock, 'install', '-y', '-q', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const role = process.argv[2] ?? 'device';
  const names = packageSets[role];
  if (!names) {
    console.error(`role must be one of ${Object.keys(packageSets).join(', ')}, got ${role}`);
    process.exit(2);
  }
  try {
    ensurePackages(names, { required: role === 'test' });
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}

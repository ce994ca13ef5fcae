// Runs scripts/install-device.sh for real inside a Debian bookworm root (debootstrap, cached in
// ~/.cache/aide) twice, and checks what an installer would find on the device afterwards.
// Slow (~30 s warm, a few minutes the first time): skipped with AIDE_TEST_QUICK=1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { freePort } from './harness/index.js';
import {
  type Chroot,
  chrootTestSkip,
  ensureNodeTarball,
  installDeviceCommand,
  openChroot,
} from './install-chroot.js';

const skip = chrootTestSkip();

let chroot: Chroot;
let first: { status: number | null; out: string };
let second: { status: number | null; out: string };
let envAfterFirst: string;
let releaseInodeAfterFirst: number;

const installer = () =>
  installDeviceCommand(
    '--yes',
    '--timezone',
    'Europe/London',
    '--locale',
    'en-GB',
    '--mqtt-url',
    'mqtts://mqtt.example.org:8883',
    '--mqtt-username',
    'device-0042',
    '--mqtt-password',
    'pa ss word',
  );

before(
  () => {
    if (skip) return;
    ensureNodeTarball();
    chroot = openChroot();
    first = chroot.run(installer());
    envAfterFirst = readFileSync(chroot.path('etc/aide/aide.env'), 'utf8');
    releaseInodeAfterFirst = statSync(chroot.path('opt/aide/releases/0.1.0')).ino;
    second = chroot.run(installDeviceCommand('--yes')); // no settings flags: keeps what is there
  },
  { timeout: 15 * 60_000 },
);
after(() => chroot?.cleanup());

const inRoot = (...cmd: string[]) => chroot.run(cmd);
const mode = (p: string) => (statSync(chroot.path(p)).mode & 0o7777).toString(8);
const owner = (p: string) => inRoot('stat', '-c', '%U:%G', p).out.trim();

test('the installer completes on a fresh bookworm and says systemd is not running here', { skip }, () => {
  assert.equal(first.status, 0, first.out);
  assert.match(
    first.out,
    /installed node v\d+\.\d+\.\d+ from node-v.*sha256 matches|sha256 matches SHASUMS256\.txt/s,
  );
  assert.match(first.out, /systemd is not running here.*units installed but NOT started/);
  assert.match(first.out, /Aide \d+\.\d+\.\d+ is installed/);
  // No cloud configured: no made-up code, but how to get a real one.
  assert.match(first.out, /pairing: +none: this device is offline-only\..*then run: aide pair/);
  assert.match(first.out, /console: +http:\/\/.*:8080\//);
});

test('a second run changes nothing and keeps the settings', { skip }, () => {
  assert.equal(second.status, 0, second.out);
  assert.match(second.out, /all \d+ packages already installed/);
  assert.match(second.out, /user aide exists/);
  assert.match(second.out, /release 0\.1\.0 already installed, unchanged/);
  assert.match(second.out, /settings unchanged/);
  assert.match(second.out, /units unchanged/);
  assert.doesNotMatch(second.out, /Created symlink/);
  assert.equal(readFileSync(chroot.path('etc/aide/aide.env'), 'utf8'), envAfterFirst);
  assert.equal(
    statSync(chroot.path('opt/aide/releases/0.1.0')).ino,
    releaseInodeAfterFirst,
    'release not copied again',
  );
});

test('a dedicated system user with audio access owns the data folder, mode 0700', { skip }, () => {
  assert.match(inRoot('id', 'aide').out, /groups=.*\baudio\b/);
  assert.match(
    inRoot('getent', 'passwd', 'aide').out,
    /^aide:x:\d{3}:\d+:.*:\/var\/lib\/aide:\/usr\/sbin\/nologin$/m,
  );
  for (const d of ['var/lib/aide', 'var/lib/aide/keys', 'var/lib/aide/backups', 'var/lib/aide/models']) {
    assert.equal(mode(d), '700', d);
    assert.equal(owner(`/${d}`), 'aide:aide', d);
  }
  assert.equal(owner('/var/lib/aide/aide.db'), 'aide:aide', 'the store was migrated as the aide user');
});

test('settings are root-owned, readable by the agent only, with the given values', { skip }, () => {
  assert.equal(mode('etc/aide'), '750');
  assert.equal(owner('/etc/aide'), 'root:aide');
  assert.equal(mode('etc/aide/aide.env'), '640');
  assert.equal(owner('/etc/aide/aide.env'), 'root:aide');
  assert.match(envAfterFirst, /^AIDE_TIMEZONE='Europe\/London'$/m);
  assert.match(envAfterFirst, /^MQTT_URL='mqtts:\/\/mqtt\.example\.org:8883'$/m);
  assert.match(envAfterFirst, /^AIDE_MQTT_PASSWORD='pa ss word'$/m);
  assert.match(envAfterFirst, /^AIDE_MODELS_DIR='\/var\/lib\/aide\/models'$/m);
});

test('the release is root-owned, current points at it, and aide runs from the wrapper', { skip }, () => {
  assert.equal(inRoot('readlink', '/opt/aide/current').out.trim(), 'releases/0.1.0');
  assert.equal(owner('/opt/aide/releases/0.1.0'), 'root:root');
  assert.equal(
    inRoot('find', '/opt/aide/releases/0.1.0', '-perm', '/022', '-not', '-type', 'l').out.trim(),
    '',
    'nothing group/world-writable',
  );
  assert.equal(mode('usr/local/bin/aide'), '755');
  const backup = inRoot('/usr/local/bin/aide', 'backup', '--keep', '2');
  assert.equal(backup.status, 0, backup.out);
  const file = /backup: (\S+)/.exec(backup.out)?.[1] as string;
  assert.equal(owner(file), 'aide:aide', 'root running aide backup still writes as the aide user');
  assert.equal(mode(file.slice(1)), '600');
});

test('units are installed, enabled for boot, and systemd-analyze verify accepts them in the installed system', {
  skip,
}, () => {
  for (const u of [
    'aide-device.service',
    'aide-cloud@.service',
    'aide-backup.service',
    'aide-backup.timer',
    'aide-update-check.service',
    'aide-update-check.timer',
  ]) {
    assert.equal(mode(`etc/systemd/system/${u}`), '644', u);
  }
  assert.equal(
    inRoot('readlink', '/etc/systemd/system/multi-user.target.wants/aide-device.service').out.trim(),
    '/etc/systemd/system/aide-device.service',
  );
  assert.ok(
    lstatSync(chroot.path('etc/systemd/system/timers.target.wants/aide-backup.timer')).isSymbolicLink(),
  );
  const verify = inRoot(
    'systemd-analyze',
    'verify',
    '--man=no',
    'aide-device.service',
    'aide-backup.service',
    'aide-backup.timer',
    'aide-update-check.service',
    'aide-update-check.timer',
    'aide-cloud@api.service',
  );
  assert.equal(verify.status, 0, verify.out);
  assert.equal(verify.out.trim(), '', `no warnings expected:\n${verify.out}`);
});

test('the installed agent starts as the aide user with the installed settings, and aide status sees it', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const port = await freePort();
  const agent = spawn('chroot', [chroot.root, '/usr/local/bin/aide', 'device', '--port', String(port)], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', LANG: 'C.UTF-8' },
  });
  let log = '';
  agent.stdout.on('data', (b) => (log += b));
  agent.stderr.on('data', (b) => (log += b));
  t.after(() => {
    try {
      process.kill(-(agent.pid as number), 'SIGTERM');
    } catch {}
  });
  const deadline = Date.now() + 60_000;
  let ready = 0;
  while (Date.now() < deadline && ready !== 200) {
    ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (ready !== 200) await new Promise((r) => setTimeout(r, 300));
  }
  assert.equal(ready, 200, log);
  const aideUid = Number(inRoot('id', '-u', 'aide').out.trim());
  const uids = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        if (!(cmd[0].endsWith('node') && cmd.includes('device') && cmd.includes(String(port)))) return [];
        return [Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1])];
      } catch {
        return [];
      }
    });
  assert.deepEqual(uids, [aideUid], 'the agent (one node process) runs as the aide user');
  const status = inRoot('/usr/local/bin/aide', 'status', '--port', String(port));
  assert.equal(status.status, 0, status.out);
  assert.match(status.out, /^agent: +ready at http:\/\/127\.0\.0\.1:\d+ \(device /m);
  assert.match(status.out, /^release: +0\.1\.0$/m);
  assert.match(status.out, /^sync: +configured; backlog \d+ message/m);
});

test('a bad setting stops the installer with the variable named, and nothing changes', {
  skip,
  timeout: 300_000,
}, () => {
  const before = readFileSync(chroot.path('etc/aide/aide.env'), 'utf8');
  const r = chroot.run(installer().slice(0, 6).concat('--yes', '--timezone', 'Mars/Olympus_Mons'));
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /FAILED at step "writing \/etc\/aide\/aide\.env"/);
  assert.match(r.out, /AIDE_TIMEZONE: .*Mars\/Olympus_Mons/);
  assert.match(r.out, /nothing was changed/);
  assert.equal(readFileSync(chroot.path('etc/aide/aide.env'), 'utf8'), before);
  assert.ok(!statSync(chroot.path('etc/aide')).isFile());
  assert.equal(inRoot('ls', '/etc/aide').out.trim(), 'aide.env', 'no temporary file left behind');
});

// `systemd-analyze verify` accepts every unit in systemd/ with no warnings. It runs against a
// scratch root holding the distribution's own units (so dependencies like network-online.target
// resolve) and a stand-in for the installed /opt/aide/current/bin/aide.js (verify checks that
// ExecStart= is executable). The chroot install test verifies them again in a real install.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './install-chroot.js';

const systemUnits = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) =>
  existsSync(join(d, 'multi-user.target')),
);
const skip =
  spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0
    ? 'needs systemd-analyze'
    : !systemUnits
      ? 'needs systemd unit files'
      : false;
const unitDir = join(repoRoot, 'systemd');

function verify(units: string[]): { status: number | null; out: string } {
  const root = mkdtempSync(join(tmpdir(), 'aide-units-'));
  try {
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync(systemUnits as string, join(root, 'usr/lib/systemd/system'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    cpSync(unitDir, join(root, 'etc/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'opt/aide/current/bin'), { recursive: true });
    writeFileSync(join(root, 'opt/aide/current/bin/aide.js'), '#!/bin/sh\n');
    chmodSync(join(root, 'opt/aide/current/bin/aide.js'), 0o755);
    mkdirSync(join(root, 'usr/sbin'), { recursive: true });
    writeFileSync(join(root, 'usr/sbin/runuser'), '#!/bin/sh\n');
    chmodSync(join(root, 'usr/sbin/runuser'), 0o755);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, ...units], {
      encoding: 'utf8',
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('systemd-analyze verify accepts every unit without warnings', { skip }, () => {
  const units = readdirSync(unitDir)
    .filter((f) => /\.(service|timer)$/.test(f))
    .map((f) => (f.endsWith('@.service') ? f.replace('@.service', '@api.service') : f));
  assert.ok(units.length >= 6, units.join(' '));
  const r = verify(units);
  assert.equal(r.status, 0, r.out);
  assert.equal(r.out.trim(), '', r.out);
});

test('verify is not a rubber stamp: a broken timer is refused', { skip }, () => {
  const good = readFileSync(join(unitDir, 'aide-backup.timer'), 'utf8');
  const scratch = mkdtempSync(join(tmpdir(), 'aide-units-bad-'));
  try {
    // Same check against a copy of the unit folder with one broken setting.
    cpSync(unitDir, scratch, { recursive: true });
    writeFileSync(
      join(scratch, 'aide-backup.timer'),
      good.replace(/^OnCalendar=.*$/m, 'OnCalendar=every night'),
    );
    const root = mkdtempSync(join(tmpdir(), 'aide-units-'));
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync(systemUnits as string, join(root, 'usr/lib/systemd/system'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    cpSync(scratch, join(root, 'etc/systemd/system'), { recursive: true });
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, 'aide-backup.timer'], {
      encoding: 'utf8',
    });
    rmSync(root, { recursive: true, force: true });
    assert.notEqual(r.status, 0);
    assert.match(`${r.stdout}${r.stderr}`, /Failed to parse calendar specification/);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

test('the device unit has the contract the agent relies on', () => {
  const unit = readFileSync(join(unitDir, 'aide-device.service'), 'utf8');
  const has = (line: string) =>
    assert.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
  has('Type=notify');
  has('NotifyAccess=all'); // sd_notify comes from a systemd-notify child (common/lifecycle.ts)
  has('Restart=always');
  has('RestartPreventExitStatus=78'); // bad configuration (bin/aide.ts exits 78)
  has('User=aide');
  has('ProtectSystem=strict');
  has('ReadWritePaths=/var/lib/aide');
  has('NoNewPrivileges=yes');
  has('PrivateTmp=yes');
  has('ProtectHome=yes');
  assert.match(unit, /^WatchdogSec=\d+$/m);
  assert.match(unit, /^MemoryMax=\d+M$/m);
  assert.match(unit, /^RestrictAddressFamilies=.*AF_UNIX/m);
  assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m, 'V8 needs W+X pages');
});

// scripts/flash-sd.sh customises a root file system (here: a fresh debootstrap bookworm root, in
// place of a Raspberry Pi OS image's) with a first-boot hook; then the hook is run in that root as
// systemd would on first boot, and must install Aide from the release tarball it carries and
// remove itself. Slow (~1 min): skipped with AIDE_TEST_QUICK=1.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type Chroot, chrootTestSkip, ensureNodeTarball, flashSd, openChroot } from './install-chroot.js';

const skip = chrootTestSkip();
let chroot: Chroot | undefined;
after(() => chroot?.cleanup());

test('an image prepared by flash-sd.sh installs Aide on first boot and removes the hook', {
  skip,
  timeout: 15 * 60_000,
}, () => {
  const nodeTarball = ensureNodeTarball();
  chroot = openChroot();
  const c = chroot;
  const flash = flashSd(
    c,
    nodeTarball,
    '--',
    '--timezone',
    'Europe/Berlin',
    '--mqtt-url',
    'mqtts://mqtt.example.org:8883',
    '--provisioning-token',
    'tok en-1',
    '--skip-selftest',
  );
  assert.equal(flash.status, 0, `${flash.stdout}${flash.stderr}`);
  assert.doesNotMatch(flash.stdout, /tok en-1/, 'secrets are not printed');

  const payload = c.path('opt/aide-firstboot');
  assert.equal(statSync(payload).mode & 0o777, 0o700);
  assert.equal(statSync(join(payload, 'installer.args')).mode & 0o777, 0o600);
  assert.deepEqual(readFileSync(join(payload, 'installer.args'), 'utf8').trim().split('\n'), [
    '--source',
    '/opt/aide-firstboot/aide.tar',
    '--yes',
    '--node-tarball',
    `/opt/aide-firstboot/${nodeTarball.split('/').at(-1)}`,
    '--timezone',
    'Europe/Berlin',
    '--mqtt-url',
    'mqtts://mqtt.example.org:8883',
    '--provisioning-token',
    'tok en-1',
    '--skip-selftest',
  ]);
  const wants = c.path('etc/systemd/system/multi-user.target.wants/aide-firstboot.service');
  assert.ok(lstatSync(wants).isSymbolicLink(), 'the hook is enabled for boot');
  const unit = readFileSync(c.path('etc/systemd/system/aide-firstboot.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/opt\/aide-firstboot\/firstboot\.sh$/m);
  assert.match(unit, /^After=network-online\.target/m);

  // First boot: systemd would run ExecStart; here we run it in the root ourselves.
  const boot = c.run(['/opt/aide-firstboot/firstboot.sh'], { timeoutMs: 10 * 60_000 });
  assert.equal(boot.status, 0, boot.out);
  assert.match(boot.out, /aide-firstboot: done/);
  assert.equal(c.run(['readlink', '/opt/aide/current']).out.trim(), 'releases/0.1.0');
  const env = readFileSync(c.path('etc/aide/aide.env'), 'utf8');
  assert.match(env, /^AIDE_TIMEZONE='Europe\/Berlin'$/m);
  assert.match(env, /^AIDE_PROVISIONING_TOKEN='tok en-1'$/m);
  assert.ok(existsSync(c.path('var/lib/aide/aide.db')));
  assert.ok(!existsSync(payload), 'the payload (with its secrets) is gone');
  assert.throws(() => lstatSync(wants), 'the hook is disabled');
  assert.match(readFileSync(c.path('var/log/aide-firstboot.log'), 'utf8'), /aide-firstboot: done/);
});

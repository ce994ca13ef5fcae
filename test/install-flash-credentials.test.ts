// scripts/flash-sd.sh --credentials FILE puts the bundle of `aide cloud devices add` into the image, so
// the first boot's installer uses it (aide.env, broker CA); a bad bundle stops flash-sd.sh before the
// image is touched. The hook is run in a Debian bookworm root as systemd would on first boot.
// Slow (~1-2 min): skipped with AIDE_TEST_QUICK=1.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  assertBundleInstalled,
  type Chroot,
  chrootTestSkip,
  ensureNodeTarball,
  flashSd,
  openChroot,
  testBundle,
} from './install-chroot.js';

const skip = chrootTestSkip();
let chroot: Chroot | undefined;
const tmp = mkdtempSync(join(tmpdir(), 'aide-flash-cred-'));
after(() => {
  chroot?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const password = 'Fl4sh-secret_password_from_the_bundle_0077';

test('flash-sd.sh --credentials: the first boot installs with the device bundle', {
  skip,
  timeout: 15 * 60_000,
}, () => {
  const nodeTarball = ensureNodeTarball();
  chroot = openChroot();
  const c = chroot;
  const bundle = testBundle('dev-0077', password);
  const good = join(tmp, 'dev-0077.credentials');
  const bad = join(tmp, 'bad.credentials');
  writeFileSync(good, bundle, { mode: 0o600 });
  writeFileSync(bad, bundle.replace(/^MQTT_URL=.*\n/m, ''), { mode: 0o600 });
  const flash = (...args: string[]) => flashSd(c, nodeTarball, ...args);
  const payload = c.path('opt/aide-firstboot');

  const refused = flash('--credentials', bad, '--', '--timezone', 'Europe/Berlin');
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /credentials bundle .*bad\.credentials has no MQTT_URL/);
  assert.match(refused.stderr, /aide cloud devices add <device id> --out FILE/);
  assert.ok(!existsSync(payload), 'the root was not touched');
  const misplaced = flash('--', '--credentials', '/root/dev.credentials');
  assert.notEqual(misplaced.status, 0);
  assert.match(misplaced.stderr, /give --credentials FILE before --/);

  const ok = flash(
    '--credentials',
    good,
    '--',
    '--timezone',
    'Europe/Berlin',
    '--skip-models',
    '--skip-selftest',
  );
  assert.equal(ok.status, 0, `${ok.stdout}${ok.stderr}`);
  assert.ok(!`${ok.stdout}${ok.stderr}`.includes(password), 'the password is not printed');
  const copied = join(payload, 'device.credentials');
  assert.equal(readFileSync(copied, 'utf8'), bundle);
  assert.equal(statSync(copied).mode & 0o777, 0o600);
  const args = readFileSync(join(payload, 'installer.args'), 'utf8').trim().split('\n');
  assert.deepEqual(args.slice(args.indexOf('--credentials'), args.indexOf('--credentials') + 2), [
    '--credentials',
    '/opt/aide-firstboot/device.credentials',
  ]);

  // First boot: systemd would run ExecStart; here we run it in the root ourselves.
  const boot = c.run(['/opt/aide-firstboot/firstboot.sh'], { timeoutMs: 10 * 60_000 });
  assert.equal(boot.status, 0, boot.out);
  assert.match(boot.out, /aide-firstboot: done/);
  assert.ok(!boot.out.includes(password), 'the password is not in the boot log');
  const env = assertBundleInstalled(c, 'dev-0077', password);
  assert.ok(env.split('\n').includes("AIDE_TIMEZONE='Europe/Berlin'"), 'aide.env has the time zone');
  assert.ok(!existsSync(payload), 'the payload (with the bundle) is gone');
});

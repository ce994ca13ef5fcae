// install-device.sh --credentials takes the bundle `aide cloud devices add` writes: a bad bundle stops
// the installer before it changes anything; a good one ends up in /etc/aide/aide.env and the broker CA
// beside it, readable by the agent only. Runs the installer for real in a Debian bookworm root.
// Slow (~1 min warm): skipped with AIDE_TEST_QUICK=1.
import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { loadDeviceConfig } from '../device/config.js';
import {
  assertBundleInstalled,
  type Chroot,
  chrootTestSkip,
  ensureNodeTarball,
  installDeviceCommand,
  openChroot,
  testBundle,
} from './install-chroot.js';

const skip = chrootTestSkip();
let chroot: Chroot | undefined;
after(() => chroot?.cleanup());

const password = 'Zq3-secret_password_from_the_bundle_0042';

test('the installer takes a device credentials bundle', { skip, timeout: 15 * 60_000 }, () => {
  ensureNodeTarball();
  chroot = openChroot();
  const c = chroot;
  const bundle = testBundle('dev-0042', password);
  writeFileSync(c.path('root/good.credentials'), bundle, { mode: 0o600 });
  writeFileSync(c.path('root/bad.credentials'), bundle.replace(/^AIDE_MQTT_PASSWORD=.*\n/m, ''), {
    mode: 0o600,
  });
  const installer = (credentials: string) =>
    installDeviceCommand(
      '--yes',
      '--skip-models',
      '--skip-selftest',
      '--no-start',
      '--timezone',
      'Europe/London',
      '--credentials',
      credentials,
    );

  const bad = c.run(installer('/root/bad.credentials'));
  assert.notEqual(bad.status, 0);
  assert.match(bad.out, /credentials bundle \/root\/bad\.credentials has no AIDE_MQTT_PASSWORD/);
  assert.match(bad.out, /aide cloud devices add <device id> --out FILE/);
  assert.ok(!existsSync(c.path('opt/aide')), 'nothing installed from a bad bundle');

  const good = c.run(installer('/root/good.credentials'));
  assert.equal(good.status, 0, good.out);
  assert.ok(!good.out.includes(password), 'the password is not printed');
  const env = assertBundleInstalled(c, 'dev-0042', password);
  assert.equal((statSync(c.path('etc/aide/broker-ca.crt')).mode & 0o777).toString(8), '640');
  assert.equal(c.run(['stat', '-c', '%U:%G', '/etc/aide/broker-ca.crt']).out.trim(), 'root:aide');
  // The agent accepts these settings.
  const values: Record<string, string> = {};
  for (const m of env.matchAll(/^([A-Z][A-Z0-9_]*)='(.*)'$/gm)) values[m[1]!] = m[2]!;
  assert.equal(loadDeviceConfig({ env: values }).AIDE_DEVICE_ID, 'dev-0042');
});

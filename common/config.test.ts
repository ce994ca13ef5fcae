import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDeviceConfig } from '../device/config.js';
import { ConfigError } from './config.js';

test('defaults make a laptop start work', () => {
  const cfg = loadDeviceConfig({ env: {} });
  assert.equal(cfg.AIDE_DATA_DIR, './data');
  assert.equal(cfg.AIDE_PORT, 8080);
  assert.equal(cfg.AIDE_HOST, '127.0.0.1');
  assert.equal(cfg.MQTT_URL, undefined);
  assert.equal(cfg.AIDE_AUDIO_CAPTURE, false);
});

test('flags beat environment, which beats the config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aide-cfg-'));
  const file = join(dir, 'aide.json');
  writeFileSync(file, JSON.stringify({ AIDE_PORT: 7000, AIDE_HOST: '0.0.0.0', AIDE_DATA_DIR: '/from-file' }));
  const cfg = loadDeviceConfig({
    env: { AIDE_PORT: '7001', AIDE_DATA_DIR: '/from-env' },
    flags: { AIDE_DATA_DIR: '/from-flag' },
    file,
  });
  assert.equal(cfg.AIDE_DATA_DIR, '/from-flag');
  assert.equal(cfg.AIDE_PORT, 7001);
  assert.equal(cfg.AIDE_HOST, '0.0.0.0');
});

test('every bad variable is listed at once, naming it and the rule', () => {
  assert.throws(
    () =>
      loadDeviceConfig({
        env: {
          AIDE_PORT: '99999',
          AIDE_TIMEZONE: 'Mars/Olympus',
          MQTT_URL: 'http://broker',
          AIDE_LOG_LEVEL: 'loud',
        },
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      assert.match(text, /AIDE_PORT: must be between 0 and 65535, got "99999"/);
      assert.match(text, /AIDE_TIMEZONE: must be an IANA time zone/);
      assert.match(text, /MQTT_URL: must be a URL with scheme mqtt or mqtts/);
      assert.match(text, /AIDE_LOG_LEVEL/);
      assert.equal(err.problems.length, 4);
      return true;
    },
  );
});

test('an unreadable config file or unknown key is reported', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aide-cfg-'));
  const file = join(dir, 'aide.json');
  writeFileSync(file, JSON.stringify({ AIDE_PROT: 1 }));
  assert.throws(() => loadDeviceConfig({ env: {}, file }), /AIDE_PROT: not a known setting/);
  assert.throws(
    () => loadDeviceConfig({ env: {}, file: join(dir, 'missing.json') }),
    /cannot read config file/,
  );
});

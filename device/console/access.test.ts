import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../common/config.js';
import { createHttpServer } from '../../common/http.js';
import { silentLogger } from '../../common/log.js';
import { createMetrics } from '../../common/metrics.js';
import { createReadiness } from '../../common/readiness.js';
import { checkConsoleExposure, requireConsoleToken } from './access.js';

const token = 'a3f1c9e07b2d4c5e8f9a0b1c2d3e4f50';

function consoleWithToken() {
  const app = createHttpServer({
    log: silentLogger,
    metrics: createMetrics({ defaultMetrics: false }),
    readiness: createReadiness(),
  });
  requireConsoleToken(app, token);
  app.get('/api/measurements', async () => ({ items: [{ type: 'blood_pressure' }] }));
  return app;
}

test('a console open to the network without a token refuses to start', () => {
  assert.throws(
    () => checkConsoleExposure('0.0.0.0', undefined),
    (err: unknown) => err instanceof ConfigError && /AIDE_CONSOLE_TOKEN: required/.test(err.message),
  );
  assert.doesNotThrow(() => checkConsoleExposure('127.0.0.1', undefined));
  assert.doesNotThrow(() => checkConsoleExposure('0.0.0.0', token));
});

test('browsers on the home network need the token; this machine and health probes do not', async () => {
  const app = consoleWithToken();
  const remote = { remoteAddress: '192.0.2.10' };
  const denied = await app.inject({ url: '/api/measurements', ...remote });
  assert.equal(denied.statusCode, 401);
  assert.equal(denied.json().error.code, 'unauthenticated');
  assert.doesNotMatch(denied.body, /blood_pressure/);

  assert.equal(
    (
      await app.inject({
        url: '/api/measurements',
        headers: { authorization: 'Bearer wrong-token-wrong-token!!' },
        ...remote,
      })
    ).statusCode,
    401,
  );
  assert.equal(
    (await app.inject({ url: '/api/measurements', headers: { authorization: `Bearer ${token}` }, ...remote }))
      .statusCode,
    200,
  );
  assert.equal((await app.inject({ url: '/readyz', ...remote })).statusCode, 200);
  assert.equal((await app.inject({ url: '/api/measurements', remoteAddress: '127.0.0.1' })).statusCode, 200);

  // The URL the installer prints sets a cookie that later requests carry.
  const first = await app.inject({ url: `/api/measurements?token=${token}`, ...remote });
  assert.equal(first.statusCode, 200);
  const setCookie = String(first.headers['set-cookie']);
  assert.match(setCookie, /HttpOnly; SameSite=Strict/);
  const cookie = setCookie.split(';')[0];
  assert.equal(
    (await app.inject({ url: '/api/measurements', headers: { cookie }, ...remote })).statusCode,
    200,
  );
});

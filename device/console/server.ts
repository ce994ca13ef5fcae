import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requestPairingCode } from '../../cloud-sync/device/pairing.js';
import { createHttpServer, type FastifyInstance } from '../../common/http.js';
import { registerAgentRoutes } from '../agent/routes.js';
import type { DeviceContext } from '../context.js';
import { registerStoreRoutes } from '../store/routes.js';
import { requireConsoleToken } from './access.js';

const publicDir = join(dirname(fileURLToPath(import.meta.url)), 'public');

/**
 * The device console: health endpoints, the JSON API the subsystems register, and the pages an
 * installer or family member opens in a browser on the local network.
 */
export function createConsole(ctx: DeviceContext): FastifyInstance {
  const app = createHttpServer({
    log: ctx.log,
    metrics: ctx.metrics,
    readiness: ctx.readiness,
    bodyLimit: ctx.config.AIDE_BODY_LIMIT_BYTES,
    info: { service: 'aide-device', deviceId: ctx.deviceId },
  });
  if (ctx.config.AIDE_CONSOLE_TOKEN) requireConsoleToken(app, ctx.config.AIDE_CONSOLE_TOKEN);
  const page = (file: string) => readFileSync(join(publicDir, file), 'utf8');
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page('index.html')));
  app.get('/api/status', async () => ({
    deviceId: ctx.deviceId,
    timezone: ctx.config.AIDE_TIMEZONE,
    sync: ctx.config.MQTT_URL ? 'configured' : 'off',
    outboxSize: ctx.outbox.size(),
    readiness: ctx.readiness.snapshot(),
  }));
  // The console (or the agent) shows or speaks this code; a caregiver types it into the web app.
  app.post('/api/pairing-code', async () =>
    requestPairingCode({
      apiUrl: ctx.config.AIDE_CLOUD_API_URL,
      deviceId: ctx.config.AIDE_MQTT_USERNAME,
      password: ctx.config.AIDE_MQTT_PASSWORD,
    }),
  );
  registerStoreRoutes(app, ctx.store);
  if (ctx.agent) registerAgentRoutes(app, ctx.agent);
  return app;
}

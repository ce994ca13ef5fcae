import type { FastifyInstance } from '../../../common/http.js';
import { perIpAuthRate } from '../auth/guard.js';
import type { ApiDeps } from '../deps.js';
import { createPairingCode } from '../people/pairing.js';

/**
 * Routes a device calls with its own credentials. `POST /v1/device/pairing-code` gives the device a fresh
 * 8-digit code to show or speak; a caregiver types it into the web app (`POST /v1/devices/claim`).
 */
export function registerDeviceRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const perIp = perIpAuthRate(deps);
  app.post('/v1/device/pairing-code', async (req, reply) => {
    await perIp(req, reply);
    const deviceId = deps.deviceCredentials.authenticate(req);
    const code = await createPairingCode(deps.pool, deps.clock, deviceId);
    deps.log.info({ deviceId }, 'pairing code issued');
    reply.code(201);
    return { code: code.code, spoken: code.code.split('').join(' '), expiresAt: code.expiresAt };
  });
}

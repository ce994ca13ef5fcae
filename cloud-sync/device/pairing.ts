import { AppError, invalidArgument, unavailable } from '../../common/errors.js';
import { withTimeout } from '../../common/resilience.js';

export interface PairingCode {
  code: string;
  /** Digits separated by spaces, so speech synthesis reads them one by one. */
  spoken: string;
  expiresAt: string;
}

export interface PairingSettings {
  apiUrl?: string;
  deviceId?: string;
  password?: string;
}

/**
 * Asks the caregiver API for a short-lived pairing code, signing in with the device's own MQTT
 * credentials. A caregiver types the code into the web app to link the device to their account.
 */
export async function requestPairingCode(s: PairingSettings, timeoutMs = 8000): Promise<PairingCode> {
  const missing = [
    !s.apiUrl && 'AIDE_CLOUD_API_URL',
    !s.deviceId && 'AIDE_MQTT_USERNAME',
    !s.password && 'AIDE_MQTT_PASSWORD',
  ].filter(Boolean) as string[];
  if (missing.length) {
    throw invalidArgument(`pairing needs the cloud: set ${missing.join(', ')}`, {
      details: missing.map((field) => ({ field, rule: 'required', message: `${field} is required to pair` })),
    });
  }
  const url = new URL('/v1/device/pairing-code', s.apiUrl);
  const auth = Buffer.from(`${s.deviceId}:${s.password}`).toString('base64');
  const res = await withTimeout(timeoutMs, 'the caregiver API', (signal) =>
    fetch(url, { method: 'POST', headers: { authorization: `Basic ${auth}` }, signal }).catch((err) => {
      throw unavailable(`cannot reach the caregiver API at ${url.origin}: ${(err as Error).message}`);
    }),
  );
  if (res.status === 401)
    throw new AppError('unauthenticated', 'the caregiver API refused this device’s credentials');
  if (!res.ok) throw unavailable(`the caregiver API answered ${res.status}`);
  const body = (await res.json()) as PairingCode;
  return { code: body.code, spoken: body.spoken, expiresAt: body.expiresAt };
}

import { z } from 'zod';
import { timezone } from '../../common/config.js';

/**
 * Device settings a caregiver may set from the cloud (`settings` command: `{version, values}`).
 * `values` is a partial document: keys not named keep their value; `null` returns a key to the
 * device's own configuration (its installer's /etc/aide/aide.env). Each key overrides one device
 * configuration variable. A key this device does not know (sent by a newer cloud) is kept and
 * reported as ignored in the acknowledgement, never refused, so a newer cloud talks to an older device.
 */
export const deviceSettings = {
  /** Speaking rate of the device's voice in words per minute. */
  'speech.rate': z
    .number()
    .int('must be a whole number')
    .min(80, 'must be 80-260')
    .max(260, 'must be 80-260'),
  /** Loudness of the device's voice in percent of the synthesized level (0 is silent). */
  'speech.volume': z.number().int('must be a whole number').min(0, 'must be 0-100').max(100, 'must be 0-100'),
  /**
   * The device's voice, by the name its speech engine knows (espeak-ng: en-gb, en-us, en-gb-scotland…;
   * flite: slt, awb…; sherpa: a speaker number). The device refuses a voice it does not have.
   */
  'speech.voice': z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, 'must be a voice name (letters, digits, - and _, up to 40)'),
  /** Local hours when repeat medicine reminders stay silent, `HH:MM-HH:MM`; empty: none. */
  'reminders.quietHours': z
    .string()
    .regex(/^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM-HH:MM or empty'),
  /** Time zone of the device's first person (moves their future doses). */
  timezone: timezone(),
  /** Language and region of the device's first person, e.g. en-GB. */
  locale: z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a language tag such as en-GB'),
} as const;

export type DeviceSettingKey = keyof typeof deviceSettings;
export const deviceSettingKeys = Object.keys(deviceSettings) as DeviceSettingKey[];
export const isDeviceSettingKey = (k: string): k is DeviceSettingKey => Object.hasOwn(deviceSettings, k);

export type SettingsCheck =
  | { ok: true; known: Partial<Record<DeviceSettingKey, unknown>>; unknown: string[] }
  | { ok: false; fields: string[] };

/** Checks the known keys of a settings document (`null` always allowed); lists the unknown ones. */
export function checkDeviceSettings(values: Record<string, unknown>): SettingsCheck {
  const known: Partial<Record<DeviceSettingKey, unknown>> = {};
  const unknown: string[] = [];
  const fields: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (!isDeviceSettingKey(k)) {
      unknown.push(k);
      continue;
    }
    if (v === null) {
      known[k] = null;
      continue;
    }
    const r = deviceSettings[k].safeParse(v);
    if (r.success) known[k] = r.data;
    else fields.push(...r.error.issues.map((i) => `values.${k}: ${i.message}`));
  }
  return fields.length ? { ok: false, fields } : { ok: true, known, unknown };
}

import type { Clock } from '../../common/clock.js';
import { fieldError } from '../../common/errors.js';
import type { DeviceConfig } from '../../device/config.js';
import type { DeviceContext } from '../../device/context.js';
import { parseQuietHours } from '../../device/reminders/settings.js';
import type { Db } from '../../device/store/db.js';
import { getSetting, setSetting } from '../../device/store/settings.js';
import type { DeviceSettingKey } from '../protocol/index.js';

/** The configuration variable each cloud setting overrides (README "Settings from the cloud"). */
export const settingOverrides = {
  'speech.rate': 'AIDE_TTS_RATE',
  'speech.volume': 'AIDE_TTS_VOLUME',
  'speech.voice': 'AIDE_TTS_VOICE',
  'reminders.quietHours': 'AIDE_REMINDER_QUIET_HOURS',
  timezone: 'AIDE_TIMEZONE',
  locale: 'AIDE_LOCALE',
} as const satisfies Record<DeviceSettingKey, keyof DeviceConfig>;

/** The settings document last applied from the cloud (kept in the store, survives restarts). */
export interface CloudSettings {
  version: number;
  values: Record<string, unknown>;
}

const KEY = 'cloud_settings';

export function readCloudSettings(db: Db): CloudSettings {
  const raw = getSetting(db, KEY);
  if (!raw) return { version: 0, values: {} };
  const doc = JSON.parse(raw) as Partial<CloudSettings>;
  return { version: doc.version ?? 0, values: doc.values ?? {} };
}

export function writeCloudSettings(db: Db, clock: Clock, doc: CloudSettings): void {
  setSetting(db, clock, KEY, JSON.stringify(doc));
}

type Overridden = (typeof settingOverrides)[DeviceSettingKey];

/**
 * Makes cloud settings change what the device does. Store effects (the first person's time zone and
 * language, which re-plan their doses) run inside the command's transaction; runtime effects (speech
 * rate, volume and voice, reminder quiet hours) are applied to the live configuration the voice pipeline and
 * the reminder scheduler read, at start (from the stored document) and after each applied command.
 * The installer's values are kept so a `null` from the cloud restores them.
 */
export function createCloudSettings(ctx: DeviceContext) {
  const config = ctx.config as Record<Overridden, unknown>;
  const base = Object.fromEntries(Object.values(settingOverrides).map((v) => [v, config[v]])) as Record<
    Overridden,
    unknown
  >;
  const effective = (values: Record<string, unknown>, key: DeviceSettingKey) =>
    values[key] ?? base[settingOverrides[key]];

  function applyRuntime(values: Record<string, unknown>): void {
    for (const [key, variable] of Object.entries(settingOverrides))
      config[variable] = effective(values, key as DeviceSettingKey);
    const scheduler = ctx.reminders?.scheduler;
    if (scheduler) {
      const quiet = ctx.config.AIDE_REMINDER_QUIET_HOURS;
      if (quiet) scheduler.settings.quiet = parseQuietHours(quiet);
      else delete scheduler.settings.quiet;
      scheduler.poke();
    }
  }

  /**
   * A voice must be one the device's speaking engine has: otherwise the command is refused naming the
   * setting and the voices there are (an AppError: rejected, not re-sent).
   */
  function checkVoice(voice: unknown): void {
    if (typeof voice !== 'string') return; // null: back to the installer's voice
    const have = ctx.voice?.voices();
    const field = 'values.speech.voice';
    if (!have)
      throw fieldError(
        field,
        'installed',
        `${field}: this device's speech engine has no voices to choose from`,
      );
    if (!have.voices.includes(voice.toLowerCase())) {
      // Name the voices of the language spoken now (en-…), the likeliest wanted ones, then the count.
      const lang = String(base.AIDE_TTS_VOICE ?? '')
        .split(/[-_]/)[0]!
        .toLowerCase();
      const near = have.voices.filter((v) => lang && (v === lang || v.startsWith(`${lang}-`)));
      const some = (near.length ? near : have.voices).slice(0, 20).join(', ');
      throw fieldError(
        field,
        'installed',
        `${field}: "${voice}" is not installed (${have.engine} has ${have.voices.length} voices, such as ${some})`,
      );
    }
  }

  /** Inside the inbox transaction: a store failure rolls the command back (it is re-sent). */
  function applyToStore(known: Partial<Record<DeviceSettingKey, unknown>>): void {
    if ('speech.voice' in known) checkVoice(known['speech.voice']);
    if (!('timezone' in known) && !('locale' in known)) return;
    const people = ctx.store.people;
    const id = people.primaryId();
    const cur = people.getSync(id);
    const timezone = 'timezone' in known ? (effective(known, 'timezone') as string) : cur.timezone;
    const locale = 'locale' in known ? (effective(known, 'locale') as string) : cur.locale;
    if (timezone !== cur.timezone || locale !== cur.locale) people.update(id, { timezone, locale });
  }

  return { applyRuntime, applyToStore, start: () => applyRuntime(readCloudSettings(ctx.db).values) };
}

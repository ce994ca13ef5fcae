import { DateTime } from 'luxon';
import type { DeviceConfig } from '../config.js';

const MINUTE = 60_000;

/** The reminder variables of device/config.ts in milliseconds. */
export interface ReminderSettings {
  graceMs: number;
  escalateMs: number;
  reaskMs: number;
  snoozeMs: number;
  maxSnoozes: number;
  /** Minutes after local midnight; absent: no quiet hours. */
  quiet?: { start: number; end: number };
  quietHoldsFirst: boolean;
  alertWindowMs: number;
  maxSleepMs: number;
}

export function reminderSettings(
  config: Pick<
    DeviceConfig,
    | 'AIDE_REMINDER_GRACE_MINUTES'
    | 'AIDE_REMINDER_ESCALATE_MINUTES'
    | 'AIDE_REMINDER_REASK_MINUTES'
    | 'AIDE_REMINDER_SNOOZE_MINUTES'
    | 'AIDE_REMINDER_MAX_SNOOZES'
    | 'AIDE_REMINDER_QUIET_HOURS'
    | 'AIDE_REMINDER_QUIET_HOLDS_FIRST'
    | 'AIDE_REMINDER_ALERT_WINDOW_HOURS'
    | 'AIDE_REMINDER_MAX_SLEEP_SECONDS'
  >,
): ReminderSettings {
  return {
    graceMs: config.AIDE_REMINDER_GRACE_MINUTES * MINUTE,
    escalateMs: config.AIDE_REMINDER_ESCALATE_MINUTES * MINUTE,
    reaskMs: config.AIDE_REMINDER_REASK_MINUTES * MINUTE,
    snoozeMs: config.AIDE_REMINDER_SNOOZE_MINUTES * MINUTE,
    maxSnoozes: config.AIDE_REMINDER_MAX_SNOOZES,
    ...(config.AIDE_REMINDER_QUIET_HOURS ? { quiet: parseQuietHours(config.AIDE_REMINDER_QUIET_HOURS) } : {}),
    quietHoldsFirst: config.AIDE_REMINDER_QUIET_HOLDS_FIRST,
    alertWindowMs: config.AIDE_REMINDER_ALERT_WINDOW_HOURS * 3600_000,
    maxSleepMs: config.AIDE_REMINDER_MAX_SLEEP_SECONDS * 1000,
  };
}

export function parseQuietHours(s: string): { start: number; end: number } {
  const [a, b] = s.split('-') as [string, string];
  const mins = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
  return { start: mins(a), end: mins(b) };
}

/** Whether `ms` falls in quiet hours in `zone` (a window may wrap midnight). */
export function inQuiet(ms: number, zone: string, quiet?: { start: number; end: number }): boolean {
  if (!quiet || quiet.start === quiet.end) return false;
  const t = DateTime.fromMillis(ms, { zone });
  const m = t.hour * 60 + t.minute;
  return quiet.start < quiet.end ? m >= quiet.start && m < quiet.end : m >= quiet.start || m < quiet.end;
}

/** The next end of quiet hours after `ms` (local wall-clock time in `zone`). */
export function quietEnd(ms: number, zone: string, quiet: { start: number; end: number }): number {
  const t = DateTime.fromMillis(ms, { zone });
  let end = t.set({ hour: Math.floor(quiet.end / 60), minute: quiet.end % 60, second: 0, millisecond: 0 });
  if (end.toMillis() <= ms) end = end.plus({ days: 1 });
  return end.toMillis();
}

import { DateTime, IANAZone } from 'luxon';

/**
 * Medicine schedule expansion: wall-clock times in the person's time zone → due instants in UTC.
 *
 * DST follows Debian cron: a fixed daily time fires once per local day, also on change days; a time that
 * falls in the hour skipped by spring-forward fires right after the jump (02:30 → 03:00 local); a time in
 * the hour repeated by fall-back fires once, at its first occurrence.
 */
export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

export interface MedicineSchedule {
  /** "HH:MM" 24-hour local times. */
  times: string[];
  /** Weekdays it applies on; absent or empty = every day. */
  days?: Weekday[] | null;
  /** First local day (YYYY-MM-DD), inclusive. */
  startDate: string;
  /** Last local day (YYYY-MM-DD), inclusive. */
  endDate?: string | null;
}

export const timePattern = /^([01]\d|2[0-3]):([0-5]\d)$/;
export const datePattern = /^\d{4}-\d{2}-\d{2}$/;

const MINUTE = 60_000;
const zoneCache = new Map<string, IANAZone>();

export function zoneOf(timezone: string): IANAZone {
  let z = zoneCache.get(timezone);
  if (!z) {
    z = IANAZone.create(timezone);
    if (!z.isValid) throw new Error(`unknown time zone ${timezone}`);
    zoneCache.set(timezone, z);
  }
  return z;
}

/**
 * The UTC instant (ms) of local wall-clock time y-m-d hh:mm in `timezone`, with cron's DST rules:
 * ambiguous → earliest instant; nonexistent → the first instant after the gap.
 */
export function localToUtc(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timezone: string,
): number {
  const zone = zoneOf(timezone);
  const wall = Date.UTC(year, month - 1, day, hour, minute); // the wall clock read as if it were UTC
  // Every offset that could apply near this wall time (transitions are never closer than a day apart).
  const offsets = new Set([
    zone.offset(wall - 86_400_000),
    zone.offset(wall),
    zone.offset(wall + 86_400_000),
  ]);
  let best: number | undefined;
  for (const off of offsets) {
    const t = wall - off * MINUTE;
    if (zone.offset(t) === off && (best === undefined || t < best)) best = t;
  }
  if (best !== undefined) return best;
  // In a gap: binary-search the first instant whose wall clock is at or after the requested one.
  const cands = [...offsets].map((off) => wall - off * MINUTE);
  let lo = Math.min(...cands);
  let hi = Math.max(...cands);
  const wallAt = (t: number) => t + zone.offset(t) * MINUTE;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2 / 1000) * 1000;
    if (wallAt(mid) >= wall) hi = mid;
    else lo = mid;
  }
  return wallAt(lo) >= wall ? lo : hi;
}

function parseTime(t: string): [number, number] {
  const m = timePattern.exec(t);
  if (!m) throw new Error(`time must be HH:MM (24-hour), got ${t}`);
  return [Number(m[1]), Number(m[2])];
}

/** Local date (YYYY-MM-DD) of an instant in `timezone`. */
export function localDate(ms: number, timezone: string): string {
  return DateTime.fromMillis(ms, { zone: zoneOf(timezone) }).toISODate() as string;
}

/**
 * Due instants (UTC ms, ascending, no duplicates) of `schedule` in [fromMs, toMs).
 */
export function dueInstants(
  schedule: MedicineSchedule,
  timezone: string,
  fromMs: number,
  toMs: number,
): number[] {
  if (!(toMs > fromMs) || schedule.times.length === 0) return [];
  const zone = zoneOf(timezone);
  const times = [...new Set(schedule.times)].map(parseTime);
  const days = schedule.days?.length ? new Set(schedule.days) : undefined;
  // Local days that can hold an instant in range: one either side for offsets and gap shifts.
  let day = DateTime.fromMillis(fromMs, { zone }).startOf('day').minus({ days: 1 });
  const lastDay = DateTime.fromMillis(toMs, { zone }).startOf('day').plus({ days: 1 });
  const start =
    schedule.startDate > (day.toISODate() as string) ? DateTime.fromISO(schedule.startDate, { zone }) : day;
  day = start.startOf('day');
  const out = new Set<number>();
  while (day <= lastDay) {
    const iso = day.toISODate() as string;
    if (schedule.endDate && iso > schedule.endDate) break;
    if (!days || days.has(weekdays[day.weekday - 1])) {
      for (const [h, m] of times) {
        const t = localToUtc(day.year, day.month, day.day, h, m, timezone);
        if (t >= fromMs && t < toMs) out.add(t);
      }
    }
    day = day.plus({ days: 1 });
  }
  return [...out].sort((a, b) => a - b);
}

/** The first due instant at or after `afterMs`, looking up to `horizonDays` ahead. */
export function nextDue(
  schedule: MedicineSchedule,
  timezone: string,
  afterMs: number,
  horizonDays = 14,
): number | undefined {
  return dueInstants(schedule, timezone, afterMs, afterMs + horizonDays * 86_400_000)[0];
}

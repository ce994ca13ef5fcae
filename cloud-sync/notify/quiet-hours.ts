/** Minutes since local midnight of `nowMs` in `timezone`. */
function localMinutes(nowMs: number, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(nowMs);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return get('hour') * 60 + get('minute');
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** True when `nowMs` falls in the quiet window [start, end) local time; windows may cross midnight (22:00–07:00). */
export function inQuietHours(
  nowMs: number,
  q: { start: string | null; end: string | null; timezone: string },
): boolean {
  if (!q.start || !q.end || q.start === q.end) return false;
  let now: number;
  try {
    now = localMinutes(nowMs, q.timezone);
  } catch {
    now = localMinutes(nowMs, 'UTC');
  }
  const s = toMinutes(q.start);
  const e = toMinutes(q.end);
  return s < e ? now >= s && now < e : now >= s || now < e;
}

/**
 * The first minute at or after `nowMs` outside the quiet window (the instant held notifications go out).
 * Steps to the local end time, then by minutes while a DST change keeps it inside the window.
 */
export function quietHoursEnd(
  nowMs: number,
  q: { start: string | null; end: string | null; timezone: string },
): number {
  if (!inQuietHours(nowMs, q)) return nowMs;
  let tz = q.timezone;
  try {
    localMinutes(nowMs, tz);
  } catch {
    tz = 'UTC';
  }
  const minuteStart = nowMs - (nowMs % 60_000);
  const ahead = (toMinutes(q.end!) - localMinutes(nowMs, tz) + 1440) % 1440;
  let t = minuteStart + ahead * 60_000;
  // DST: the local end may be an hour away from the naive step; walk back then forward to the exact edge.
  for (let i = 0; i < 120 && !inQuietHours(t - 60_000, { ...q, timezone: tz }) && t > nowMs; i++) t -= 60_000;
  for (let i = 0; i < 180 && inQuietHours(t, { ...q, timezone: tz }); i++) t += 60_000;
  return t;
}

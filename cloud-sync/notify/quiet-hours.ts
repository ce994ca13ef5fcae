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

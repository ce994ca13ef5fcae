import { DateTime } from 'luxon';
import type { Token } from './numbers.js';

/**
 * Times of day and days/periods in spoken English: "half past six", "7 in the evening", "19:15", "noon",
 * "bedtime" (configurable), "yesterday", "last week", "this month", "3 days ago", "on Monday".
 */

export interface TimeEnv {
  now: number;
  zone: string;
  /** Named times: bedtime, morning, lunch... as "HH:MM". */
  anchors: Record<string, string>;
}

export const defaultAnchors: Record<string, string> = {
  morning: '08:00',
  breakfast: '08:00',
  noon: '12:00',
  midday: '12:00',
  lunch: '12:30',
  lunchtime: '12:30',
  afternoon: '15:00',
  teatime: '16:00',
  evening: '18:00',
  dinner: '18:00',
  dinnertime: '18:00',
  supper: '18:00',
  night: '21:00',
  bedtime: '21:30',
  midnight: '00:00',
};

export interface TimeOfDay {
  h: number;
  m: number;
  /** True when am/pm (or "in the evening", "19:15", "noon") settled which half of the day. */
  exact: boolean;
}

export interface Span<T> {
  start: number;
  end: number;
  value: T;
}

const w = (t: Token | undefined): string | undefined => (t?.k === 'w' ? t.w : undefined);
const num = (t: Token | undefined) => (t?.k === 'n' ? t : undefined);

const partOfDay: Record<string, 'am' | 'pm'> = {
  morning: 'am',
  afternoon: 'pm',
  evening: 'pm',
  night: 'pm',
  tonight: 'pm',
};

/** "in the morning", "this evening", "at night", "tonight", "am", "pm" after a time: returns meridiem and length. */
function readMeridiem(ts: Token[], i: number): { mer: 'am' | 'pm'; len: number } | undefined {
  const a = w(ts[i]);
  if (a === 'am') return { mer: 'am', len: 1 };
  if (a === 'pm') return { mer: 'pm', len: 1 };
  if (a === 'tonight') return { mer: 'pm', len: 1 };
  if ((a === 'in' && w(ts[i + 1]) === 'the') || (a === 'at' && w(ts[i + 1]) === 'night')) {
    if (a === 'at') return { mer: 'pm', len: 2 };
    const p = w(ts[i + 2]);
    if (p && partOfDay[p]) return { mer: partOfDay[p], len: 3 };
  }
  if (a === 'this' || a === 'every' || a === 'each') {
    const p = w(ts[i + 1]);
    if (p && partOfDay[p]) return { mer: partOfDay[p], len: 2 };
  }
  return undefined;
}

function applyMeridiem(h: number, mer: 'am' | 'pm'): number {
  if (mer === 'am') return h === 12 ? 0 : h;
  return h < 12 ? h + 12 : h;
}

/** "half past six", "quarter to 8", "ten past seven", "20 to 9": minutes and the hour word. */
function readPastTo(ts: Token[], i: number): { h: number; m: number; len: number } | undefined {
  let minutes: number | undefined;
  let k = i;
  const a = w(ts[k]);
  if (a === 'half') minutes = 30;
  else if (a === 'quarter') minutes = 15;
  else if (w(ts[k]) === 'a' && w(ts[k + 1]) === 'quarter') {
    minutes = 15;
    k++;
  } else if (num(ts[k]) && Number.isInteger(num(ts[k])!.v) && num(ts[k])!.v < 60 && !num(ts[k])!.groups)
    minutes = num(ts[k])!.v;
  if (minutes === undefined) return undefined;
  k++;
  if (w(ts[k]) === 'minutes' || w(ts[k]) === 'mins') k++;
  const rel = w(ts[k]);
  if (rel !== 'past' && rel !== 'after' && rel !== 'to' && rel !== 'before') return undefined;
  const hour = num(ts[k + 1]);
  const hourWord = w(ts[k + 1]);
  let h: number | undefined = hour && Number.isInteger(hour.v) && hour.v <= 12 ? hour.v : undefined;
  if (hourWord === 'noon' || hourWord === 'midday') h = 12;
  if (hourWord === 'midnight') h = 0;
  if (h === undefined) return undefined;
  if (rel === 'past' || rel === 'after') return { h, m: minutes, len: k + 2 - i };
  return {
    h: (h + 23) % 24 === 23 && h === 0 ? 23 : h - 1 < 0 ? 23 : h - 1,
    m: 60 - minutes,
    len: k + 2 - i,
  };
}

/** Bare hours read without am/pm: 7–11 morning, 12 noon, 1–6 afternoon/evening. */
export function guessHalf(h: number): number {
  if (h >= 1 && h <= 6) return h + 12;
  return h;
}

/**
 * Finds time-of-day expressions. A bare number only counts as a time after "at", "around", "by" or in a
 * list of times ("at 8 and 6 in the evening"), so readings are never mistaken for times.
 */
export function findTimes(
  ts: Token[],
  anchors: Record<string, string>,
  extraTriggers: string[] = [],
): Span<TimeOfDay>[] {
  const spans: Span<TimeOfDay>[] = [];
  let inTimeList = false;
  for (let i = 0; i < ts.length; ) {
    const t = ts[i]!;
    const word = w(t);
    const prev = w(ts[i - 1]);
    const trigger =
      prev === 'at' ||
      prev === 'around' ||
      prev === 'about' ||
      prev === 'by' ||
      prev === 'till' ||
      prev === 'until' ||
      extraTriggers.includes(prev ?? '') ||
      (inTimeList && (prev === 'and' || prev === 'or' || prev === 'then' || prev === ','));
    let found: Span<TimeOfDay> | undefined;

    const pastTo = readPastTo(ts, i);
    if (pastTo) {
      const mer = readMeridiem(ts, i + pastTo.len);
      const h = mer ? applyMeridiem(pastTo.h, mer.mer) : pastTo.h;
      found = { start: i, end: i + pastTo.len + (mer?.len ?? 0), value: { h, m: pastTo.m, exact: !!mer } };
    } else if (t.k === 'clock') {
      const mer = readMeridiem(ts, i + 1);
      const h = mer && t.h <= 12 ? applyMeridiem(t.h, mer.mer) : t.h;
      found = {
        start: i,
        end: i + 1 + (mer?.len ?? 0),
        value: { h, m: t.m, exact: !!mer || t.h >= 13 || t.h === 0 || /^0/.test(t.raw) },
      };
    } else if (t.k === 'n' && Number.isInteger(t.v)) {
      let h: number | undefined;
      let m = 0;
      let len = 1;
      if (t.groups && t.groups.length === 2 && t.groups[0]! <= 12 && t.groups[1]! < 60) {
        h = t.groups[0]!;
        m = t.groups[1]!;
      } else if (t.v <= 24 && !t.groups) {
        h = t.v === 24 ? 0 : t.v;
        const next = num(ts[i + 1]);
        if (
          next &&
          Number.isInteger(next.v) &&
          next.v >= 10 &&
          next.v < 60 &&
          !next.groups &&
          (trigger || readMeridiem(ts, i + 2))
        ) {
          m = next.v;
          len = 2;
        } else if (w(ts[i + 1]) === 'oh' && num(ts[i + 2]) && num(ts[i + 2])!.v < 10) {
          m = num(ts[i + 2])!.v;
          len = 3;
        }
      }
      if (h !== undefined) {
        const oclock = w(ts[i + len]) === "o'clock" || w(ts[i + len]) === 'oclock';
        if (oclock) len++;
        const mer = readMeridiem(ts, i + len);
        if (mer && h <= 12)
          found = {
            start: i,
            end: i + len + mer.len,
            value: { h: applyMeridiem(h, mer.mer), m, exact: true },
          };
        else if (h > 12 && (trigger || oclock))
          found = { start: i, end: i + len, value: { h, m, exact: true } };
        else if (trigger || oclock) found = { start: i, end: i + len, value: { h, m, exact: false } };
      }
    } else if (
      word &&
      anchors[word] &&
      (word !== 'morning' && word !== 'evening' && word !== 'afternoon' && word !== 'night'
        ? true
        : /^(every|each|in|at|the|this|and|or)$/.test(prev ?? ''))
    ) {
      const [hh, mm] = anchors[word]!.split(':').map(Number);
      let end = i + 1;
      if (w(ts[end]) === 'time') end++;
      found = { start: i, end, value: { h: hh!, m: mm!, exact: true } };
    }

    if (found) {
      spans.push(found);
      inTimeList = true;
      i = found.end;
    } else {
      if (
        !(
          word === 'and' ||
          word === 'or' ||
          word === 'then' ||
          word === 'at' ||
          word === 'around' ||
          word === 'also' ||
          word === 'again' ||
          word === ','
        )
      )
        inTimeList = false;
      i++;
    }
  }
  return spans;
}

/** Times as "HH:MM", a repeated bare hour meaning the other half of the day ("at 8 and 8" → 08:00, 20:00). */
export function timeList(spans: Span<TimeOfDay>[]): string[] {
  const out: string[] = [];
  for (const sp of spans) {
    let t = hhmm(sp.value);
    if (out.includes(t) && !sp.value.exact)
      t = hhmm({ h: (Number(t.slice(0, 2)) + 12) % 24, m: sp.value.m, exact: true });
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

export const hhmm = (t: TimeOfDay): string => {
  const h = t.exact ? t.h : guessHalf(t.h);
  return `${String(h).padStart(2, '0')}:${String(t.m).padStart(2, '0')}`;
};

// ---------------------------------------------------------------- days and periods

export type DayRef =
  | { kind: 'day'; date: string; label: string; part?: 'am' | 'pm' | 'night' }
  | { kind: 'period'; from: string; to: string; label: string };

const weekdays = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const months = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const isoDate = (d: DateTime) => d.toISODate()!;

/** Finds the first day or period mentioned ("yesterday", "last week", "the past 3 days", "on Monday"). */
export function findDay(ts: Token[], env: TimeEnv): Span<DayRef> | undefined {
  const today = DateTime.fromMillis(env.now, { zone: env.zone }).startOf('day');
  const day = (d: DateTime, label: string, part?: 'am' | 'pm' | 'night'): DayRef => ({
    kind: 'day',
    date: isoDate(d),
    label,
    ...(part ? { part } : {}),
  });
  const period = (from: DateTime, to: DateTime, label: string): DayRef => ({
    kind: 'period',
    from: isoDate(from),
    to: isoDate(to),
    label,
  });
  for (let i = 0; i < ts.length; i++) {
    const a = w(ts[i]);
    const b = w(ts[i + 1]);
    const c = w(ts[i + 2]);
    const span = (len: number, value: DayRef): Span<DayRef> => ({ start: i, end: i + len, value });
    if (a === 'today') return span(1, day(today, 'today'));
    if (a === 'tonight') return span(1, day(today, 'tonight', 'pm'));
    if (a === 'yesterday') {
      const part =
        b === 'morning' ? 'am' : b === 'evening' || b === 'afternoon' || b === 'night' ? 'pm' : undefined;
      return span(part ? 2 : 1, day(today.minus({ days: 1 }), 'yesterday', part));
    }
    if (a === 'the' && b === 'day' && c === 'before' && w(ts[i + 3]) === 'yesterday')
      return span(4, day(today.minus({ days: 2 }), 'the day before yesterday'));
    if (a === 'last' && b === 'night') return span(2, day(today.minus({ days: 1 }), 'last night', 'night'));
    if (a === 'this' && (b === 'morning' || b === 'afternoon' || b === 'evening'))
      return span(2, day(today, `this ${b}`, b === 'morning' ? 'am' : 'pm'));
    const n = num(ts[i + 1]);
    if (
      (a === 'last' || a === 'past' || a === 'previous') &&
      n &&
      Number.isInteger(n.v) &&
      n.v > 0 &&
      n.v <= 366
    ) {
      const u = w(ts[i + 2]);
      const lead =
        i > 0 && (w(ts[i - 1]) === 'the' || w(ts[i - 1]) === 'over' || w(ts[i - 1]) === 'in') ? 0 : 0;
      if (u === 'days' || u === 'day')
        return {
          start: i - lead,
          end: i + 3,
          value: period(today.minus({ days: n.v - 1 }), today.plus({ days: 1 }), `the last ${n.v} days`),
        };
      if (u === 'weeks' || u === 'week')
        return {
          start: i,
          end: i + 3,
          value: period(today.minus({ days: 7 * n.v - 1 }), today.plus({ days: 1 }), `the last ${n.v} weeks`),
        };
      if (u === 'months' || u === 'month')
        return {
          start: i,
          end: i + 3,
          value: period(
            today.minus({ months: n.v }).plus({ days: 1 }),
            today.plus({ days: 1 }),
            `the last ${n.v} months`,
          ),
        };
    }
    const ago = num(ts[i]);
    if (ago && (b === 'days' || b === 'day') && c === 'ago')
      return span(3, day(today.minus({ days: ago.v }), `${ago.v} days ago`));
    if (a === 'a' && b === 'week' && c === 'ago') return span(3, day(today.minus({ days: 7 }), 'a week ago'));
    if (
      (a === 'this' || a === 'last' || a === 'past' || a === 'previous') &&
      (b === 'week' || b === 'month' || b === 'year' || b === 'fortnight')
    ) {
      const unit = b === 'fortnight' ? 'week' : b;
      if (a === 'this') {
        const from =
          unit === 'week'
            ? today.startOf('week')
            : unit === 'month'
              ? today.startOf('month')
              : today.startOf('year');
        return span(2, period(from, today.plus({ days: 1 }), `this ${b}`));
      }
      if (a === 'past' || b === 'fortnight') {
        const days = unit === 'week' ? (b === 'fortnight' ? 14 : 7) : unit === 'month' ? 30 : 365;
        return span(2, period(today.minus({ days: days - 1 }), today.plus({ days: 1 }), `the past ${b}`));
      }
      const cur =
        unit === 'week'
          ? today.startOf('week')
          : unit === 'month'
            ? today.startOf('month')
            : today.startOf('year');
      const prevStart = cur.minus(
        unit === 'week' ? { weeks: 1 } : unit === 'month' ? { months: 1 } : { years: 1 },
      );
      return span(2, period(prevStart, cur, `last ${b}`));
    }
    const wd = a ? weekdays.indexOf(a.replace(/s$/, '')) : -1;
    if (wd >= 0) {
      const prev = w(ts[i - 1]);
      const start = prev === 'last' || prev === 'on' ? i - 1 : i;
      let d = today;
      const diff = (today.weekday - 1 - wd + 7) % 7;
      d = today.minus({ days: diff === 0 && prev === 'last' ? 7 : diff });
      return {
        start,
        end: i + 1,
        value: day(d, `on ${weekdays[wd]![0]!.toUpperCase()}${weekdays[wd]!.slice(1)}`),
      };
    }
    // "on the 3rd", "3rd of March", "March 3rd", "12 March"
    const mi = a ? months.indexOf(a) : -1;
    const ord = (t: Token | undefined) => {
      if (t?.k === 'n' && Number.isInteger(t.v) && t.v >= 1 && t.v <= 31) return t.v;
      const m = t?.k === 'w' ? /^(\d{1,2})(st|nd|rd|th)$/.exec(t.w) : null;
      return m ? Number(m[1]) : undefined;
    };
    if (mi >= 0 && ord(ts[i + 1])) {
      const d = resolveDate(today, mi + 1, ord(ts[i + 1])!);
      if (d) return span(2, day(d, `on ${d.toFormat('d LLLL')}`));
    }
    if (ord(ts[i]) && mi < 0) {
      const k = w(ts[i + 1]) === 'of' ? i + 2 : i + 1;
      const m2 = w(ts[k]) ? months.indexOf(w(ts[k])!) : -1;
      if (m2 >= 0 && (ts[i]!.k !== 'n' || w(ts[i - 1]) === 'on' || w(ts[i - 1]) === 'the')) {
        const d = resolveDate(today, m2 + 1, ord(ts[i])!);
        if (d)
          return {
            start: w(ts[i - 1]) === 'the' ? i - 1 : i,
            end: k + 1,
            value: day(d, `on ${d.toFormat('d LLLL')}`),
          };
      }
    }
    if ((a === 'in' || a === 'for' || a === 'during') && b && months.includes(b)) {
      const m = months.indexOf(b) + 1;
      let from = today.set({ month: m, day: 1 });
      if (from > today) from = from.minus({ years: 1 });
      return span(2, period(from, from.plus({ months: 1 }), `in ${b[0]!.toUpperCase()}${b.slice(1)}`));
    }
  }
  return undefined;
}

function resolveDate(today: DateTime, month: number, dayOfMonth: number): DateTime | undefined {
  let d = today.set({ month, day: dayOfMonth });
  if (!d.isValid || d.day !== dayOfMonth) return undefined;
  if (d > today) d = d.minus({ years: 1 });
  return d;
}

/**
 * When a reading was taken: a day (default today) plus an optional time; bare hours pick the latest past
 * occurrence ("at 7" at 10:00 means 07:00, at 20:00 means 19:00). Returns an ISO instant (UTC).
 */
export function resolveTakenAt(
  env: TimeEnv,
  dayRef: DayRef | undefined,
  time: TimeOfDay | undefined,
): string | undefined {
  if (!dayRef && !time) return undefined;
  const now = DateTime.fromMillis(env.now, { zone: env.zone });
  const base =
    dayRef?.kind === 'day' ? DateTime.fromISO(dayRef.date, { zone: env.zone }) : now.startOf('day');
  let t = time;
  if (!t && dayRef?.kind === 'day' && dayRef.part) {
    const anchor =
      env.anchors[dayRef.part === 'am' ? 'morning' : dayRef.part === 'night' ? 'night' : 'evening'] ??
      '12:00';
    const [h, m] = anchor.split(':').map(Number);
    t = { h: h!, m: m!, exact: true };
  }
  if (!t && base.hasSame(now, 'day')) return undefined; // "today" alone: now
  if (!t) return base.set({ hour: 12 }).toUTC().toISO({ suppressMilliseconds: true })!;
  let hours = t.exact ? [t.h] : t.h < 12 ? [t.h, t.h + 12] : [t.h];
  if (!t.exact && dayRef?.kind === 'day' && dayRef.part)
    hours = [dayRef.part === 'am' ? t.h % 12 : t.h < 12 ? t.h + 12 : t.h];
  const onDay = (d: DateTime) =>
    hours.map((h) => d.set({ hour: h, minute: t!.m, second: 0, millisecond: 0 }));
  const isToday = base.hasSame(now, 'day');
  let at: DateTime;
  if (isToday) {
    const past = onDay(base).filter((x) => x <= now);
    at = past.length ? past[past.length - 1]! : onDay(base.minus({ days: 1 })).pop()!;
  } else {
    at = onDay(base)[hours.length > 1 && t.h < 7 ? 1 : 0]!;
  }
  return at.toUTC().toISO({ suppressMilliseconds: true })!;
}

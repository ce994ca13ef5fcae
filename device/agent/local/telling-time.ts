import { DateTime } from 'luxon';

/**
 * The time and date as a person says them, written in words so every speech engine reads them the same
 * way (espeak-ng reads "3:07" as "three zero seven"): "twenty past three in the afternoon", "Wednesday,
 * the 25th of November". American English (a locale with region US) says "three twenty" and "November
 * 25th"; every other locale gets the British forms, since the agent speaks English only.
 */

const small = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const tens = ['', '', 'twenty', 'thirty', 'forty', 'fifty'];

/** 0..59 in words ("twenty-five"). */
function words(n: number): string {
  if (n < 20) return small[n]!;
  return n % 10 ? `${tens[Math.floor(n / 10)]}-${small[n % 10]}` : tens[n / 10]!;
}

const american = (locale: string) => /^[a-z]{2,3}[-_]us\b/i.test(locale);

/** The part of the day a time falls in, as said after it. */
function partOfDay(h: number, m: number): string {
  const minutes = h * 60 + m;
  if (minutes < 12 * 60) return h === 0 ? 'at night' : 'in the morning';
  if (minutes < 17 * 60 + 30) return 'in the afternoon';
  if (minutes < 22 * 60) return 'in the evening';
  return 'at night';
}

const hourWord = (h: number) => words(h % 12 || 12);

/** "twenty past three in the afternoon", "quarter to midnight", "three oh seven in the morning", "midnight". */
export function speakClock(dt: DateTime, locale = 'en-GB'): string {
  const { hour: h, minute: m } = dt;
  if (m === 0 && h === 0) return 'midnight';
  if (m === 0 && h === 12) return 'twelve noon';
  const part = partOfDay(h, m);
  if (m === 0) return `${hourWord(h)} o'clock ${part}`;
  if (american(locale) || m % 5) return `${hourWord(h)} ${m < 10 ? `oh ${words(m)}` : words(m)} ${part}`;
  const amount = (x: number) => (x === 15 ? 'quarter' : x === 30 ? 'half' : words(x));
  if (m <= 30) return `${amount(m)} past ${hourWord(h)} ${part}`;
  if (h === 23) return `${amount(60 - m)} to midnight`;
  return `${amount(60 - m)} to ${hourWord(h + 1)} ${part}`;
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/** "Wednesday, the 25th of November" (British) or "Wednesday, November 25th" (American). */
export function speakDate(dt: DateTime, locale = 'en-GB'): string {
  const weekday = dt.setLocale('en').toFormat('cccc');
  const month = dt.setLocale('en').toFormat('LLLL');
  return american(locale)
    ? `${weekday}, ${month} ${ordinal(dt.day)}`
    : `${weekday}, the ${ordinal(dt.day)} of ${month}`;
}

/** The result of the get_time tool (device/agent/tools/time.ts). */
export interface TimeResult {
  what: 'time' | 'date' | 'date_time' | 'month' | 'year';
  day: 'yesterday' | 'today' | 'tomorrow';
  at: string;
  timezone: string;
  locale: string;
  date: string;
  weekday?: string;
  matches?: boolean;
}

/** One sentence answering "what time is it", "what day is it", "is it Monday today"... */
export function timeReply(r: TimeResult): string {
  const now = DateTime.fromISO(r.at, { zone: r.timezone });
  const date = DateTime.fromISO(r.date, { zone: r.timezone });
  const clock = speakClock(now, r.locale);
  switch (r.what) {
    case 'time':
      return `It's ${clock}.`;
    case 'date_time':
      return `It's ${clock}, on ${speakDate(now, r.locale)}.`;
    case 'month':
      return `It's ${now.setLocale('en').toFormat('LLLL')}.`;
    case 'year':
      return `It's ${now.year}.`;
    default: {
      const sentence = `${r.day} ${r.day === 'yesterday' ? 'was' : 'is'} ${speakDate(date, r.locale)}.`;
      if (r.matches === undefined) return sentence[0]!.toUpperCase() + sentence.slice(1);
      return `${r.matches ? 'Yes' : 'No'}, ${sentence}`;
    }
  }
}

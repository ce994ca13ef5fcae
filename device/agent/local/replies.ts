import { DateTime } from 'luxon';
import { speakCode } from '../tools/pairing.js';
import type { ActionRecord } from '../turn.js';
import { type ReadingType, typeNames } from './readings.js';
import { type TimeResult, timeReply } from './telling-time.js';

/**
 * Plain spoken sentences for tool results: short, concrete, no jargon ("Your last blood pressure was
 * 140 over 90, this morning at 8 am. That's above your target range.").
 */

type Any = Record<string, any>;

export function speakValue(type: string, value: unknown, unit?: string): string {
  if (value && typeof value === 'object') {
    const v = value as { systolic: number; diastolic: number; pulse?: number };
    return `${Math.round(v.systolic)} over ${Math.round(v.diastolic)}${v.pulse !== undefined ? `, pulse ${Math.round(v.pulse)}` : ''}`;
  }
  const n = typeof value === 'number' ? value : Number(value);
  const r = (x: number, d = 1) => String(Math.round(x * 10 ** d) / 10 ** d);
  switch (type) {
    case 'blood_pressure':
      return r(n, 0);
    case 'heart_rate':
      return `${r(n, 0)} beats a minute`;
    case 'oxygen_saturation':
      return `${r(n, 0)} percent`;
    case 'steps':
      return `${Math.round(n).toLocaleString('en-GB')} steps`;
    case 'sleep':
      return `${r(n)} hours`;
    case 'blood_glucose':
      return unit === 'mmol/L' ? `${r(n)}` : `${r(n, 0)}`;
    case 'weight':
      return unit === 'lb' ? `${r(n)} pounds` : `${r(n)} kilos`;
    case 'temperature':
      return `${r(n)} degrees`;
    default:
      return r(n);
  }
}

export function speakTime(iso: string, zone: string): string {
  const d = DateTime.fromISO(iso, { zone });
  if (d.hour === 12 && d.minute === 0) return 'noon';
  if (d.hour === 0 && d.minute === 0) return 'midnight';
  return d.toFormat(d.minute === 0 ? 'h a' : 'h:mm a').toLowerCase();
}

export function speakHhmm(t: string): string {
  const [h, m] = t.split(':').map(Number);
  return speakTime(DateTime.fromObject({ hour: h, minute: m }, { zone: 'UTC' }).toISO()!, 'UTC');
}

function speakWhen(iso: string, zone: string, now: number): string {
  const d = DateTime.fromISO(iso, { zone });
  const today = DateTime.fromMillis(now, { zone }).startOf('day');
  const day = d.startOf('day');
  const diff = Math.round(today.diff(day, 'days').days);
  const dayWord =
    diff === 0
      ? 'today'
      : diff === 1
        ? 'yesterday'
        : diff < 7
          ? `on ${d.toFormat('cccc')}`
          : `on ${d.toFormat('d LLLL')}`;
  return `${dayWord} at ${speakTime(iso, zone)}`;
}

export const list = (xs: string[]) =>
  xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
const name = (t: string) => typeNames[t as ReadingType] ?? t.replace(/_/g, ' ');
const cap = (s: string) => (s ? s[0]!.toUpperCase() + s.slice(1) : s);
const targetNote = (t?: string) =>
  t === 'above'
    ? " That's above your target range."
    : t === 'below'
      ? " That's below your target range."
      : '';
const times = (ts: string[]) => list(ts.map(speakHhmm));
const dayNames: Record<string, string> = {
  mon: 'Mondays',
  tue: 'Tuesdays',
  wed: 'Wednesdays',
  thu: 'Thursdays',
  fri: 'Fridays',
  sat: 'Saturdays',
  sun: 'Sundays',
};

/** One sentence (or two) for a tool result. */
export function replyFor(a: ActionRecord, zone: string, now: number): string {
  const r = a.result as Any;
  if (!r.ok) return failureReply(a);
  switch (a.tool) {
    case 'log_readings': {
      const parts = (r.readings as Any[]).map(
        (m) => `your ${name(m.type)}, ${speakValue(m.type, m.value, m.unit)}`,
      );
      const oneTarget = (r.readings as Any[]).length === 1 ? targetNote(r.readings[0].target) : '';
      const safety = (r.safety as Any[] | undefined)?.map((s) => s.advice).join(' ') ?? '';
      return `I've noted ${list(parts)}.${safety ? ` ${safety}` : oneTarget}`;
    }
    case 'correct_reading':
      return `Thanks, I've corrected it to ${speakValue(r.reading.type, r.reading.value, r.reading.unit)}.`;
    case 'query_readings':
      return queryReply(r, zone, now);
    case 'add_medicine': {
      const m = r.medicine as Any;
      const days = m.days?.length ? ` on ${list(m.days.map((d: string) => dayNames[d] ?? d))}` : ' every day';
      return `${r.updatedExisting ? "I've updated" : "I've added"} ${m.name}${m.dose ? ` ${m.dose}` : ''}. I'll remind you at ${times(m.times)}${days}.`;
    }
    case 'confirm_dose': {
      const names = [...new Set((r.doses as Any[]).map((d) => d.medicine))];
      const what = list(names) || 'your medicine';
      return (r.doses as Any[])[0]?.status === 'skipped'
        ? `All right, I've noted that you skipped ${what}.`
        : `Thank you, I've noted that you took ${what}.`;
    }
    case 'list_medicines': {
      const meds = r.medicines as Any[];
      if (!meds.length)
        return 'You have no medicines on your list yet. You can say, for example, "remind me to take aspirin at 8 in the morning".';
      const items = meds.map((m) => `${m.name}${m.dose ? ` ${m.dose}` : ''} at ${times(m.times)}`);
      return `You take ${meds.length === 1 ? 'one medicine' : `${meds.length} medicines`}: ${list(items)}.`;
    }
    case 'next_dose': {
      const today = (r.today as Any[]) ?? [];
      const done = today
        .filter((d) => d.status === 'taken')
        .map((d) => `${d.medicine} at ${speakTime(d.dueAt, zone)}`);
      // Doses whose time has come and that nobody has confirmed: the answer to "is it time for my tablets?".
      const open = today
        .filter((d) => d.status === 'due' && Date.parse(d.dueAt) <= now)
        .map((d) => `${d.medicine} at ${speakTime(d.dueAt, zone)}`);
      const dueNow = open.length
        ? `${list(open)} ${open.length === 1 ? 'is' : 'are'} due and not marked as taken yet. `
        : '';
      const next = r.next
        ? `${dueNow}Your next dose is ${r.next.medicine} ${speakWhen(r.next.dueAt, zone, now).replace(/^today /, '')}.`
        : dueNow
          ? `${dueNow}No more doses are due later today.`
          : 'There are no more doses due today.';
      const took = r.medicine
        ? done.length
          ? ` Today you've taken ${list(done)}.`
          : ` I have no record of ${r.medicine} being taken today.`
        : done.length
          ? ` Today you've taken ${list(done)}.`
          : '';
      return `${next}${took}`;
    }
    case 'change_reminder':
      return `Done. I'll remind you to take ${r.medicine.name} at ${times(r.medicine.times)}.`;
    case 'cancel_reminder':
      return (r.cancelled as string[]).length
        ? `I've stopped the reminders for ${list(r.cancelled)}.`
        : 'There were no reminders to stop.';
    case 'remove_medicine':
      return `I've removed ${r.removed} and its reminders.`;
    case 'message_caregivers':
      return "I'll pass your message on to your family.";
    case 'get_pairing_code': {
      const minutes = Math.max(1, Math.round((Date.parse(r.expiresAt) - now) / 60_000));
      const spoken = speakCode(r.code);
      return `Your pairing code is: ${spoken} Once more: ${spoken} Type it into the Aide app on the phone. It works for the next ${minutes === 1 ? 'minute' : `${minutes} minutes`}.`;
    }
    case 'raise_emergency':
      return 'I have alerted your family.';
    case 'get_weather':
      return weatherReply(r);
    case 'get_time':
      return timeReply(r as TimeResult);
    case 'get_appointments': {
      const appts = r.appointments as Any[];
      const when =
        r.date === DateTime.fromMillis(now, { zone }).toISODate()
          ? 'today'
          : `on ${DateTime.fromISO(r.date, { zone }).toFormat('cccc d LLLL')}`;
      const stale = r.stale ? " I couldn't reach your calendar just now, so this is from my last copy." : '';
      if (!appts.length) return `You have nothing in your calendar ${when}.${stale}`;
      const items = appts.map(
        (x) =>
          `${x.title}${x.allDay ? ' (all day)' : ` at ${speakTime(x.start, zone)}`}${x.location ? `, at ${x.location}` : ''}`,
      );
      return `${cap(when)} you have ${list(items)}.${stale}`;
    }
    default:
      return 'Done.';
  }
}

function queryReply(r: Any, zone: string, now: number): string {
  const n = name(r.type);
  const period = r.period ?? 'in that time';
  if (r.stat === 'latest') {
    if (!r.count) return `I don't have any ${n} readings yet.`;
    return `Your last ${n} was ${speakValue(r.type, r.latest.value, r.latest.unit)}, ${speakWhen(r.latest.takenAt, zone, now)}.${targetNote(r.target)}`;
  }
  if (!r.count) return `I have no ${n} readings for ${period}.`;
  if (r.stat === 'day') {
    const items = (r.readings as Any[]).map(
      (m) => `${speakValue(m.type, m.value, m.unit)} at ${speakTime(m.takenAt, zone)}`,
    );
    return `${cap(period)} your ${n} ${items.length === 1 ? 'was' : 'readings were'} ${list(items)}.`;
  }
  const few = `${r.count} reading${r.count === 1 ? '' : 's'}`;
  if (r.stat === 'min') return `Your lowest ${n} ${period} was ${speakValue(r.type, r.min, r.unit)}.`;
  if (r.stat === 'max') return `Your highest ${n} ${period} was ${speakValue(r.type, r.max, r.unit)}.`;
  if (r.stat === 'trend') {
    const dir =
      r.direction === 'up'
        ? 'gone up'
        : r.direction === 'down'
          ? 'gone down'
          : r.direction === 'steady'
            ? 'stayed about the same'
            : 'not changed that I can tell';
    return `Over ${period.replace(/^the /, 'the ')} your ${n} has ${dir}, averaging ${speakValue(r.type, r.mean, r.unit)} from ${few}.`;
  }
  const share =
    typeof r.outOfRangeShare === 'number' && r.outOfRangeShare > 0
      ? ` ${Math.round(r.outOfRangeShare * 100)} percent were outside your target range.`
      : '';
  return `${cap(period)} your average ${n} was ${speakValue(r.type, r.mean, r.unit)}, from ${few}, between ${speakValue(r.type, r.min, r.unit)} and ${speakValue(r.type, r.max, r.unit)}.${share}`;
}

function weatherReply(r: Any): string {
  const text = (c: number) =>
    c === 0
      ? 'clear skies'
      : c <= 2
        ? 'partly cloudy'
        : c === 3
          ? 'cloudy'
          : c <= 48
            ? 'foggy'
            : c <= 57
              ? 'drizzle'
              : c <= 67
                ? 'rain'
                : c <= 77
                  ? 'snow'
                  : c <= 82
                    ? 'showers'
                    : c <= 86
                      ? 'snow showers'
                      : 'thunderstorms';
  const deg = (x: number) => `${Math.round(x)} degrees`;
  const rain = (d: Any) =>
    typeof d.rainChance === 'number' ? `, with a ${Math.round(d.rainChance)} percent chance of rain` : '';
  const stale = r.stale
    ? `I can't reach the weather service, so this is from ${r.ageMinutes >= 90 ? `${Math.round(r.ageMinutes / 60)} hours` : `${r.ageMinutes} minutes`} ago. `
    : '';
  if (r.when === 'tomorrow' && r.tomorrow)
    return `${stale}Tomorrow: ${text(r.tomorrow.code)}, between ${Math.round(r.tomorrow.min)} and ${deg(r.tomorrow.max)}${rain(r.tomorrow)}.`;
  const now = `Right now it's ${deg(r.current.temperature)} and ${text(r.current.code)}.`;
  if (r.when === 'now') return `${stale}${now}`;
  return `${stale}${now} Today: between ${Math.round(r.today.min)} and ${deg(r.today.max)}${rain(r.today)}.`;
}

function failureReply(a: ActionRecord): string {
  const err = (a.result as Any).error as Any | undefined;
  const code = err?.code;
  if (a.tool === 'get_weather')
    return code === 'not_configured'
      ? "I don't know where home is yet, so I can't tell you the weather. An installer can set the location."
      : "I can't reach the weather service right now.";
  if (a.tool === 'get_appointments')
    return code === 'not_configured'
      ? "You haven't connected a calendar yet."
      : "I can't reach your calendar right now.";
  if (a.tool === 'get_pairing_code')
    return code === 'not_configured'
      ? "I'm not connected to the Aide cloud yet, so I can't make a pairing code. The person who set me up can connect me; then ask me again."
      : code === 'unauthenticated'
        ? "The Aide cloud didn't recognise this speaker, so I can't make a pairing code. The person who set me up needs to check its sign-in details."
        : "I can't reach the Aide cloud right now, so I can't make a pairing code. Please check the internet connection and ask me again in a little while.";
  if (code === 'not_found') {
    if ((a.result as Any).medicine)
      return `I couldn't find a medicine called ${(a.result as Any).medicine} on your list.`;
    if (a.tool === 'confirm_dose')
      return "I couldn't find a dose due around now. If you took a medicine that isn't on your list, tell me its name and I can add it.";
    if (a.tool === 'correct_reading')
      return "I couldn't find the reading to correct. Please tell me the reading again.";
  }
  if (code === 'invalid_argument') {
    const detail = (err?.details as Any[] | undefined)?.[0]?.message ?? err?.message;
    return `That doesn't look right to me, so I haven't saved it: ${detail}. Could you say it again?`;
  }
  return "Sorry, something went wrong and I couldn't do that.";
}

import { DateTime } from 'luxon';
import { ALERT_MESSAGE_MAX_CHARS } from '../../cloud-sync/protocol/payloads.js';

/**
 * What reminders say. Plain sentences for a slow, clear voice: "It's 8 o'clock. Time for your metformin,
 * 500 milligrams, with breakfast. Have you taken it?"
 */
export interface SpokenDose {
  doseId: string;
  name: string;
  dose?: string;
  instructions?: string;
  dueAt: number;
}

export type AnnouncementKind = 'first' | 'late' | 'again' | 'reask' | 'final';

const unitWords: [RegExp, string][] = [
  [/\b(\d+(?:\.\d+)?)\s*mcg\b/gi, '$1 micrograms'],
  [/\b(\d+(?:\.\d+)?)\s*µg\b/gi, '$1 micrograms'],
  [/\b(\d+(?:\.\d+)?)\s*mg\b/gi, '$1 milligrams'],
  [/\b(\d+(?:\.\d+)?)\s*ml\b/gi, '$1 millilitres'],
  [/\b(\d+(?:\.\d+)?)\s*g\b/gi, '$1 grams'],
  [/\b(\d+(?:\.\d+)?)\s*iu\b/gi, '$1 units'],
];

/** "500 mg" → "500 milligrams" (what a speech synthesizer should read). */
export function spokenAmount(text: string): string {
  return unitWords.reduce((s, [re, to]) => s.replace(re, to), text.trim());
}

/** "8 o'clock", "8:30" (12-hour, as people say it). */
export function spokenClock(ms: number, zone: string): string {
  const t = DateTime.fromMillis(ms, { zone });
  const h = t.hour % 12 || 12;
  return t.minute === 0 ? `${h} o'clock` : `${h}:${String(t.minute).padStart(2, '0')}`;
}

/** "08:00" in the person's zone (for caregiver messages). */
export function clockLabel(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toFormat('H:mm');
}

export function listWords(items: string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * The longest reminder said at once: about a minute and a half at a slow speech rate, far below
 * TURN_TEXT_MAX_CHARS (the longest turn the store keeps, where the announcement is recorded).
 */
export const ANNOUNCEMENT_MAX_CHARS = 1_500;
/** Doses described with their amount and instructions; more due together are named only. */
const DETAILED_DOSES = 3;
/** Doses named in one reminder; the rest are counted ("... and 7 more medicines"). */
const NAMED_DOSES = 5;
/** An amount or instruction longer than this is a leaflet, not a reminder: it is not read out. */
const SPOKEN_DETAIL_MAX_CHARS = 120;
/** The store's longest medicine name; anything longer is cut (a reminder must stay bounded). */
const NAME_MAX_CHARS = 200;
const WHOLE_LIST = 'To hear your whole list, say "list my medicines".';

const short = (s: string | undefined) => (s && s.length <= SPOKEN_DETAIL_MAX_CHARS ? s : undefined);
const nameOf = (d: SpokenDose) =>
  d.name.length <= NAME_MAX_CHARS ? d.name : `${d.name.slice(0, NAME_MAX_CHARS)}…`;

function describe(d: SpokenDose): string {
  const parts = [`your ${nameOf(d)}`];
  const dose = short(d.dose?.trim());
  const instructions = short(d.instructions?.trim());
  if (dose) parts.push(spokenAmount(dose));
  if (instructions) parts.push(instructions.replace(/[.!]+$/, ''));
  return parts.join(', ');
}

/** "your a, your b and your c", or past NAMED_DOSES "your a, …, your e and 7 more medicines". */
function named(doses: SpokenDose[]): { text: string; counted: boolean } {
  const all = doses.map((d) => `your ${nameOf(d)}`);
  if (all.length <= NAMED_DOSES) return { text: listWords(all), counted: false };
  const rest = all.length - NAMED_DOSES + 1;
  return { text: `${all.slice(0, NAMED_DOSES - 1).join(', ')} and ${rest} more medicines`, counted: true };
}

/** What is due: a few doses with amount and short instructions, more by name, many named in part and counted. */
function dosesText(doses: SpokenDose[]): { text: string; counted: boolean } {
  if (doses.length <= DETAILED_DOSES) return { text: listWords(doses.map(describe)), counted: false };
  return named(doses);
}

const itThem = (doses: SpokenDose[]) => (doses.length > 1 ? 'them' : 'it');
/** Before the question, so the question is the last thing heard. */
const offer = (counted: boolean) => (counted ? ` ${WHOLE_LIST}` : '');

/** One sentence group per kind; several doses due together are announced together. */
export function announcementText(kind: AnnouncementKind, doses: SpokenDose[], zone: string): string {
  const full = dosesText(doses);
  const names = named(doses);
  const at = spokenClock(doses[0]!.dueAt, zone);
  const taken = `Have you taken ${itThem(doses)}?`;
  switch (kind) {
    case 'first':
      return `It's ${at}. Time for ${full.text}.${offer(full.counted)} ${taken}`;
    case 'late':
      return `Sorry, this reminder is late. At ${at} it was time for ${full.text}.${offer(full.counted)} ${taken}`;
    case 'again':
      return `Here's your reminder again: time for ${full.text}.${offer(full.counted)} ${taken}`;
    case 'reask':
      return `Just checking: have you taken ${names.text}?`;
    case 'final':
      return `Last reminder for ${names.text}. Please take ${itThem(doses)}, or tell me to skip ${itThem(doses)}. If I don't hear from you, I'll let your family know.`;
  }
}

/**
 * Everything due for one person at one moment as a single utterance, at most ANNOUNCEMENT_MAX_CHARS.
 * Usually the parts one after the other; when that is too long (many times at once, long names), one
 * short reminder about all of the doses instead: named in part, counted, with the way to hear them all.
 */
export function announcement(parts: { kind: AnnouncementKind; doses: SpokenDose[] }[], zone: string): string {
  const text = parts
    .map((p) => announcementText(p.kind, p.doses, zone))
    .filter(Boolean)
    .join(' ');
  if (text.length <= ANNOUNCEMENT_MAX_CHARS) return text;
  const doses = parts.flatMap((p) => p.doses);
  // A medicine due at several of these times is named once.
  const names = named(doses.filter((d, i) => doses.findIndex((x) => x.name === d.name) === i));
  const sentences = [
    parts.some((p) => p.kind === 'late') ? 'Sorry, some of these reminders are late.' : '',
    `It's time for ${names.text}.`,
    names.counted ? WHOLE_LIST : '',
    parts.some((p) => p.kind === 'final') ? "If I don't hear from you, I'll let your family know." : '',
    `Have you taken ${itThem(doses)}?`,
  ];
  const summary = sentences.filter(Boolean).join(' ');
  // Names are cut at NAME_MAX_CHARS, so this holds; the cut is the last guard of the limit.
  return summary.length <= ANNOUNCEMENT_MAX_CHARS
    ? summary
    : `${summary.slice(0, ANNOUNCEMENT_MAX_CHARS - 1)}…`;
}

/** Medicines named in a caregiver alert before "and N more medicines". */
const NAMED_MEDICINES = 5;
/** An alert text a caregiver reads at a glance on a phone lock screen; longer lists become counts. */
const READABLE_CHARS = 300;

/**
 * The caregiver alert text (outbox payload only; never logged, never spoken). A few doses of one day are
 * listed by time ("Mum hasn't confirmed the 8:00 metformin."); anything more (a device back after days
 * off, a summary of a day's misses) becomes counts per medicine, most missed first, at most
 * NAMED_MEDICINES named. Always within the protocol's ALERT_MESSAGE_MAX_CHARS.
 */
export function alertMessage(
  personName: string,
  items: { name: string; dueAt: number }[],
  zone: string,
  summary: boolean,
): string {
  const text = (!summary && byTime(personName, items, zone)) || counts(personName, items, zone, summary);
  return text.length <= ALERT_MESSAGE_MAX_CHARS ? text : `${text.slice(0, ALERT_MESSAGE_MAX_CHARS - 1)}…`;
}

const localDay = (ms: number, zone: string) => DateTime.fromMillis(ms, { zone }).toISODate();

/** "Mum hasn't confirmed the 8:00 metformin and aspirin and 20:00 statin." — one day, short; else undefined. */
function byTime(personName: string, items: { name: string; dueAt: number }[], zone: string) {
  if (new Set(items.map((i) => localDay(i.dueAt, zone))).size > 1) return undefined;
  const byClock = new Map<string, string[]>();
  for (const it of items) {
    const k = clockLabel(it.dueAt, zone);
    byClock.set(k, [...(byClock.get(k) ?? []), it.name]);
  }
  const what = listWords([...byClock].map(([t, ns]) => `${t} ${listWords(ns)}`));
  const text = `${personName} hasn't confirmed the ${what}.`;
  return text.length <= READABLE_CHARS ? text : undefined;
}

/**
 * "Mum hasn't confirmed 60 doses over 2 days since Mon 8:00: Metformin (6), … and 4 more medicines." A
 * summary follows an earlier alert about the same medicines: "Mum has missed 3 more doses since …".
 */
function counts(
  personName: string,
  items: { name: string; dueAt: number }[],
  zone: string,
  summary: boolean,
) {
  const perName = new Map<string, number>();
  for (const it of items) perName.set(it.name, (perName.get(it.name) ?? 0) + 1);
  const ranked = [...perName].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const first = Math.min(...items.map((i) => i.dueAt));
  const last = Math.max(...items.map((i) => i.dueAt));
  // A weekday alone is ambiguous once the misses reach back a week (the lookback is 7 days).
  const since = DateTime.fromMillis(first, { zone }).toFormat(
    last - first >= 6 * 86_400_000 ? 'ccc d LLL H:mm' : 'ccc H:mm',
  );
  const days = new Set(items.map((i) => localDay(i.dueAt, zone))).size;
  const total = items.length;
  const doses = `${total} ${summary ? 'more ' : ''}${total === 1 ? 'dose' : 'doses'}`;
  const head = summary
    ? `${personName} has missed ${doses} since ${since}: `
    : `${personName} hasn't confirmed ${doses}${days > 1 ? ` over ${days} days` : ''} since ${since}: `;
  const named: string[] = [];
  for (const [n, c] of ranked.slice(0, NAMED_MEDICINES)) {
    const entry = `${n} (${c})`;
    if (named.length && head.length + [...named, entry].join(', ').length > READABLE_CHARS) break;
    named.push(entry);
  }
  const rest = ranked.length - named.length;
  const what = rest
    ? `${named.join(', ')} and ${rest} more ${rest === 1 ? 'medicine' : 'medicines'}`
    : listWords(named);
  return `${head}${what}.`;
}

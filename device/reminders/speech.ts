import { DateTime } from 'luxon';

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

function describe(d: SpokenDose): string {
  const parts = [`your ${d.name}`];
  if (d.dose) parts.push(spokenAmount(d.dose));
  if (d.instructions) parts.push(d.instructions.replace(/[.!]+$/, ''));
  return parts.join(', ');
}

const names = (doses: SpokenDose[]) => listWords(doses.map((d) => `your ${d.name}`));
const itThem = (doses: SpokenDose[]) => (doses.length > 1 ? 'them' : 'it');

/** One sentence group per kind; several doses due together are announced together. */
export function announcementText(kind: AnnouncementKind, doses: SpokenDose[], zone: string): string {
  const full = listWords(doses.map(describe));
  const at = spokenClock(doses[0]!.dueAt, zone);
  switch (kind) {
    case 'first':
      return `It's ${at}. Time for ${full}. Have you taken ${itThem(doses)}?`;
    case 'late':
      return `Sorry, this reminder is late. At ${at} it was time for ${full}. Have you taken ${itThem(doses)}?`;
    case 'again':
      return `Here's your reminder again: time for ${full}. Have you taken ${itThem(doses)}?`;
    case 'reask':
      return `Just checking: have you taken ${names(doses)}?`;
    case 'final':
      return `Last reminder for ${names(doses)}. Please take ${itThem(doses)}, or tell me to skip ${itThem(doses)}. If I don't hear from you, I'll let your family know.`;
  }
}

/** Joins what is due for one person at one moment into a single utterance. */
export function combine(parts: string[]): string {
  return parts.filter(Boolean).join(' ');
}

/** The caregiver alert text (outbox payload only; never logged). */
export function alertMessage(
  personName: string,
  items: { name: string; dueAt: number }[],
  zone: string,
  summary: boolean,
): string {
  if (!summary) {
    const byTime = new Map<string, string[]>();
    for (const it of items) {
      const k = clockLabel(it.dueAt, zone);
      byTime.set(k, [...(byTime.get(k) ?? []), it.name]);
    }
    const what = listWords([...byTime].map(([t, ns]) => `${t} ${listWords(ns)}`));
    return `${personName} hasn't confirmed the ${what}.`;
  }
  const counts = new Map<string, number>();
  for (const it of items) counts.set(it.name, (counts.get(it.name) ?? 0) + 1);
  const since = DateTime.fromMillis(Math.min(...items.map((i) => i.dueAt)), { zone }).toFormat('ccc H:mm');
  const total = items.length;
  const what = listWords([...counts].map(([n, c]) => `${n} (${c})`));
  return `${personName} has missed ${total} more ${total === 1 ? 'dose' : 'doses'} since ${since}: ${what}.`;
}

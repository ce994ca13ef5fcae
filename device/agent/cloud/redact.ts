/**
 * Replaces direct identifiers with placeholders before text leaves the device, and puts them back in
 * the answer: the person's name, e-mail addresses, phone numbers, long identifiers (NHS/insurance
 * numbers), UK postcodes and street addresses. One Redactor per turn keeps placeholders consistent
 * across the prompt, history and tool results.
 */
export interface Redactor {
  redact(text: string): string;
  restore(text: string): string;
  /** Deep-redacts strings inside a JSON-like value (tool results). */
  redactValue<T>(value: T): T;
  /** Placeholders used so far (for tests). */
  readonly mapping: ReadonlyMap<string, string>;
}

const patterns: { kind: string; re: RegExp }[] = [
  { kind: 'EMAIL', re: /\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b/g },
  // No hyphens: ISO dates (2026-03-10) in tool results must stay readable.
  { kind: 'PHONE', re: /(?<![\w-])(\+?\d[\d ()]{8,}\d)(?![\w-])/g },
  { kind: 'ID', re: /\b\d{9,}\b/g },
  { kind: 'POSTCODE', re: /\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b/g },
  {
    kind: 'ADDRESS',
    re: /\b\d{1,4}[a-z]? [A-Z][a-z]+( [A-Z][a-z]+)? (Street|St|Road|Rd|Lane|Ln|Avenue|Ave|Close|Drive|Dr|Way|Court|Crescent|Place|Gardens|Terrace|Grove)\b/g,
  },
];

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function createRedactor(names: string[]): Redactor {
  const toPlaceholder = new Map<string, string>();
  const fromPlaceholder = new Map<string, string>();
  const counters = new Map<string, number>();
  const placeholder = (kind: string, original: string) => {
    const key = original.toLowerCase();
    let p = toPlaceholder.get(key);
    if (!p) {
      const n = (counters.get(kind) ?? 0) + 1;
      counters.set(kind, n);
      p = `[${kind}_${n}]`;
      toPlaceholder.set(key, p);
      fromPlaceholder.set(p, original);
    }
    return p;
  };
  // Full names first, then each part of at least 3 letters ("Margaret Smith" → also "Margaret", "Smith").
  const nameParts = [
    ...new Set(names.flatMap((n) => [n.trim(), ...n.trim().split(/\s+/)]).filter((p) => p.length >= 3)),
  ].sort((a, b) => b.length - a.length);
  const nameRes = nameParts.map((p) => ({
    re: new RegExp(`(?<![\\p{L}])${escapeRe(p)}(?![\\p{L}])`, 'giu'),
  }));

  const redact = (text: string) => {
    let out = text;
    // Patterns first: an e-mail address holds the name too.
    for (const { kind, re } of patterns)
      out = out.replace(re, (m) =>
        kind === 'PHONE' && m.replace(/\D/g, '').length < 10 ? m : placeholder(kind, m),
      );
    for (const { re } of nameRes) out = out.replace(re, (m) => placeholder('PERSON', m));
    return out;
  };
  const restore = (text: string) =>
    text.replace(/\[(PERSON|EMAIL|PHONE|ID|POSTCODE|ADDRESS)_\d+\]/g, (p) => fromPlaceholder.get(p) ?? p);
  const redactValue = <T>(value: T): T => {
    if (typeof value === 'string') return redact(value) as T;
    if (Array.isArray(value)) return value.map(redactValue) as T;
    if (value && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactValue(v)])) as T;
    return value;
  };
  return { redact, restore, redactValue, mapping: fromPlaceholder };
}

/**
 * Restores placeholders in a stream of deltas: text after an unclosed "[" is held back until the
 * placeholder is complete, so "[PERS" + "ON_1]" is spoken as the name, never as brackets.
 */
export function createRestoringStream(redactor: Redactor, emit: (delta: string) => void) {
  let held = '';
  return {
    push(delta: string) {
      held += delta;
      const open = held.lastIndexOf('[');
      const safeEnd = open >= 0 && !held.includes(']', open) && held.length - open <= 20 ? open : held.length;
      const ready = held.slice(0, safeEnd);
      held = held.slice(safeEnd);
      if (ready) emit(redactor.restore(ready));
    },
    flush() {
      if (held) emit(redactor.restore(held));
      held = '';
    },
  };
}

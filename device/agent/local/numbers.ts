/**
 * Spoken-language tokens: words, numbers (digits or words, "one forty", "ninety eight point six",
 * "a hundred and twenty", "one oh five", "five and a half") and clock times written as "19:15".
 */
export type Token =
  | { k: 'w'; w: string }
  /** A number; `groups` keeps spoken groups ("six thirty" → [6, 30]) so a time parser can read them. */
  | { k: 'n'; v: number; groups?: number[]; raw: string }
  | { k: 'clock'; h: number; m: number; raw: string };

const units: Record<string, number> = {
  zero: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
};
const tens: Record<string, number> = {
  twenty: 20,
  thirty: 30,
  forty: 40,
  fourty: 40,
  fifty: 50,
  sixty: 60,
  seventy: 70,
  eighty: 80,
  ninety: 90,
};
const digitWord = (w: string): number | undefined => (w === 'oh' || w === 'o' ? 0 : units[w]);
export const isNumberWord = (w: string) => w in units || w in tens || w === 'hundred' || w === 'thousand';

/** Lower-cases and splits text into words and numbers; keeps "/" ":" "%" as their own words. */
export function tokenize(text: string): Token[] {
  const cleaned = text
    .toLowerCase()
    .replace(/[’‘`]/g, "'")
    .replace(/(\d),(\d{3})\b/g, '$1$2')
    .replace(/°\s*([cf])\b/g, ' degrees $1')
    .replace(/°/g, ' degrees ')
    .replace(/\b(\d{1,2})[:.](\d{2})\s*(am|pm|a\.m\.|p\.m\.)/g, '$1:$2 $3')
    .replace(/(\d)(am|pm|a\.m\.|p\.m\.|kg|kgs|lbs?|mg|mmol|bpm|mmhg|k\b|%|st\b|c\b|f\b)/g, '$1 $2')
    .replace(/\ba\.m\./g, 'am')
    .replace(/\bp\.m\./g, 'pm')
    .replace(/([/%,;])/g, ' $1 ')
    .replace(/[^a-z0-9:/%.,;'\- ]+/g, ' ')
    .replace(/(^|\s)-+|-+(\s|$)/g, ' ')
    .replace(/-/g, ' ');
  const raw = cleaned.split(/\s+/).filter(Boolean);
  const out: Token[] = [];
  for (let word of raw) {
    word = word.replace(/^[.':]+|[.':]+$/g, '');
    if (word === ';') word = ',';
    if (!word) continue;
    const clock = /^(\d{1,2}):(\d{2})$/.exec(word);
    if (clock && Number(clock[1]) < 24 && Number(clock[2]) < 60) {
      out.push({ k: 'clock', h: Number(clock[1]), m: Number(clock[2]), raw: word });
    } else if (/^\d+(\.\d+)?$/.test(word)) {
      out.push({ k: 'n', v: Number(word), raw: word });
    } else if (/^\d+(st|nd|rd|th)$/.test(word)) {
      out.push({ k: 'w', w: word });
    } else {
      out.push({ k: 'w', w: word });
    }
  }
  return mergeNumberWords(out);
}

const isWord = (t: Token | undefined, ...ws: string[]): boolean => t?.k === 'w' && ws.includes(t.w);

/**
 * Reads a whole spoken number at i: scale words ("a hundred and twenty"), juxtaposed groups
 * ("one forty" = 140, "one oh five" = 105), decimals ("point six") and "and a half".
 */
function readNumber(ts: Token[], i: number): { v: number; groups: number[]; next: number } | undefined {
  const first = ts[i];
  if (first?.k === 'n')
    return Number.isInteger(first.v)
      ? decimals(ts, first.v, [first.v], i + 1)
      : withHalf(ts, first.v, [first.v], i + 1);
  if (first?.k !== 'w') return undefined;
  // Collect the run of number words.
  const words: string[] = [];
  let j = i;
  for (;;) {
    const t = ts[j];
    if (t?.k !== 'w') break;
    const w = t.w;
    const prev = words[words.length - 1];
    if (w in units || w in tens) words.push(w);
    else if ((w === 'hundred' || w === 'thousand') && words.length) words.push(w);
    else if (w === 'a' && !words.length && isWord(ts[j + 1], 'hundred', 'thousand')) words.push(w);
    else if (
      w === 'and' &&
      (prev === 'hundred' || prev === 'thousand') &&
      ts[j + 1]?.k === 'w' &&
      isNumberWord((ts[j + 1] as { w: string }).w)
    )
      words.push(w);
    else if (
      (w === 'oh' || w === 'o') &&
      prev &&
      units[prev] !== undefined &&
      units[prev]! >= 1 &&
      units[prev]! <= 9 &&
      words.length === 1
    )
      words.push('oh');
    else break;
    j++;
  }
  if (!words.length) return undefined;
  if (words.some((w) => w === 'hundred' || w === 'thousand')) {
    let total = 0;
    let current = 0;
    for (const w of words) {
      if (w === 'a' || w === 'and') continue;
      if (w === 'hundred') current = (current || 1) * 100;
      else if (w === 'thousand') {
        total += (current || 1) * 1000;
        current = 0;
      } else current += units[w] ?? tens[w] ?? 0;
    }
    return decimals(ts, total + current, [total + current], j);
  }
  // Spoken groups below 100: "forty five" is one group, "one forty" two.
  const groups: number[] = [];
  const ends: number[] = [];
  for (let k = 0; k < words.length; ) {
    const w = words[k]!;
    const n = words[k + 1];
    if (w in tens && n && units[n] !== undefined && units[n]! >= 1 && units[n]! <= 9) {
      groups.push(tens[w]! + units[n]!);
      k += 2;
    } else {
      groups.push(w === 'oh' ? 0 : (units[w] ?? tens[w] ?? 0));
      k += 1;
    }
    ends.push(k);
  }
  const at = (n: number) => i + ends[n - 1]!;
  const [a, b, c] = groups;
  if (groups.length >= 3 && b === 0 && a! >= 1 && a! <= 9 && c! < 10)
    return decimals(ts, a! * 100 + c!, [a!, 0, c!], at(3));
  if (groups.length >= 2 && a! >= 1 && a! <= 12 && b! >= 10 && (a! <= 9 || b! < 60)) {
    return decimals(ts, a! <= 9 ? a! * 100 + b! : a!, a! <= 9 ? [a!, b!] : [a!], a! <= 9 ? at(2) : at(1));
  }
  return decimals(ts, a!, [a!], at(1));
}

function decimals(ts: Token[], v: number, groups: number[], j: number) {
  if (isWord(ts[j], 'point')) {
    let k = j + 1;
    let digits = '';
    for (;;) {
      const t = ts[k];
      const d =
        t?.k === 'w' ? digitWord(t.w) : t?.k === 'n' && Number.isInteger(t.v) && t.v < 10 ? t.v : undefined;
      if (d === undefined || d > 9) break;
      digits += String(d);
      k++;
    }
    if (digits) return { v: Number(`${v}.${digits}`), groups: [Number(`${v}.${digits}`)], next: k };
  }
  return withHalf(ts, v, groups, j);
}

function withHalf(ts: Token[], v: number, groups: number[], j: number) {
  if (isWord(ts[j], 'and') && isWord(ts[j + 1], 'a') && isWord(ts[j + 2], 'half'))
    return { v: v + 0.5, groups: [v + 0.5], next: j + 3 };
  return { v, groups, next: j };
}

function mergeNumberWords(ts: Token[]): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < ts.length; ) {
    const t = ts[i]!;
    // "one" as a pronoun ("the blue one", "this one") is not a number.
    if (
      t.k === 'w' &&
      t.w === 'one' &&
      isWordTok(out[out.length - 1], [
        'the',
        'this',
        'that',
        'which',
        'blue',
        'white',
        'other',
        'new',
        'last',
        'no',
        'yellow',
        'red',
        'green',
        'pink',
        'orange',
        'purple',
        'brown',
        'big',
        'small',
        'little',
        'round',
        'long',
        'first',
        'next',
        'morning',
        'evening',
        'night',
        'any',
        'each',
        'every',
      ])
    ) {
      out.push(t);
      i++;
      continue;
    }
    if (t.k === 'w' && t.w === 'a' && !isWord(ts[i + 1], 'hundred', 'thousand')) {
      out.push(t);
      i++;
      continue;
    }
    const n = t.k === 'clock' ? undefined : readNumber(ts, i);
    if (n && n.next > i) {
      const raw = ts
        .slice(i, n.next)
        .map((x) => (x.k === 'w' ? x.w : x.raw))
        .join(' ');
      out.push({ k: 'n', v: n.v, raw, ...(n.groups.length > 1 ? { groups: n.groups } : {}) });
      i = n.next;
    } else {
      out.push(t);
      i++;
    }
  }
  return out;
}

const isWordTok = (t: Token | undefined, ws: string[]) => t?.k === 'w' && ws.includes(t.w);

/** Parses a whole phrase as one number ("ninety eight point six" → 98.6), or undefined. */
export function parseSpokenNumber(text: string): number | undefined {
  const ts = tokenize(text);
  return ts.length === 1 && ts[0]!.k === 'n' ? ts[0]!.v : undefined;
}

/** Words back from tokens (for names and messages). */
export const tokenText = (t: Token): string => (t.k === 'w' ? t.w : t.raw);

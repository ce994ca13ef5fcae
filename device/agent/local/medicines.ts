import type { Token } from './numbers.js';

/**
 * Medicine names ("metformin", "my blood pressure tablets", names never seen before), doses
 * ("500 mg", "two tablets") and days ("on Mondays and Thursdays", "weekdays") in spoken requests.
 */

const w = (t: Token | undefined) => (t?.k === 'w' ? t.w : undefined);

/** Words that end a medicine name. */
const stop = new Set([
  'at',
  'every',
  'each',
  'twice',
  'once',
  'three',
  'times',
  'a',
  'an',
  'day',
  'daily',
  'in',
  'on',
  'the',
  'morning',
  'evening',
  'night',
  'with',
  'after',
  'before',
  'food',
  'meals',
  'tablet',
  'tablets',
  'pill',
  'pills',
  'capsule',
  'capsules',
  'mg',
  'milligrams',
  'mcg',
  'micrograms',
  'ml',
  'units',
  'and',
  'please',
  'to',
  'for',
  'reminder',
  'reminders',
  'from',
  'now',
  'today',
  'tonight',
  'instead',
  'dose',
  'doses',
  'it',
  'them',
  'my',
  'medicine',
  'medication',
  'medicines',
  'medications',
  'yet',
  'already',
  'this',
  'that',
  'is',
  'was',
  'about',
  'then',
  'i',
  'me',
  'you',
  'until',
  'till',
  'too',
  'also',
  'but',
  'so',
  'because',
  'noon',
  'bedtime',
  'lunch',
  'lunchtime',
  'breakfast',
  'dinner',
  'supper',
  'when',
  'of',
  'as',
  'by',
  'or',
  'just',
  'yesterday',
  'tomorrow',
  'puffs',
  'weekdays',
  'weekends',
  'called',
  'named',
  'new',
  'add',
  'one',
  'two',
  'twice',
  'hours',
  'next',
  'due',
  'time',
  'been',
  'prescribed',
  ',',
  'instead',
  'anymore',
  'more',
  'longer',
  'both',
  'every',
  'not',
  'up',
  'off',
  'down',
  'over',
  'them',
  'again',
  'which',
  'what',
  'have',
  'has',
  'had',
  'got',
  'taken',
  'take',
  'took',
  'reminding',
  'remind',
  'all',
  'any',
  'some',
  'your',
  'their',
  'there',
  'here',
  'did',
  'do',
  'does',
  'should',
]);

/** Generic words: "my pills", "my tablets", "my medicine" name no medicine in particular. */
const generic = new Set([
  'pill',
  'pills',
  'tablet',
  'tablets',
  'medicine',
  'medicines',
  'medication',
  'medications',
  'meds',
  'dose',
  'doses',
  'it',
  'them',
  'capsule',
  'capsules',
  'injection',
  'inhaler',
  'drops',
]);

const titleCase = (s: string) => s.replace(/\b([a-z])/g, (m) => m.toUpperCase());

/**
 * Reads a medicine name starting at i: up to three words until a stop word or number.
 * "blood pressure tablets" style descriptions keep their qualifier ("Blood pressure tablets").
 */
export function readName(ts: Token[], i: number): string | undefined {
  const words: string[] = [];
  let k = i;
  while (words.length < 3) {
    const t = ts[k];
    const x = w(t);
    const afterVitamin = words[words.length - 1] === 'vitamin' && /^[a-k]\d{0,2}$/.test(x ?? '');
    if (!x || (!afterVitamin && (stop.has(x) || /^\d/.test(x) || x.length < 2))) break;
    if (x.endsWith("'s") || x === "o'clock") break;
    words.push(x);
    k++;
  }
  if (!words.length) {
    // "my blood pressure tablets" / "my water tablet": qualifier + generic word
    return undefined;
  }
  // "blood pressure tablets", "water pills"
  const g = w(ts[k]);
  if (g && generic.has(g) && g !== 'it' && g !== 'them' && g !== 'dose' && g !== 'doses')
    return titleCase(`${words.join(' ')} ${g}`);
  return titleCase(words.join(' '));
}

/** Finds the medicine a sentence refers to, after one of the cue words. Undefined for "my pills", "it". */
export function findMedicineName(ts: Token[], cues: string[]): { name: string; at: number } | undefined {
  // Cues are tried in the order given (strongest first), each at every position.
  for (const cue of cues) {
    for (let i = 0; i < ts.length; i++) {
      if (w(ts[i]) !== cue) continue;
      let k = i + 1;
      while (
        k < i + 6 &&
        ([
          'my',
          'the',
          'a',
          'an',
          'some',
          'of',
          'called',
          'named',
          'on',
          'taking',
          'medicine',
          'medication',
          'new',
          'tablet',
          'pill',
          'for',
          'about',
          'to',
          'take',
          'morning',
          'evening',
          'night',
          'nighttime',
          'bedtime',
          'daily',
          'your',
          'all',
          'both',
          ',',
        ].includes(w(ts[k]) ?? '') ||
          (ts[k]?.k === 'n' &&
            w(ts[k + 1]) !== undefined &&
            !/^(mg|ml|mcg|milligrams|micrograms|units?)$/.test(w(ts[k + 1])!)))
      ) {
        // "my morning metformin", "take two paracetamol": skip the qualifier
        k++;
      }
      const name = readName(ts, k);
      if (name) return { name, at: k };
    }
  }
  return undefined;
}

const doseUnits: Record<string, string> = {
  mg: 'mg',
  milligrams: 'mg',
  milligram: 'mg',
  mcg: 'mcg',
  micrograms: 'mcg',
  microgram: 'mcg',
  g: 'g',
  grams: 'g',
  gram: 'g',
  ml: 'ml',
  units: 'units',
  unit: 'units',
  tablet: 'tablet',
  tablets: 'tablets',
  pill: 'pill',
  pills: 'pills',
  capsule: 'capsule',
  capsules: 'capsules',
  puff: 'puff',
  puffs: 'puffs',
  drop: 'drop',
  drops: 'drops',
};

/** "500 mg", "two tablets", "one puff" → "500 mg", "2 tablets". */
export function findDose(ts: Token[]): { dose: string; start: number; end: number } | undefined {
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i];
    const u = w(ts[i + 1]);
    if (t?.k === 'n' && u && doseUnits[u]) {
      const unit = doseUnits[u]!;
      const plural =
        t.v === 1
          ? unit.replace(/s$/, '')
          : /^(tablet|pill|capsule|puff|drop)$/.test(unit)
            ? `${unit}s`
            : unit;
      return { dose: `${t.v} ${plural}`, start: i, end: i + 2 };
    }
  }
  return undefined;
}

const dayNames: Record<string, string> = {
  monday: 'mon',
  mondays: 'mon',
  tuesday: 'tue',
  tuesdays: 'tue',
  wednesday: 'wed',
  wednesdays: 'wed',
  thursday: 'thu',
  thursdays: 'thu',
  friday: 'fri',
  fridays: 'fri',
  saturday: 'sat',
  saturdays: 'sat',
  sunday: 'sun',
  sundays: 'sun',
};
const order = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** "on Mondays and Thursdays", "weekdays", "at weekends": days of the week, or undefined for every day. */
export function findDays(ts: Token[]): string[] | undefined {
  const days = new Set<string>();
  for (const t of ts) {
    const x = w(t);
    if (!x) continue;
    if (dayNames[x]) days.add(dayNames[x]!);
    if (x === 'weekdays') for (const d of ['mon', 'tue', 'wed', 'thu', 'fri']) days.add(d);
    if (x === 'weekends' || x === 'weekend') for (const d of ['sat', 'sun']) days.add(d);
  }
  return days.size ? order.filter((d) => days.has(d)) : undefined;
}

/** How many times a day was said ("twice a day", "three times daily"), if any. */
export function findFrequency(ts: Token[]): number | undefined {
  for (let i = 0; i < ts.length; i++) {
    const x = w(ts[i]);
    if (x === 'once') return 1;
    if (x === 'twice') return 2;
    const t = ts[i];
    if (
      t?.k === 'n' &&
      w(ts[i + 1]) === 'times' &&
      (w(ts[i + 2]) === 'a' || w(ts[i + 2]) === 'daily' || w(ts[i + 2]) === 'per')
    )
      return t.v;
  }
  return undefined;
}

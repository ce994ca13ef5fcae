import { checkRange } from '../../store/ranges.js';
import { type MeasurementType, measurementTypes, normalizeUnit, toCanonical } from '../../store/units.js';
import type { Token } from './numbers.js';

/** Measurement types as the store names them. */
export const readingTypes = measurementTypes;
export type ReadingType = MeasurementType;

export type ReadingValue = number | { systolic: number; diastolic: number; pulse?: number };

export interface SpokenReading {
  type: ReadingType;
  value: ReadingValue;
  unit: string;
}

export const typeNames: Record<ReadingType, string> = {
  blood_pressure: 'blood pressure',
  heart_rate: 'pulse',
  oxygen_saturation: 'oxygen level',
  steps: 'steps',
  sleep: 'sleep',
  blood_glucose: 'blood sugar',
  weight: 'weight',
  temperature: 'temperature',
};

const w = (t: Token | undefined) => (t?.k === 'w' ? t.w : undefined);

/** Words that name a measurement type, longest first; returns the type and how many tokens it spans. */
export function readTypeCue(ts: Token[], i: number): { type: ReadingType; len: number } | undefined {
  // "sugar's 7.2", "blood pressure's 140 over 90": the 's is "is".
  const a = w(ts[i])?.replace(/'s$/, '');
  const b = w(ts[i + 1])?.replace(/'s$/, '');
  if (!a) return undefined;
  if (a === 'blood' && (b === 'pressure' || b === 'pressures')) return { type: 'blood_pressure', len: 2 };
  if (a === 'blood' && (b === 'sugar' || b === 'sugars' || b === 'glucose'))
    return { type: 'blood_glucose', len: 2 };
  if (a === 'heart' && (b === 'rate' || b === 'beat')) return { type: 'heart_rate', len: 2 };
  if (
    a === 'oxygen' &&
    (b === 'level' || b === 'levels' || b === 'saturation' || b === 'sat' || b === 'sats')
  )
    return { type: 'oxygen_saturation', len: 2 };
  const single: Record<string, ReadingType> = {
    bp: 'blood_pressure',
    pressure: 'blood_pressure',
    sugar: 'blood_glucose',
    sugars: 'blood_glucose',
    glucose: 'blood_glucose',
    pulse: 'heart_rate',
    heartbeat: 'heart_rate',
    bpm: 'heart_rate',
    oxygen: 'oxygen_saturation',
    o2: 'oxygen_saturation',
    spo2: 'oxygen_saturation',
    sats: 'oxygen_saturation',
    saturation: 'oxygen_saturation',
    sat: 'oxygen_saturation',
    steps: 'steps',
    step: 'steps',
    walked: 'steps',
    sleep: 'sleep',
    slept: 'sleep',
    sleeping: 'sleep',
    weight: 'weight',
    weigh: 'weight',
    weighed: 'weight',
    weighs: 'weight',
    temperature: 'temperature',
    temp: 'temperature',
    fever: 'temperature',
  };
  const type = single[a];
  return type ? { type, len: 1 } : undefined;
}

/** A unit said right after a number ("72 kg", "6.2 mmol", "98 percent", "8000 steps"). */
function readUnit(ts: Token[], i: number): { type: ReadingType; unit: string; len: number } | undefined {
  const a = w(ts[i]);
  const b = w(ts[i + 1]);
  if (!a) return undefined;
  if (a === 'mmol' || a === 'millimoles' || a === 'millimole')
    return {
      type: 'blood_glucose',
      unit: 'mmol/L',
      len: b === 'per' ? 3 : b === '/' ? 3 : b === 'l' ? 2 : 1,
    };
  if (a === 'mg' && (b === 'dl' || b === '/' || b === 'per'))
    return { type: 'blood_glucose', unit: 'mg/dL', len: b === 'dl' ? 2 : 3 };
  if (a === 'milligrams' && b === 'per') return { type: 'blood_glucose', unit: 'mg/dL', len: 3 };
  if (a === 'kg' || a === 'kgs' || a === 'kilos' || a === 'kilo' || a === 'kilograms' || a === 'kilogram')
    return { type: 'weight', unit: 'kg', len: 1 };
  if (a === 'lb' || a === 'lbs' || a === 'pounds' || a === 'pound')
    return { type: 'weight', unit: 'lb', len: 1 };
  if (a === 'degrees' || a === 'degree') {
    if (b === 'f' || b === 'fahrenheit') return { type: 'temperature', unit: '°F', len: 2 };
    if (b === 'c' || b === 'celsius' || b === 'centigrade')
      return { type: 'temperature', unit: '°C', len: 2 };
    return { type: 'temperature', unit: '', len: 1 };
  }
  if (a === 'fahrenheit') return { type: 'temperature', unit: '°F', len: 1 };
  if (a === 'celsius' || a === 'centigrade') return { type: 'temperature', unit: '°C', len: 1 };
  if (a === '%' || a === 'percent' || (a === 'per' && b === 'cent'))
    return { type: 'oxygen_saturation', unit: '%', len: a === 'per' ? 2 : 1 };
  if (a === 'bpm' || (a === 'beats' && (b === 'per' || b === 'a')))
    return { type: 'heart_rate', unit: 'bpm', len: a === 'bpm' ? 1 : 3 };
  if (a === 'steps' || a === 'step') return { type: 'steps', unit: 'count', len: 1 };
  if (a === 'hours' || a === 'hour' || a === 'hrs')
    return { type: 'sleep', unit: 'h', len: w(ts[i + 1]) === 'of' && w(ts[i + 2]) === 'sleep' ? 3 : 1 };
  if (a === 'stone' || a === 'st') return { type: 'weight', unit: 'st', len: 1 };
  return undefined;
}

/** The implied unit when none was said: glucose under 35 is mmol/L, temperature over 45 is °F. */
export function impliedUnit(type: ReadingType, value: number, prefs: { glucose?: string } = {}): string {
  switch (type) {
    case 'blood_pressure':
      return 'mmHg';
    case 'heart_rate':
      return 'bpm';
    case 'oxygen_saturation':
      return '%';
    case 'steps':
      return 'count';
    case 'sleep':
      return 'h';
    case 'blood_glucose':
      return value < 35 ? 'mmol/L' : prefs.glucose === 'mmol/L' && value < 35 ? 'mmol/L' : 'mg/dL';
    case 'weight':
      return 'kg';
    case 'temperature':
      return value > 45 ? '°F' : '°C';
  }
}

const isNum = (t: Token | undefined): t is Extract<Token, { k: 'n' }> => t?.k === 'n';
const isOver = (t: Token | undefined) => w(t) === 'over' || w(t) === '/' || w(t) === 'by';

/**
 * Every reading said in one sentence: "140 over 90 pulse 72", "sugar 6.2 and weight 70 kilos",
 * "I slept seven and a half hours". A number binds to the type named nearest before it, or to a unit or
 * type right after it. Numbers with no type are returned as `loose` so the engine can ask.
 */
export function extractReadings(ts: Token[]): {
  readings: SpokenReading[];
  loose: number[];
  typesMentioned: ReadingType[];
} {
  const readings: SpokenReading[] = [];
  const loose: number[] = [];
  const typesMentioned: ReadingType[] = [];
  let cue: ReadingType | undefined;
  let cueUsed = false;
  let cueEnd = 0;
  let namedTemperature = false;
  const labelled = labelledPressure(ts);
  if (labelled) {
    readings.push({ type: 'blood_pressure', value: labelled.value, unit: 'mmHg' });
    typesMentioned.push('blood_pressure');
  }
  for (let i = 0; i < ts.length; i++) {
    if (labelled?.used.has(i)) continue;
    const c = readTypeCue(ts, i);
    if (c) {
      typesMentioned.push(c.type);
      if (c.type === 'temperature') namedTemperature = true;
      // "pulse 72" right after a blood pressure belongs inside it.
      cue = c.type;
      cueUsed = false;
      i += c.len - 1;
      cueEnd = i + 1;
      continue;
    }
    const t = ts[i];
    if (!isNum(t)) continue;
    // Blood pressure: "140 over 90", "140/90" (a pulse may follow).
    if (isOver(ts[i + 1]) && isNum(ts[i + 2])) {
      const systolic = t.v;
      const diastolic = (ts[i + 2] as { v: number }).v;
      i += 2;
      if (w(ts[i + 1]) === 'mmhg' || w(ts[i + 1]) === 'millimetres' || w(ts[i + 1]) === 'millimeters') i++;
      const value: { systolic: number; diastolic: number; pulse?: number } = { systolic, diastolic };
      // "pulse 72" / "with a pulse of 72" / "and 72 bpm" / "heart rate 72"
      for (let k = i + 1; k < Math.min(ts.length, i + 6); k++) {
        const cc = readTypeCue(ts, k);
        if (cc && cc.type !== 'heart_rate') break;
        if (cc?.type === 'heart_rate') {
          let j = k + cc.len;
          while (w(ts[j]) === 'of' || w(ts[j]) === 'was' || w(ts[j]) === 'is' || w(ts[j]) === 'at') j++;
          if (isNum(ts[j])) {
            value.pulse = (ts[j] as { v: number }).v;
            typesMentioned.push('heart_rate');
            i = j;
            if (w(ts[i + 1]) === 'bpm') i++;
          }
          break;
        }
        if (isNum(ts[k]) && (w(ts[k + 1]) === 'bpm' || w(ts[k + 1]) === 'beats')) {
          value.pulse = (ts[k] as { v: number }).v;
          i = k + (w(ts[k + 1]) === 'bpm' ? 1 : 1);
          break;
        }
        if (isNum(ts[k])) break;
      }
      readings.push({ type: 'blood_pressure', value, unit: 'mmHg' });
      if (cue === 'blood_pressure') cueUsed = true;
      continue;
    }
    const u = readUnit(ts, i + 1);
    if (u) {
      let value = t.v;
      let unit = u.unit;
      let len = u.len;
      if (u.unit === 'st') {
        // "eleven stone four" / "11 stone 4 pounds" → pounds.
        let lb = t.v * 14;
        if (isNum(ts[i + 1 + len])) {
          lb += (ts[i + 1 + len] as { v: number }).v;
          len++;
          if (w(ts[i + 1 + len]) === 'pounds' || w(ts[i + 1 + len]) === 'lbs' || w(ts[i + 1 + len]) === 'lb')
            len++;
        }
        value = lb;
        unit = 'lb';
      }
      const type =
        u.type === 'heart_rate' || u.type === 'oxygen_saturation' || u.type === 'sleep' || u.type === 'steps'
          ? cue && !cueUsed && u.type === 'sleep' && cue !== 'sleep'
            ? u.type
            : u.type
          : u.type;
      if (type === 'temperature' && !unit) unit = impliedUnit('temperature', value);
      readings.push({ type, value, unit });
      if (!typesMentioned.includes(type)) typesMentioned.push(type);
      if (cue === type) cueUsed = true;
      i += len;
      continue;
    }
    // Type named just after: "72 pulse", "7000 steps".
    const after = readTypeCue(ts, i + 1);
    if (after && (!cue || cueUsed)) {
      readings.push({ type: after.type, value: t.v, unit: impliedUnit(after.type, t.v) });
      typesMentioned.push(after.type);
      cue = after.type;
      cueUsed = true;
      i += after.len;
      continue;
    }
    // "82 years old", "two cups of tea", "at 3 o'clock": counts of other things are not readings.
    if (notMeasureNoun.test(w(ts[i + 1]) ?? '') || (w(ts[i + 1]) === 'of' && w(ts[i + 2]) === 'them'))
      continue;
    if (cue && !cueUsed && belongsToCue(ts, cueEnd, i)) {
      if (cue === 'blood_pressure') {
        // "blood pressure 140 80", "my blood pressure was 140 and 80": two numbers said together.
        const j = isNum(ts[i + 1]) ? i + 1 : w(ts[i + 1]) === 'and' && isNum(ts[i + 2]) ? i + 2 : -1;
        if (j > 0) {
          readings.push({
            type: 'blood_pressure',
            value: { systolic: t.v, diastolic: (ts[j] as { v: number }).v },
            unit: 'mmHg',
          });
          cueUsed = true;
          i = j;
          continue;
        }
        loose.push(t.v);
        continue;
      }
      readings.push({ type: cue, value: t.v, unit: impliedUnit(cue, t.v) });
      cueUsed = true;
      continue;
    }
    loose.push(t.v);
  }
  // Room or weather temperatures ("it's 20 degrees in here") are not body temperatures; a temperature
  // named as such ("my temperature is 20") is kept, so that an implausible one is asked again.
  const body = readings.filter(
    (r) =>
      r.type !== 'temperature' ||
      namedTemperature ||
      typeof r.value !== 'number' ||
      (r.unit === '°F' ? r.value >= 86 && r.value <= 113 : r.value >= 30 && r.value <= 45),
  );
  return { readings: body, loose, typesMentioned };
}

/**
 * A blood pressure said by naming its numbers: "the top number was 140 and the bottom was 80",
 * "systolic 135 diastolic 85", "bottom one 80, top one 140". Both must be named; the number is the first
 * one after its label, past a few filler words ("top one" is a label, not the number 1).
 */
function labelledPressure(
  ts: Token[],
): { value: { systolic: number; diastolic: number }; used: Set<number> } | undefined {
  const found: { systolic?: number; diastolic?: number } = {};
  const used = new Set<number>();
  for (let i = 0; i < ts.length; i++) {
    const label = w(ts[i]);
    const field =
      label && topWords.has(label) ? 'systolic' : label && bottomWords.has(label) ? 'diastolic' : undefined;
    if (!field || found[field] !== undefined) continue;
    for (let k = i + 1; k < Math.min(ts.length, i + 5); k++) {
      const t = ts[k];
      if (isNum(t) && t.raw === 'one' && k === i + 1) continue; // "top one" names the number
      if (isNum(t)) {
        found[field] = t.v;
        used.add(i);
        used.add(k);
        break;
      }
      if (!labelFiller.has(w(t) ?? '')) break;
    }
  }
  if (found.systolic === undefined || found.diastolic === undefined) return undefined;
  return { value: { systolic: found.systolic, diastolic: found.diastolic }, used };
}
const topWords = new Set(['top', 'upper', 'systolic']);
const bottomWords = new Set(['bottom', 'lower', 'diastolic']);
const labelFiller = new Set([
  'number',
  'one',
  'figure',
  'reading',
  'was',
  'is',
  "it's",
  'its',
  'were',
  'said',
  'says',
  'of',
  'at',
]);

/**
 * Whether a number belongs to the measurement word before it. Between them people say linking words
 * ("my pulse is about 72", "weight has gone up to 80") and a few others ("sugar when I woke up was 5.8",
 * "oxygen on the finger thing says 96"); the word just before the number links it. A longer or looser gap
 * is not that measurement's number: "sats new is it in the to ten" is garbled speech, not an oxygen of 10.
 * "_" is a masked time or day ("sugar at 8 am was 6") and does not count.
 */
const linkWords = new Set(
  (
    "is was it's its it are were be been has have i've had of at about around roughly approximately " +
    'approx nearly almost just only still now reading readings level levels came come back as read reads ' +
    'showed shows said says measured checked my the a an up down to gone went go goes dropped rose risen ' +
    'fallen fell i got get right currently today this morning evening afternoon tonight night fasting ' +
    'before after breakfast lunch dinner supper bed last for rate count number again exactly under ' +
    'below above over'
  ).split(' '),
);
const MAX_GAP_WORDS = 5;
const MAX_OTHER_WORDS = 3;

function belongsToCue(ts: Token[], from: number, at: number): boolean {
  let words = 0;
  let others = 0;
  let last: string | undefined;
  for (let k = from; k < at; k++) {
    const word = w(ts[k]);
    // Another number (or a clock time) in between: the cue was for that one.
    if (word === undefined) return false;
    if (word === '_') continue;
    words++;
    if (!linkWords.has(word)) others++;
    last = word;
  }
  return words <= MAX_GAP_WORDS && others <= MAX_OTHER_WORDS && (last === undefined || linkWords.has(last));
}

const spokenUnit: Record<string, string> = {
  '%': ' percent',
  '°C': ' degrees',
  '°F': ' degrees',
  kg: ' kilos',
  lb: ' pounds',
  h: ' hours',
};

/** How a reading is read back: "an oxygen level of 10 percent", "a blood pressure of 400 over 90". */
export function describeReading(r: SpokenReading): string {
  if (typeof r.value === 'object') return `a blood pressure of ${r.value.systolic} over ${r.value.diastolic}`;
  if (r.type === 'steps') return `${r.value} steps`;
  if (r.type === 'sleep') return `${r.value} hours of sleep`;
  const name = typeNames[r.type];
  return `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name} of ${r.value}${spokenUnit[r.unit] ?? ''}`;
}

/**
 * True when a spoken reading is outside the store's plausible ranges (the same ones the store refuses):
 * a mis-heard number, never a reading, so it is asked again rather than logged.
 */
export function isImplausible(r: SpokenReading): boolean {
  if (typeof r.value === 'object') {
    const { systolic, diastolic, pulse } = r.value;
    return Boolean(
      checkRange('systolic', systolic, 'mmHg', systolic) ||
        checkRange('diastolic', diastolic, 'mmHg', diastolic) ||
        (pulse !== undefined && checkRange('pulse', pulse, 'bpm', pulse)),
    );
  }
  const unit = normalizeUnit(r.type, r.unit || undefined);
  // A unit the store does not know is refused there, with its own message.
  if (!unit) return false;
  const canonical = toCanonical(r.type, unit, r.value);
  return Boolean(checkRange(r.type, canonical, unit, r.value));
}

/**
 * Whether a blood pressure's numbers are in the usual order, top (systolic) first. "80 over 140" is
 * 'swapped' (said bottom first); "120 over 120" is 'equal' and cannot be a reading either way round.
 */
export function bpOrder(r: SpokenReading): 'ok' | 'swapped' | 'equal' {
  if (typeof r.value !== 'object') return 'ok';
  const { systolic, diastolic } = r.value;
  return systolic > diastolic ? 'ok' : systolic < diastolic ? 'swapped' : 'equal';
}

const notMeasureNoun =
  /^(years?|yrs|old|cups?|glasses|times|minutes|mins|seconds|days|weeks|months|o'clock|oclock|pence|p|quid|pounds?\b(?= of)|euros?|dollars?|people|children|grandchildren|kids|miles|floors|stairs|pages|slices|biscuits|sugars)$/;

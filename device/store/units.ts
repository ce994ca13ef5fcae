import { measurementTypes } from '../../cloud-sync/protocol/payloads.js';

/**
 * Measurement types (the sync protocol's list), their canonical units and conversions. Values are stored
 * in the canonical unit and the unit the person used is kept beside them; answers are given in the
 * person's preferred units.
 */
export { measurementTypes };
export type MeasurementType = (typeof measurementTypes)[number];

export const canonicalUnit: Record<MeasurementType, string> = {
  blood_pressure: 'mmHg',
  heart_rate: 'bpm',
  oxygen_saturation: '%',
  steps: 'count',
  sleep: 'h',
  blood_glucose: 'mg/dL',
  weight: 'kg',
  temperature: '°C',
};

/** mg/dL per mmol/L for glucose (molar mass 180.16 g/mol). */
export const GLUCOSE_FACTOR = 18.0182;
export const KG_PER_LB = 0.45359237;

interface UnitDef {
  type: MeasurementType;
  unit: string;
  toCanonical(v: number): number;
  fromCanonical(v: number): number;
}

const same = (v: number) => v;
const defs: UnitDef[] = [
  { type: 'blood_pressure', unit: 'mmHg', toCanonical: same, fromCanonical: same },
  { type: 'heart_rate', unit: 'bpm', toCanonical: same, fromCanonical: same },
  { type: 'oxygen_saturation', unit: '%', toCanonical: same, fromCanonical: same },
  { type: 'steps', unit: 'count', toCanonical: same, fromCanonical: same },
  { type: 'sleep', unit: 'h', toCanonical: same, fromCanonical: same },
  { type: 'sleep', unit: 'min', toCanonical: (v) => v / 60, fromCanonical: (v) => v * 60 },
  { type: 'blood_glucose', unit: 'mg/dL', toCanonical: same, fromCanonical: same },
  {
    type: 'blood_glucose',
    unit: 'mmol/L',
    toCanonical: (v) => v * GLUCOSE_FACTOR,
    fromCanonical: (v) => v / GLUCOSE_FACTOR,
  },
  { type: 'weight', unit: 'kg', toCanonical: same, fromCanonical: same },
  { type: 'weight', unit: 'lb', toCanonical: (v) => v * KG_PER_LB, fromCanonical: (v) => v / KG_PER_LB },
  { type: 'temperature', unit: '°C', toCanonical: same, fromCanonical: same },
  {
    type: 'temperature',
    unit: '°F',
    toCanonical: (v) => ((v - 32) * 5) / 9,
    fromCanonical: (v) => (v * 9) / 5 + 32,
  },
];

/** Spellings people and devices use, mapped to the unit names above. */
const aliases: Record<string, string> = {
  mmhg: 'mmHg',
  bpm: 'bpm',
  '/min': 'bpm',
  '%': '%',
  percent: '%',
  count: 'count',
  steps: 'count',
  h: 'h',
  hr: 'h',
  hours: 'h',
  hour: 'h',
  min: 'min',
  minutes: 'min',
  'mg/dl': 'mg/dL',
  'mmol/l': 'mmol/L',
  mmol: 'mmol/L',
  kg: 'kg',
  kilograms: 'kg',
  lb: 'lb',
  lbs: 'lb',
  pounds: 'lb',
  '°c': '°C',
  c: '°C',
  celsius: '°C',
  cel: '°C',
  '°f': '°F',
  f: '°F',
  fahrenheit: '°F',
  '[degf]': '°F',
};

/** The unit name for `input` if it is one `type` accepts, else undefined. */
export function normalizeUnit(type: MeasurementType, input: string | undefined): string | undefined {
  if (input === undefined) return canonicalUnit[type];
  const name = aliases[input.trim().toLowerCase()] ?? input.trim();
  return defs.some((d) => d.type === type && d.unit === name) ? name : undefined;
}

export function unitsFor(type: MeasurementType): string[] {
  return defs.filter((d) => d.type === type).map((d) => d.unit);
}

function def(type: MeasurementType, unit: string): UnitDef {
  const d = defs.find((x) => x.type === type && x.unit === unit);
  if (!d) throw new Error(`unknown unit ${unit} for ${type}`);
  return d;
}

export function toCanonical(type: MeasurementType, unit: string, value: number): number {
  return def(type, unit).toCanonical(value);
}

export function fromCanonical(type: MeasurementType, unit: string, value: number): number {
  return def(type, unit).fromCanonical(value);
}

/** Rounds for display: enough digits that converting back lands on the same stored value. */
export function roundFor(type: MeasurementType, unit: string, v: number): number {
  const digits = type === 'steps' ? 0 : unit === 'mmol/L' || type === 'sleep' ? 2 : 1;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export interface PreferredUnits {
  glucose: 'mg/dL' | 'mmol/L';
  weight: 'kg' | 'lb';
  temperature: '°C' | '°F';
}

export const defaultUnits: PreferredUnits = { glucose: 'mg/dL', weight: 'kg', temperature: '°C' };

export function preferredUnit(type: MeasurementType, units: PreferredUnits): string {
  if (type === 'blood_glucose') return units.glucose;
  if (type === 'weight') return units.weight;
  if (type === 'temperature') return units.temperature;
  return canonicalUnit[type];
}

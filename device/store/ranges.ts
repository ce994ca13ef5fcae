import { type AppError, type ErrorDetail, invalidArgument } from '../../common/errors.js';
import { canonicalUnit, fromCanonical, type MeasurementType, roundFor } from './units.js';

/**
 * Plausible ranges in canonical units: a value outside them is a mistake (a mis-heard number, a wrong
 * unit), never a reading, so the write is refused and nothing is stored.
 */
export const plausible: Record<
  string,
  { type: MeasurementType; min: number; max: number; integer?: boolean }
> = {
  systolic: { type: 'blood_pressure', min: 50, max: 260 },
  diastolic: { type: 'blood_pressure', min: 30, max: 160 },
  pulse: { type: 'heart_rate', min: 20, max: 250 },
  heart_rate: { type: 'heart_rate', min: 20, max: 250 },
  oxygen_saturation: { type: 'oxygen_saturation', min: 50, max: 100 },
  steps: { type: 'steps', min: 0, max: 100_000, integer: true },
  sleep: { type: 'sleep', min: 0, max: 24 },
  blood_glucose: { type: 'blood_glucose', min: 10, max: 1000 },
  weight: { type: 'weight', min: 2, max: 400 },
  temperature: { type: 'temperature', min: 30, max: 45 },
};

/**
 * Checks one canonical value against its plausible range. `inputUnit`/`inputValue` make the message speak
 * the unit the person used: "weight must be between 4.4 and 881.8 lb, got 1000".
 */
export function checkRange(
  field: string,
  canonical: number,
  inputUnit: string,
  inputValue: number,
): ErrorDetail | undefined {
  const r = plausible[field];
  if (!r) return undefined;
  if (!Number.isFinite(canonical)) {
    return { field, rule: 'finite', message: `${field} must be a number, got ${inputValue}` };
  }
  if (r.integer && !Number.isInteger(inputValue)) {
    return { field, rule: 'integer', message: `${field} must be a whole number, got ${inputValue}` };
  }
  // A small tolerance so 45 °C typed as 113 °F is accepted.
  const eps = 1e-9 * Math.max(1, Math.abs(r.max));
  if (canonical >= r.min - eps && canonical <= r.max + eps) return undefined;
  const lo = roundFor(r.type, inputUnit, fromCanonical(r.type, inputUnit, r.min));
  const hi = roundFor(r.type, inputUnit, fromCanonical(r.type, inputUnit, r.max));
  const unit = inputUnit === 'count' ? '' : ` ${inputUnit}`;
  return {
    field,
    rule: 'range',
    message: `${field} must be between ${lo} and ${hi}${unit}, got ${inputValue}`,
  };
}

export function rangeError(details: ErrorDetail[]): AppError {
  return invalidArgument(details.map((d) => d.message).join('; '), { details });
}

export { canonicalUnit };

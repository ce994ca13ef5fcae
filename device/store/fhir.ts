import { z } from 'zod';
import { type ErrorDetail, invalidArgument } from '../../common/errors.js';
import type { HealthStore } from './health.js';
import type { Measurement, MeasurementInput } from './measurements.js';
import type { Medication, MedicationCreate } from './medications.js';
import { type MeasurementType, measurementTypes } from './units.js';
import { inputError } from './validation.js';

/** LOINC codes for each measurement type (FHIR R4 vital signs profile where one exists). */
export const loinc: Record<MeasurementType, { code: string; display: string; category: string }> = {
  blood_pressure: {
    code: '85354-9',
    display: 'Blood pressure panel with all children optional',
    category: 'vital-signs',
  },
  heart_rate: { code: '8867-4', display: 'Heart rate', category: 'vital-signs' },
  oxygen_saturation: {
    code: '59408-5',
    display: 'Oxygen saturation in Arterial blood by Pulse oximetry',
    category: 'vital-signs',
  },
  steps: { code: '55423-8', display: 'Number of steps in unspecified time Pedometer', category: 'activity' },
  sleep: { code: '93832-4', display: 'Sleep duration', category: 'activity' },
  blood_glucose: { code: '2339-0', display: 'Glucose [Mass/volume] in Blood', category: 'laboratory' },
  weight: { code: '29463-7', display: 'Body weight', category: 'vital-signs' },
  temperature: { code: '8310-5', display: 'Body temperature', category: 'vital-signs' },
};
const SYSTOLIC = '8480-6';
const DIASTOLIC = '8462-4';
const HEART_RATE = '8867-4';

/** Our unit names ↔ UCUM codes. */
const ucum: Record<string, string> = {
  mmHg: 'mm[Hg]',
  bpm: '/min',
  '%': '%',
  count: '{steps}',
  h: 'h',
  min: 'min',
  'mg/dL': 'mg/dL',
  'mmol/L': 'mmol/L',
  kg: 'kg',
  lb: '[lb_av]',
  '°C': 'Cel',
  '°F': '[degF]',
};
const fromUcum = Object.fromEntries(Object.entries(ucum).map(([k, v]) => [v, k]));
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const quantity = (value: number, unit: string) => ({ value, unit, system: UCUM, code: ucum[unit] ?? unit });

function observation(m: Measurement, patientRef: string) {
  const l = loinc[m.type];
  const base = {
    resourceType: 'Observation',
    id: m.id,
    meta: { versionId: String(m.version), lastUpdated: m.updatedAt },
    status: 'final',
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: l.category }],
      },
    ],
    code: { coding: [{ system: LOINC, code: l.code, display: l.display }], text: m.type },
    subject: { reference: patientRef },
    effectiveDateTime: m.takenAt,
    ...(m.note ? { note: [{ text: m.note }] } : {}),
  };
  const v = m.canonical.value;
  if (typeof v === 'object') {
    const comp = (code: string, display: string, value: number, unit: string) => ({
      code: { coding: [{ system: LOINC, code, display }] },
      valueQuantity: quantity(value, unit),
    });
    return {
      ...base,
      component: [
        comp(SYSTOLIC, 'Systolic blood pressure', v.systolic, 'mmHg'),
        comp(DIASTOLIC, 'Diastolic blood pressure', v.diastolic, 'mmHg'),
        ...(v.pulse !== undefined ? [comp(HEART_RATE, 'Heart rate', v.pulse, 'bpm')] : []),
      ],
    };
  }
  return { ...base, valueQuantity: quantity(v, m.canonical.unit) };
}

function medicationStatement(m: Medication, patientRef: string) {
  return {
    resourceType: 'MedicationStatement',
    id: m.id,
    meta: { versionId: String(m.version), lastUpdated: m.updatedAt },
    status: m.active ? 'active' : 'stopped',
    medicationCodeableConcept: { text: m.name },
    subject: { reference: patientRef },
    effectivePeriod: { start: m.startDate, ...(m.endDate ? { end: m.endDate } : {}) },
    dosage: [
      {
        ...(m.dose ? { text: m.dose } : {}),
        ...(m.instructions ? { patientInstruction: m.instructions } : {}),
        ...(m.form ? { doseAndRate: [{ type: { text: m.form } }] } : {}),
        timing: {
          repeat: { timeOfDay: m.times.map((t) => `${t}:00`), ...(m.days ? { dayOfWeek: m.days } : {}) },
        },
      },
    ],
  };
}

/**
 * A FHIR R4 collection Bundle: the Patient, every Observation and every MedicationStatement. `range` limits
 * the Observations to readings taken in [from, to) (a full history can be large).
 */
export function exportBundle(
  store: HealthStore,
  personId?: string,
  range: { from?: number; to?: number } = {},
) {
  const person = store.people.getSync(personId);
  const patientRef = `urn:uuid:${person.id}`;
  const entries: { fullUrl: string; resource: Record<string, unknown> }[] = [
    {
      fullUrl: patientRef,
      resource: {
        resourceType: 'Patient',
        id: person.id,
        meta: { versionId: String(person.version), lastUpdated: person.updatedAt },
        name: [{ text: person.name }],
        communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: person.locale }] } }],
        extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/timezone', valueCode: person.timezone }],
      },
    },
  ];
  let cursor: string | undefined;
  do {
    const page = store.measurements.list({ personId: person.id, limit: 500, cursor, ...range });
    for (const m of page.items)
      entries.push({ fullUrl: `urn:uuid:${m.id}`, resource: observation(m, patientRef) });
    cursor = page.nextCursor;
  } while (cursor);
  for (const m of store.medications.listSync(person.id)) {
    entries.push({ fullUrl: `urn:uuid:${m.id}`, resource: medicationStatement(m, patientRef) });
  }
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: new Date(store.deps.clock.now()).toISOString(),
    total: entries.length,
    entry: entries,
  };
}

// --- import

const coding = z.object({ system: z.string().optional(), code: z.string().optional() }).passthrough();
const qty = z
  .object({ value: z.number(), unit: z.string().optional(), code: z.string().optional() })
  .passthrough();
const observationSchema = z
  .object({
    resourceType: z.literal('Observation'),
    id: z.string().optional(),
    code: z.object({ coding: z.array(coding).min(1) }).passthrough(),
    effectiveDateTime: z.iso.datetime({ offset: true }),
    valueQuantity: qty.optional(),
    component: z
      .array(
        z
          .object({ code: z.object({ coding: z.array(coding).min(1) }).passthrough(), valueQuantity: qty })
          .passthrough(),
      )
      .optional(),
    note: z.array(z.object({ text: z.string() }).passthrough()).optional(),
  })
  .passthrough();
const statementSchema = z
  .object({
    resourceType: z.literal('MedicationStatement'),
    id: z.string().optional(),
    status: z.string().optional(),
    medicationCodeableConcept: z.object({ text: z.string().min(1) }).passthrough(),
    effectivePeriod: z
      .object({ start: z.string().optional(), end: z.string().optional() })
      .passthrough()
      .optional(),
    dosage: z
      .array(
        z
          .object({
            text: z.string().optional(),
            patientInstruction: z.string().optional(),
            timing: z
              .object({
                repeat: z
                  .object({
                    timeOfDay: z.array(z.string()).min(1),
                    dayOfWeek: z.array(z.string()).optional(),
                  })
                  .passthrough(),
              })
              .passthrough(),
          })
          .passthrough(),
      )
      .min(1),
  })
  .passthrough();
const bundleSchema = z
  .object({
    resourceType: z.literal('Bundle'),
    entry: z
      .array(z.object({ resource: z.object({ resourceType: z.string() }).passthrough() }).passthrough())
      .max(100_000),
  })
  .passthrough();

const byLoinc = new Map(measurementTypes.map((t) => [loinc[t].code, t]));
const codeOf = (c: { coding: { system?: string; code?: string }[] }) =>
  c.coding.find((x) => !x.system || x.system === LOINC)?.code;
const unitOf = (q: { unit?: string; code?: string }) => (q.code && fromUcum[q.code]) || q.unit;
const uuidLike = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toMeasurementInput(o: z.infer<typeof observationSchema>, at: string): MeasurementInput {
  const type = byLoinc.get(codeOf(o.code) ?? '');
  if (!type)
    throw invalidArgument(`${at}.code: LOINC code ${codeOf(o.code)} is not one this device records`, {
      details: [{ field: `${at}.code`, rule: 'loinc', message: `unsupported LOINC code ${codeOf(o.code)}` }],
    });
  const note = o.note?.map((n) => n.text).join('\n');
  const base = { type, takenAt: o.effectiveDateTime, ...(note ? { note } : {}), source: 'sync' as const };
  if (type === 'blood_pressure') {
    const comp = (code: string) => o.component?.find((c) => codeOf(c.code) === code)?.valueQuantity.value;
    return {
      ...base,
      systolic: comp(SYSTOLIC),
      diastolic: comp(DIASTOLIC),
      ...(comp(HEART_RATE) !== undefined ? { pulse: comp(HEART_RATE) } : {}),
    };
  }
  if (!o.valueQuantity) {
    throw invalidArgument(`${at}.valueQuantity: required for ${type}`, {
      details: [
        { field: `${at}.valueQuantity`, rule: 'required', message: `valueQuantity is required for ${type}` },
      ],
    });
  }
  return { ...base, value: o.valueQuantity.value, unit: unitOf(o.valueQuantity) };
}

function toMedicationInput(s: z.infer<typeof statementSchema>): MedicationCreate {
  const d = s.dosage[0];
  const date = (v?: string) => (v ? v.slice(0, 10) : undefined);
  return {
    name: s.medicationCodeableConcept.text,
    ...(d.text ? { dose: d.text } : {}),
    ...(d.patientInstruction ? { instructions: d.patientInstruction } : {}),
    times: d.timing.repeat.timeOfDay.map((t) => t.slice(0, 5)),
    ...(d.timing.repeat.dayOfWeek ? { days: d.timing.repeat.dayOfWeek as MedicationCreate['days'] } : {}),
    ...(date(s.effectivePeriod?.start) ? { startDate: date(s.effectivePeriod?.start) } : {}),
    ...(date(s.effectivePeriod?.end) ? { endDate: date(s.effectivePeriod?.end) } : {}),
    active: s.status === undefined || s.status === 'active',
  };
}

/**
 * Imports Observations and MedicationStatements from a FHIR R4 Bundle into one person, all or nothing.
 * Resources whose id is a UUID keep it, so importing the same Bundle twice adds nothing the second time.
 * The Patient resource is not applied (the device's people are managed on the device).
 */
export function importBundle(store: HealthStore, body: unknown, personId?: string) {
  const parsed = bundleSchema.safeParse(body);
  if (!parsed.success) throw inputError(parsed.error);
  const pid = store.people.resolveId(personId);
  const { db } = store.deps;
  const exists = (table: string, id: string) => !!db.prepare(`SELECT 1 FROM ${table} WHERE id = ?`).get(id);
  const result = { measurements: 0, medications: 0, skipped: 0, ignored: 0 };
  const problems: ErrorDetail[] = [];
  const work: (() => void)[] = [];
  parsed.data.entry.forEach((e, i) => {
    const at = `entry[${i}].resource`;
    const r = e.resource;
    try {
      if (r.resourceType === 'Observation') {
        const o = observationSchema.safeParse(r);
        if (!o.success) throw inputError(o.error, at);
        const input = { ...toMeasurementInput(o.data, at), personId: pid };
        const id = o.data.id && uuidLike.test(o.data.id) ? o.data.id.toLowerCase() : undefined;
        work.push(() => {
          if (id && exists('measurements', id)) result.skipped++;
          else {
            store.measurements.add(input, { id, source: 'sync' });
            result.measurements++;
          }
        });
      } else if (r.resourceType === 'MedicationStatement') {
        const s = statementSchema.safeParse(r);
        if (!s.success) throw inputError(s.error, at);
        const input = { ...toMedicationInput(s.data), personId: pid };
        const id = s.data.id && uuidLike.test(s.data.id) ? s.data.id.toLowerCase() : undefined;
        work.push(() => {
          if (id && exists('medications', id)) result.skipped++;
          else {
            store.medications.create(input, { id });
            result.medications++;
          }
        });
      } else {
        result.ignored++;
      }
    } catch (err) {
      const details = (err as { details?: ErrorDetail[] }).details;
      problems.push(
        ...(details?.length
          ? details
          : [{ field: at, rule: 'invalid', message: String((err as Error).message) }]),
      );
    }
  });
  if (problems.length)
    throw invalidArgument(problems.map((p) => p.message).join('; '), { details: problems });
  // Values are checked (ranges, units) by the repositories; the first failure rolls everything back.
  let index = -1;
  try {
    db.transaction(() => {
      for (const [i, w] of work.entries()) {
        index = i;
        w();
      }
    }).immediate();
  } catch (err) {
    const e = err as { details?: ErrorDetail[]; message?: string };
    if (e.details) throw invalidArgument(`import item ${index}: ${e.message}`, { details: e.details });
    throw err;
  }
  return result;
}

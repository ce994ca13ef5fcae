import { DateTime } from 'luxon';
import { z } from 'zod';
import type { HealthStore, Measurement, MeasurementType, Medication } from '../../store/index.js';
import { measurementTypes } from '../../store/index.js';
import { assessReading } from '../safety.js';
import type { AlertSender } from './alerts.js';
import { defineTool, type Tool, type ToolContext } from './registry.js';

/** Tools over the health store: readings, medicines, reminders and doses. */

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)');
const localDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD');
const bpValue = z.object({ systolic: z.number(), diastolic: z.number(), pulse: z.number().optional() });
const readingSchema = z.object({
  type: z.enum(measurementTypes).describe('What was measured'),
  value: z
    .union([z.number(), bpValue])
    .describe('A number, or {systolic, diastolic, pulse?} for blood_pressure'),
  unit: z.string().optional().describe('Unit as said: mmHg, bpm, %, count, h, mg/dL, mmol/L, kg, lb, °C, °F'),
  takenAt: z.string().optional().describe('ISO 8601 instant; omit for now'),
});

const startOf = (date: string, zone: string) => DateTime.fromISO(date, { zone }).toMillis();

export function readingView(m: Measurement) {
  return { id: m.id, type: m.type, value: m.value, unit: m.unit, takenAt: m.takenAt };
}

function compareToTarget(
  store: HealthStore,
  personId: string,
  type: MeasurementType,
  m: Measurement,
): 'in_range' | 'above' | 'below' | undefined {
  const targets = store.people.getSync(personId).targets as Record<
    string,
    { min?: number; max?: number } | undefined
  >;
  const check = (v: number, r?: { min?: number; max?: number }) =>
    !r
      ? undefined
      : r.max !== undefined && v > r.max
        ? 'above'
        : r.min !== undefined && v < r.min
          ? 'below'
          : 'in_range';
  const c = m.canonical.value;
  if (type === 'blood_pressure' && typeof c === 'object') {
    const s = check(c.systolic, targets.systolic);
    const d = check(c.diastolic, targets.diastolic);
    if (s === 'above' || d === 'above') return 'above';
    if (s === 'below' || d === 'below') return 'below';
    return s ?? d;
  }
  return typeof c === 'number' ? check(c, targets[type]) : undefined;
}

async function findMedicine(
  store: HealthStore,
  personId: string,
  spoken: string,
): Promise<Medication | undefined> {
  return (await store.medications.findByName(spoken, personId))[0];
}
const notFoundMed = (name: string) => ({
  ok: false,
  error: { code: 'not_found', message: `no medicine called ${name}` },
  medicine: name,
});

export function healthTools(deps: {
  store: HealthStore;
  alerts: AlertSender;
  /** Store writes use IMMEDIATE transactions so they always see the active data key (see aide keys rotate). */
  db: { transaction<T>(fn: () => T): { immediate(): T } };
}): Tool[] {
  const { store, alerts } = deps;

  const logReadings = defineTool({
    name: 'log_readings',
    description:
      'Record one or more health readings the person reports (blood pressure, pulse, oxygen, steps, sleep, blood sugar, weight, temperature).',
    cloud: true,
    schema: z.object({ readings: z.array(readingSchema).min(1).max(10) }),
    run({ readings }, t) {
      const saved = store.measurements.addMany(
        readings.map((r) => ({
          personId: t.personId,
          type: r.type,
          value: r.value,
          ...(r.unit ? { unit: r.unit } : {}),
          ...(r.takenAt ? { takenAt: r.takenAt } : {}),
        })),
        { source: t.source },
      );
      const safety = [];
      for (const m of saved) {
        const a = assessReading(m.type, m.canonical.value);
        if (!a) continue;
        alerts.send({
          personId: t.personId,
          type: 'out_of_range',
          priority: a.level === 'emergency' ? 2 : 1,
          message: a.alert,
          data: { measurementId: m.id, type: m.type },
        });
        safety.push({ measurementId: m.id, level: a.level, advice: a.advice });
      }
      return {
        ok: true,
        readings: saved.map((m) => ({
          ...readingView(m),
          target: compareToTarget(store, t.personId, m.type, m),
        })),
        ...(safety.length ? { safety } : {}),
      };
    },
  });

  const correctReading = defineTool({
    name: 'correct_reading',
    description: 'Replace the reading logged in the previous turn with the corrected value.',
    cloud: false,
    schema: z.object({
      type: z.enum(measurementTypes),
      value: z.union([z.number(), bpValue]),
      unit: z.string().optional(),
    }),
    run(args, t) {
      const id = (t.lastLoggedIds ?? []).find((x) => {
        try {
          return store.measurements.get(x).type === args.type;
        } catch {
          return false;
        }
      });
      if (!id)
        return {
          ok: false,
          error: { code: 'not_found', message: 'no reading from this conversation to correct' },
        };
      const old = store.measurements.get(id);
      const fresh = deps.db
        .transaction(() => {
          store.measurements.remove(id);
          return store.measurements.add(
            {
              personId: t.personId,
              type: args.type,
              value: args.value,
              ...(args.unit ? { unit: args.unit } : {}),
              takenAt: old.takenAt,
            },
            { source: t.source },
          );
        })
        .immediate();
      return { ok: true, replaced: id, reading: readingView(fresh) };
    },
  });

  const queryReadings = defineTool({
    name: 'query_readings',
    description:
      'Look up readings: the latest, those on one day, or the average, lowest, highest or trend over a period, compared with the target range.',
    cloud: true,
    schema: z.object({
      type: z.enum(measurementTypes),
      stat: z.enum(['latest', 'day', 'average', 'min', 'max', 'trend']),
      from: localDate.optional().describe('First local date, inclusive (required unless stat is latest)'),
      to: localDate.optional().describe('Local date after the last one (exclusive)'),
      period: z.string().max(60).optional().describe('How the period was said, e.g. "last week"'),
    }),
    run(args, t) {
      const { type, stat } = args;
      if (stat === 'latest' || !args.from || !args.to) {
        const m = store.measurements.latest(type, t.personId);
        if (!m) return { ok: true, type, stat: 'latest', count: 0 };
        return {
          ok: true,
          type,
          stat: 'latest',
          count: 1,
          latest: readingView(m),
          target: compareToTarget(store, t.personId, type, m),
        };
      }
      const from = startOf(args.from, t.timezone);
      const to = Math.min(startOf(args.to, t.timezone), t.now + 60_000);
      if (!(to > from)) return { ok: true, type, stat, period: args.period, count: 0 };
      const summary = store.analytics.summary({ type, from, to, personId: t.personId });
      const base = {
        ok: true,
        type,
        stat,
        period: args.period,
        unit: summary.unit,
        count: summary.count,
        mean: summary.mean,
        min: summary.min,
        max: summary.max,
        outOfRangeShare: summary.outOfRangeShare,
      };
      if (stat === 'day') {
        const items = store.measurements
          .list({ personId: t.personId, type, from, to, limit: 20 })
          .items.reverse();
        return { ...base, readings: items.map(readingView) };
      }
      if (stat === 'trend') {
        const items = store.measurements
          .list({ personId: t.personId, type, from, to, limit: 500 })
          .items.reverse();
        return { ...base, direction: trendOf(items) };
      }
      return base;
    },
  });

  const addMedicine = defineTool({
    name: 'add_medicine',
    description:
      'Add a medicine with the times (HH:MM, 24-hour) at which to remind the person, optionally the dose and days of the week.',
    cloud: true,
    schema: z.object({
      name: z.string().trim().min(1).max(200),
      dose: z.string().max(200).optional(),
      times: z.array(hhmm).min(1).max(12),
      days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])).optional(),
    }),
    run(args, t) {
      // One transaction: the medicine, its planned doses and outbox messages commit together (one sync).
      const { med, existing } = deps.db
        .transaction(() => {
          const existing = store.medications
            .listSync(t.personId)
            .find((m) => m.active && m.name.toLowerCase() === args.name.toLowerCase());
          const med = existing
            ? store.medications.update(existing.id, {
                times: args.times,
                ...(args.dose ? { dose: args.dose } : {}),
                ...(args.days ? { days: args.days } : {}),
              })
            : store.medications.create({
                personId: t.personId,
                name: args.name,
                ...(args.dose ? { dose: args.dose } : {}),
                times: args.times,
                ...(args.days ? { days: args.days } : {}),
              });
          return { med, existing };
        })
        .immediate();
      return {
        ok: true,
        updatedExisting: !!existing,
        medicine: { id: med.id, name: med.name, dose: med.dose, times: med.times, days: med.days },
      };
    },
  });

  const confirmDose = defineTool({
    name: 'confirm_dose',
    description:
      'Record that the person took or skipped a dose (of a named medicine, or whatever is due now).',
    cloud: true,
    schema: z.object({
      status: z.enum(['taken', 'skipped']),
      medicine: z.string().max(200).optional(),
      doseId: z.string().max(100).optional(),
      when: z.enum(['morning', 'evening']).optional(),
      date: localDate.optional(),
    }),
    async run(args, t) {
      if (args.doseId) {
        const { dose, changed } = store.doses.mark(args.doseId, args.status, { via: t.source, at: t.now });
        return {
          ok: true,
          doses: [{ id: dose.id, medicine: dose.medicationName, dueAt: dose.dueAt, status: dose.status }],
          changed,
        };
      }
      let medId: string | undefined;
      if (args.medicine) {
        const med = await findMedicine(store, t.personId, args.medicine);
        if (!med) return notFoundMed(args.medicine);
        medId = med.id;
        if (args.status === 'taken' && !args.date && !args.when) {
          // The store picks the dose of that medicine nearest now, within its confirmation window.
          try {
            const { dose, changed } = store.doses.confirmTaken(med.id, { at: t.now, via: t.source });
            return {
              ok: true,
              doses: [{ id: dose.id, medicine: dose.medicationName, dueAt: dose.dueAt, status: dose.status }],
              changed,
            };
          } catch (err) {
            if ((err as { code?: string }).code !== 'not_found') throw err;
            return {
              ok: false,
              error: { code: 'not_found', message: `no dose of ${med.name} is due around now` },
            };
          }
        }
      }
      const dayStart = args.date ? startOf(args.date, t.timezone) : undefined;
      const from = dayStart ?? t.now - 12 * 3600_000;
      const to = dayStart ? dayStart + 86_400_000 : t.now + 4 * 3600_000;
      const zoneHour = (iso: string) => DateTime.fromISO(iso, { zone: t.timezone }).hour;
      let candidates = store.doses
        .list({ from, to, personId: t.personId })
        .filter(
          (d) =>
            (!medId || d.medicationId === medId) &&
            (d.status === 'due' || d.status === 'missed' || d.status === args.status),
        );
      if (args.when)
        candidates = candidates.filter((d) =>
          args.when === 'morning' ? zoneHour(d.dueAt) < 12 : zoneHour(d.dueAt) >= 12,
        );
      // The doses due nearest now (all medicines due at that time when none was named).
      candidates.sort(
        (a, b) => Math.abs(Date.parse(a.dueAt) - t.now) - Math.abs(Date.parse(b.dueAt) - t.now),
      );
      const nearest = candidates[0];
      if (!nearest)
        return {
          ok: false,
          error: {
            code: 'not_found',
            message: args.medicine
              ? `no dose of ${args.medicine} is due around now`
              : 'no dose is due around now',
          },
        };
      const chosen = medId ? [nearest] : candidates.filter((d) => d.dueAt === nearest.dueAt);
      const out = deps.db
        .transaction(() =>
          chosen.map((d) => store.doses.mark(d.id, args.status, { via: t.source, at: t.now })),
        )
        .immediate();
      return {
        ok: true,
        doses: out.map(({ dose }) => ({
          id: dose.id,
          medicine: dose.medicationName,
          dueAt: dose.dueAt,
          status: dose.status,
        })),
        changed: out.some((o) => o.changed),
      };
    },
  });

  const listMedicines = defineTool({
    name: 'list_medicines',
    description: "List the person's current medicines with dose and reminder times.",
    cloud: true,
    schema: z.object({}),
    async run(_a, t) {
      const meds = (await store.medications.list(t.personId)).filter((m) => m.active);
      return {
        ok: true,
        medicines: meds.map((m) => ({ name: m.name, dose: m.dose, times: m.times, days: m.days })),
      };
    },
  });

  const nextDose = defineTool({
    name: 'next_dose',
    description:
      "The next due dose (optionally of one medicine) and today's doses with whether each was taken.",
    cloud: true,
    schema: z.object({ medicine: z.string().max(200).optional() }),
    async run(args, t) {
      let medId: string | undefined;
      if (args.medicine) {
        const med = await findMedicine(store, t.personId, args.medicine);
        if (!med) return notFoundMed(args.medicine);
        medId = med.id;
      }
      const dayStart = DateTime.fromMillis(t.now, { zone: t.timezone }).startOf('day').toMillis();
      const today = store.doses
        .list({ from: dayStart, to: dayStart + 86_400_000, personId: t.personId })
        .filter((d) => !medId || d.medicationId === medId);
      const upcoming = (await store.doses.upcoming(t.personId, 36 * 3600_000)).filter(
        (d) => (!medId || d.medicationId === medId) && Date.parse(d.dueAt) > t.now && d.status === 'due',
      );
      const next = upcoming[0];
      return {
        ok: true,
        ...(args.medicine ? { medicine: args.medicine } : {}),
        next: next ? { medicine: next.medicationName, dueAt: next.dueAt } : undefined,
        today: today.map((d) => ({ medicine: d.medicationName, dueAt: d.dueAt, status: d.status })),
      };
    },
  });

  const changeReminder = defineTool({
    name: 'change_reminder',
    description: 'Change the reminder times of a medicine.',
    cloud: true,
    schema: z.object({ medicine: z.string().min(1).max(200), times: z.array(hhmm).min(1).max(12) }),
    async run(args, t) {
      const med = await findMedicine(store, t.personId, args.medicine);
      if (!med) return notFoundMed(args.medicine);
      const updated = store.medications.update(med.id, { times: args.times });
      return { ok: true, medicine: { id: updated.id, name: updated.name, times: updated.times } };
    },
  });

  const cancelReminder = defineTool({
    name: 'cancel_reminder',
    description:
      "Stop the reminders for one medicine (it stays on the list as inactive). Cancelling all needs the person's yes.",
    cloud: false,
    schema: z
      .object({ medicine: z.string().min(1).max(200).optional(), all: z.boolean().optional() })
      .refine((v) => v.all || v.medicine, { message: 'name a medicine or set all', path: ['medicine'] }),
    async run(args, t) {
      const meds = args.all
        ? (await store.medications.list(t.personId)).filter((m) => m.active)
        : [await findMedicine(store, t.personId, args.medicine!)].filter((m): m is Medication => !!m);
      if (!meds.length) return args.all ? { ok: true, cancelled: [] } : notFoundMed(args.medicine!);
      deps.db
        .transaction(() => {
          for (const m of meds) store.medications.update(m.id, { active: false });
        })
        .immediate();
      return { ok: true, cancelled: meds.map((m) => m.name) };
    },
  });

  const removeMedicine = defineTool({
    name: 'remove_medicine',
    description: "Delete a medicine and its reminders (only after the person's yes).",
    cloud: false,
    schema: z.object({ medicine: z.string().min(1).max(200) }),
    async run(args, t) {
      const med = await findMedicine(store, t.personId, args.medicine);
      if (!med) return notFoundMed(args.medicine);
      store.medications.remove(med.id);
      return { ok: true, removed: med.name };
    },
  });

  return [
    logReadings,
    correctReading,
    queryReadings,
    addMedicine,
    confirmDose,
    listMedicines,
    nextDose,
    changeReminder,
    cancelReminder,
    removeMedicine,
  ] as Tool[];
}

/** Up, down or steady: the mean of the later half of the readings against the earlier half. */
function trendOf(items: Measurement[]): 'up' | 'down' | 'steady' | 'unknown' {
  if (items.length < 2) return 'unknown';
  const v = (m: Measurement) =>
    typeof m.canonical.value === 'number' ? m.canonical.value : m.canonical.value.systolic;
  const half = Math.floor(items.length / 2);
  const mean = (xs: Measurement[]) => xs.reduce((s, m) => s + v(m), 0) / xs.length;
  const a = mean(items.slice(0, half));
  const b = mean(items.slice(items.length - half));
  const change = (b - a) / (Math.abs(a) || 1);
  return change > 0.03 ? 'up' : change < -0.03 ? 'down' : 'steady';
}

export type { ToolContext };

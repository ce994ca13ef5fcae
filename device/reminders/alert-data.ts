/**
 * The `data` of a missed-dose caregiver alert, bounded whatever the number of doses: a device back after
 * days off can close thousands at once (24 medicines × 24 times a day), and listing every dose made the
 * record larger than the protocol's MAX_RECORD_BYTES, so it never left the device. The full list stays on
 * the device (reminder_alerts, GET /api/alerts); the cloud gets per-medicine counts and a sample of ids.
 */

/** Dose ids (with their due times) sent with one alert: the most recent ones. */
export const ALERT_DOSE_IDS = 50;
/** Medicines described with one alert: the most missed ones. */
export const ALERT_MEDICINES = 50;

export interface AlertDose {
  doseId: string;
  medicationId: string;
  dueAt: number;
}

export interface MissedDoseAlertData {
  kind: 'dose' | 'summary';
  /** How many doses the alert is about (doseIds may hold fewer). */
  doseCount: number;
  firstDueAt: string;
  lastDueAt: string;
  /** Per medicine, most missed first. */
  medicines: { id: string; doses: number; firstDueAt: string; lastDueAt: string }[];
  /** Fields kept from before the bound (same meaning, now at most ALERT_* entries each). */
  medicationIds: string[];
  doseIds: string[];
  dueAt: string[];
  /** True when doseIds or medicines leave some out. */
  truncated: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function missedDoseAlertData(kind: 'dose' | 'summary', items: AlertDose[]): MissedDoseAlertData {
  const byDue = [...items].sort((a, b) => a.dueAt - b.dueAt || a.doseId.localeCompare(b.doseId));
  const perMed = new Map<string, { doses: number; first: number; last: number }>();
  for (const d of byDue) {
    const m = perMed.get(d.medicationId);
    if (m) {
      m.doses++;
      m.last = d.dueAt;
    } else perMed.set(d.medicationId, { doses: 1, first: d.dueAt, last: d.dueAt });
  }
  const medicines = [...perMed]
    .sort((a, b) => b[1].doses - a[1].doses || a[0].localeCompare(b[0]))
    .slice(0, ALERT_MEDICINES)
    .map(([id, m]) => ({ id, doses: m.doses, firstDueAt: iso(m.first), lastDueAt: iso(m.last) }));
  const sample = byDue.slice(-ALERT_DOSE_IDS);
  return {
    kind,
    doseCount: items.length,
    firstDueAt: iso(byDue[0]!.dueAt),
    lastDueAt: iso(byDue[byDue.length - 1]!.dueAt),
    medicines,
    medicationIds: medicines.map((m) => m.id),
    doseIds: sample.map((d) => d.doseId),
    dueAt: sample.map((d) => iso(d.dueAt)),
    truncated: sample.length < items.length || medicines.length < perMed.size,
  };
}

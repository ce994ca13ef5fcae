import type pg from 'pg';

// Reads of the sync tables (cloud-sync/db/migrations/010_sync.sql) for one person. Plain functions so the
// benchmark can call the same query with and without the HTTP auth layer.

export interface RangeQuery {
  from?: string;
  to?: string;
  limit: number;
}

export async function listMeasurements(db: pg.Pool, personId: string, q: RangeQuery & { type?: string }) {
  const { rows } = await db.query<{
    id: string;
    type: string;
    value: number | null;
    value_json: unknown;
    unit: string;
    input_unit: string | null;
    taken_at: Date;
    source: string | null;
    note: string | null;
  }>(
    `SELECT id, type, value, value_json, unit, input_unit, taken_at, source, note FROM measurements
      WHERE person_id = $1 AND NOT deleted AND ($2::text IS NULL OR type = $2)
        AND ($3::timestamptz IS NULL OR taken_at >= $3) AND ($4::timestamptz IS NULL OR taken_at < $4)
      ORDER BY taken_at DESC LIMIT $5`,
    [personId, q.type ?? null, q.from ?? null, q.to ?? null, q.limit],
  );
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    value: r.value_json ?? r.value,
    unit: r.unit,
    inputUnit: r.input_unit,
    takenAt: r.taken_at.toISOString(),
    source: r.source,
    note: r.note,
  }));
}

export async function listDoses(db: pg.Pool, personId: string, q: RangeQuery) {
  const { rows } = await db.query<{
    id: string;
    medication_id: string;
    medication_name: string | null;
    due_at: Date;
    status: string;
    confirmed_at: Date | null;
    confirmed_via: string | null;
  }>(
    `SELECT id, medication_id, medication_name, due_at, status, confirmed_at, confirmed_via FROM doses
      WHERE person_id = $1 AND ($2::timestamptz IS NULL OR due_at >= $2) AND ($3::timestamptz IS NULL OR due_at < $3)
      ORDER BY due_at DESC LIMIT $4`,
    [personId, q.from ?? null, q.to ?? null, q.limit],
  );
  return rows.map((r) => ({
    id: r.id,
    medicationId: r.medication_id,
    medicationName: r.medication_name,
    dueAt: r.due_at.toISOString(),
    status: r.status,
    confirmedAt: r.confirmed_at?.toISOString() ?? null,
    confirmedVia: r.confirmed_via,
  }));
}

/** Taken / skipped / missed per day and per medicine over the last `days` days (in UTC days). */
export async function adherence(db: pg.Pool, personId: string, q: { from: string; to: string }) {
  const { rows } = await db.query<{
    day: string;
    medication_id: string;
    medication_name: string | null;
    status: string;
    n: number;
  }>(
    `SELECT to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, medication_id, max(medication_name) AS medication_name, status, count(*)::int AS n
       FROM doses WHERE person_id = $1 AND due_at >= $2 AND due_at < $3
      GROUP BY 1, 2, 4 ORDER BY 1`,
    [personId, q.from, q.to],
  );
  const empty = () => ({ taken: 0, skipped: 0, missed: 0, due: 0 });
  const total = empty();
  const byDay = new Map<string, ReturnType<typeof empty>>();
  const byMed = new Map<
    string,
    ReturnType<typeof empty> & { medicationId: string; medicationName: string | null }
  >();
  for (const r of rows) {
    const k = r.status as keyof ReturnType<typeof empty>;
    total[k] += r.n;
    const d = byDay.get(r.day) ?? empty();
    d[k] += r.n;
    byDay.set(r.day, d);
    const m = byMed.get(r.medication_id) ?? {
      ...empty(),
      medicationId: r.medication_id,
      medicationName: r.medication_name,
    };
    m[k] += r.n;
    byMed.set(r.medication_id, m);
  }
  const rate = (c: ReturnType<typeof empty>) => {
    const settled = c.taken + c.skipped + c.missed;
    return settled === 0 ? null : Math.round((c.taken / settled) * 1000) / 1000;
  };
  return {
    from: q.from,
    to: q.to,
    total: { ...total, rate: rate(total) },
    days: [...byDay].map(([day, c]) => ({ day, ...c, rate: rate(c) })),
    medications: [...byMed.values()].map((c) => ({ ...c, rate: rate(c) })),
  };
}

export async function listAlerts(db: pg.Pool, personId: string, q: RangeQuery) {
  const { rows } = await db.query<{
    id: string;
    type: string;
    priority: number;
    message: string;
    at: Date;
    data: unknown;
  }>(
    `SELECT id, type, priority, message, at, data FROM alerts
      WHERE person_id = $1 AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
      ORDER BY at DESC LIMIT $4`,
    [personId, q.from ?? null, q.to ?? null, q.limit],
  );
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    priority: r.priority,
    message: r.message,
    at: r.at.toISOString(),
    data: r.data,
  }));
}

export async function listConversationTurns(db: pg.Pool, personId: string, q: RangeQuery) {
  const { rows } = await db.query<{
    id: string;
    conversation_id: string;
    role: string;
    text: string;
    at: Date;
    actions: unknown;
  }>(
    `SELECT id, conversation_id, role, text, at, actions FROM conversation_turns
      WHERE person_id = $1 AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
      ORDER BY at DESC LIMIT $4`,
    [personId, q.from ?? null, q.to ?? null, q.limit],
  );
  return rows.map((r) => ({
    id: r.id,
    conversationId: r.conversation_id,
    role: r.role,
    text: r.text,
    at: r.at.toISOString(),
    actions: r.actions,
  }));
}

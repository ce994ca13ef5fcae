import { createHash } from 'node:crypto';
import type pg from 'pg';

// Reads of the sync tables (cloud-sync/db/migrations/010_sync.sql) for one person. Each read is a Reader:
// one SQL statement ($1 = the person's id as text, lower case) and a mapper. The API embeds the statement
// in its access-check + audit statement (data/routes.ts); `run` executes it alone, which is what the
// benchmark's auth-off baseline does, so both sides do the same data query.

export interface RangeQuery {
  from?: string;
  to?: string;
  limit: number;
}

export interface Reader<R, T> {
  /** One SELECT; `$1` is the person id; its own parameters follow from `$2`. */
  sql: string;
  params: unknown[];
  /** ORDER BY over the statement's output columns qualified by `d.` (the embedding re-sorts). */
  orderBy: string;
  map(rows: R[]): T;
}

/**
 * A named (prepared) statement: PostgreSQL parses and plans it once per connection instead of on every
 * request. The name is derived from the text, so one name never stands for two statements.
 */
export function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (!name) {
    name = `aide_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}
const statementNames = new Map<string, string>();

export async function run<R extends pg.QueryResultRow, T>(db: pg.Pool, r: Reader<R, T>): Promise<T> {
  const { rows } = await db.query<R>(prepared(r.sql, r.params));
  return r.map(rows);
}

/** A person's rows of `table` whose `at` column falls in [from, to), newest first, at most `limit`. */
function newestFirst<R, T>(
  table: string,
  columns: string,
  at: string,
  personId: string,
  q: RangeQuery,
  view: (r: R) => T,
): Reader<R, T[]> {
  return {
    sql: `SELECT ${columns} FROM ${table}
      WHERE person_id = $1 AND ($2::timestamptz IS NULL OR ${at} >= $2) AND ($3::timestamptz IS NULL OR ${at} < $3)
      ORDER BY ${at} DESC LIMIT $4`,
    params: [personId, q.from ?? null, q.to ?? null, q.limit],
    orderBy: `d.${at} DESC`,
    map: (rows) => rows.map(view),
  };
}

interface MeasurementRow {
  id: string;
  type: string;
  value: number | null;
  value_json: unknown;
  unit: string;
  input_unit: string | null;
  taken_at: Date;
  source: string | null;
  note: string | null;
}

export function measurementsReader(personId: string, q: RangeQuery & { type?: string }) {
  return {
    sql: `SELECT id, type, value, value_json, unit, input_unit, taken_at, source, note FROM measurements
      WHERE person_id = $1 AND NOT deleted AND ($2::text IS NULL OR type = $2)
        AND ($3::timestamptz IS NULL OR taken_at >= $3) AND ($4::timestamptz IS NULL OR taken_at < $4)
      ORDER BY taken_at DESC LIMIT $5`,
    params: [personId, q.type ?? null, q.from ?? null, q.to ?? null, q.limit],
    orderBy: 'd.taken_at DESC',
    map: (rows: MeasurementRow[]) =>
      rows.map((r) => ({
        id: r.id,
        type: r.type,
        value: r.value_json ?? r.value,
        unit: r.unit,
        inputUnit: r.input_unit,
        takenAt: r.taken_at.toISOString(),
        source: r.source,
        note: r.note,
      })),
  } satisfies Reader<MeasurementRow, unknown>;
}

export const listMeasurements = (db: pg.Pool, personId: string, q: RangeQuery & { type?: string }) =>
  run(db, measurementsReader(personId, q));

interface DoseRow {
  id: string;
  medication_id: string;
  medication_name: string | null;
  due_at: Date;
  status: string;
  confirmed_at: Date | null;
  confirmed_via: string | null;
}

export const dosesReader = (personId: string, q: RangeQuery) =>
  newestFirst(
    'doses',
    'id, medication_id, medication_name, due_at, status, confirmed_at, confirmed_via',
    'due_at',
    personId,
    q,
    (r: DoseRow) => ({
      id: r.id,
      medicationId: r.medication_id,
      medicationName: r.medication_name,
      dueAt: r.due_at.toISOString(),
      status: r.status,
      confirmedAt: r.confirmed_at?.toISOString() ?? null,
      confirmedVia: r.confirmed_via,
    }),
  );

interface AdherenceRow {
  day: string;
  medication_id: string;
  medication_name: string | null;
  status: string;
  n: number;
}

/** Taken / skipped / missed per day and per medicine over the last `days` days (in UTC days). */
export function adherenceReader(personId: string, q: { from: string; to: string }) {
  const empty = () => ({ taken: 0, skipped: 0, missed: 0, due: 0 });
  const rate = (c: ReturnType<typeof empty>) => {
    const settled = c.taken + c.skipped + c.missed;
    return settled === 0 ? null : Math.round((c.taken / settled) * 1000) / 1000;
  };
  return {
    sql: `SELECT to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, medication_id, max(medication_name) AS medication_name, status, count(*)::int AS n
       FROM doses WHERE person_id = $1 AND due_at >= $2 AND due_at < $3
      GROUP BY 1, 2, 4 ORDER BY 1`,
    params: [personId, q.from, q.to],
    orderBy: 'd.day',
    map: (rows: AdherenceRow[]) => {
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
      return {
        from: q.from,
        to: q.to,
        total: { ...total, rate: rate(total) },
        days: [...byDay].map(([day, c]) => ({ day, ...c, rate: rate(c) })),
        medications: [...byMed.values()].map((c) => ({ ...c, rate: rate(c) })),
      };
    },
  } satisfies Reader<AdherenceRow, unknown>;
}

interface AlertRow {
  id: string;
  type: string;
  priority: number;
  message: string;
  at: Date;
  data: unknown;
}

export const alertsReader = (personId: string, q: RangeQuery) =>
  newestFirst('alerts', 'id, type, priority, message, at, data', 'at', personId, q, (r: AlertRow) => ({
    id: r.id,
    type: r.type,
    priority: r.priority,
    message: r.message,
    at: r.at.toISOString(),
    data: r.data,
  }));

interface TurnRow {
  id: string;
  conversation_id: string;
  role: string;
  text: string;
  at: Date;
  actions: unknown;
}

export const conversationTurnsReader = (personId: string, q: RangeQuery) =>
  newestFirst(
    'conversation_turns',
    'id, conversation_id, role, text, at, actions',
    'at',
    personId,
    q,
    (r: TurnRow) => ({
      id: r.id,
      conversationId: r.conversation_id,
      role: r.role,
      text: r.text,
      at: r.at.toISOString(),
      actions: r.actions,
    }),
  );

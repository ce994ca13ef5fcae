import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One SQL migration file; the device store (SQLite) and the cloud database (PostgreSQL) both use them. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The `NNN_name.sql` files in `dir`, in order: applied forward only, each once. */
export function listMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.slice(0, 3)),
      name: f.replace(/\.sql$/, ''),
      sql: readFileSync(join(dir, f), 'utf8'),
    }));
}

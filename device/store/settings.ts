import { randomUUID } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import type { Db } from './db.js';

export function getSetting(db: Db, key: string): string | undefined {
  return (db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)
    ?.value;
}

export function setSetting(db: Db, clock: Clock, key: string, value: string): void {
  db.prepare(
    'INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
  ).run(key, value, clock.now());
}

/** The device id: configured, or generated on first start and kept so it never changes. */
export function ensureDeviceId(db: Db, clock: Clock, configured?: string): string {
  const stored = getSetting(db, 'device_id');
  if (configured && configured !== stored) setSetting(db, clock, 'device_id', configured);
  if (configured) return configured;
  if (stored) return stored;
  const id = `dev-${randomUUID().slice(0, 13)}`;
  setSetting(db, clock, 'device_id', id);
  return id;
}

import type pg from 'pg';
import type { Role } from './auth/access-tokens.js';

export interface User {
  id: string;
  email: string;
  emailVerified: boolean;
  displayName: string | null;
  role: Role;
  createdAt: string;
}

export interface UserRow {
  id: string;
  email: string;
  email_verified: boolean;
  password_hash: string | null;
  display_name: string | null;
  role: Role;
  created_at: Date;
  disabled_at: Date | null;
}

export const toUser = (r: UserRow): User => ({
  id: r.id,
  email: r.email,
  emailVerified: r.email_verified,
  displayName: r.display_name,
  role: r.role,
  createdAt: r.created_at.toISOString(),
});

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export async function findUserByEmail(
  db: pg.Pool | pg.PoolClient,
  email: string,
): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>('SELECT * FROM users WHERE lower(email) = $1', [
    normalizeEmail(email),
  ]);
  return rows[0];
}

export async function findUserById(db: pg.Pool | pg.PoolClient, id: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
  return rows[0];
}

-- Caregiver accounts, sessions and signing keys (issue 9).
CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL,
  email_verified boolean NOT NULL DEFAULT false,
  -- argon2id PHC string; NULL for accounts that only sign in through an identity provider
  password_hash text,
  display_name text,
  role text NOT NULL DEFAULT 'caregiver' CHECK (role IN ('caregiver', 'clinician', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Opaque refresh tokens, stored as SHA-256. Each use replaces the token with a new one in the same
-- family; presenting a used or revoked token revokes the whole family (stolen-token detection).
CREATE TABLE refresh_tokens (
  id uuid PRIMARY KEY,
  family_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz,
  revoke_reason text
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Ed25519 keys that sign access tokens. Shared by every API replica; the newest signs, older ones
-- stay published in the JWKS until every token they signed has expired.
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  public_jwk jsonb NOT NULL,
  private_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  -- set when a newer key takes over; the key is unpublished after retired_at + token lifetime
  retired_at timestamptz
);

-- Login back-off per account name (SHA-256 of the lower-cased email, whether or not the account exists).
CREATE TABLE login_failures (
  key_hash text PRIMARY KEY,
  failures integer NOT NULL,
  last_failure_at timestamptz NOT NULL,
  locked_until timestamptz
);

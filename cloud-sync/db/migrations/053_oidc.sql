-- Sign-in through external OpenID Connect providers (issue 9).

-- One row per started sign-in: state (stored hashed), PKCE verifier and nonce; single use, 10 minutes.
CREATE TABLE oidc_states (
  state_hash text PRIMARY KEY,
  provider text NOT NULL,
  code_verifier text NOT NULL,
  nonce text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);

-- An account at a provider (issuer + subject) linked to an Aide user.
CREATE TABLE oidc_identities (
  provider text NOT NULL,
  subject text NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email text,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (provider, subject)
);
CREATE INDEX oidc_identities_user ON oidc_identities (user_id);

-- One-time codes the web app exchanges for tokens after the callback (tokens never travel in a URL).
CREATE TABLE oidc_login_codes (
  code_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL
);

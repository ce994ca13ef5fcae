-- Signing keys encrypted at rest (issue 9): the private JWK is sealed with AES-256-GCM under a key
-- from configuration (AIDE_JWT_KEY_ENCRYPTION_KEYS), named by its id so the key can be changed.
-- private_jwk stays only for rows written before a key was configured; they are sealed on start-up.
ALTER TABLE signing_keys ALTER COLUMN private_jwk DROP NOT NULL;
ALTER TABLE signing_keys ADD COLUMN private_sealed text;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_private_present
  CHECK (private_jwk IS NOT NULL OR private_sealed IS NOT NULL);

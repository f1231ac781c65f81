-- OAuth 2.0 client credentials (RFC 6749 section 4.4) beside the SCIM bearer tokens: per organisation,
-- clients with up to three live secrets (for rotation), and the short-lived access tokens they obtain
-- from POST /oauth/token. Secrets and access tokens are stored only as SHA-256 digests.
-- Applied with search_path = control.

CREATE TABLE oauth_clients (
    id              uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    label           text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    -- What the identity provider sends as client_id ("laclient_" + 24 random base62 characters).
    client_id       text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX oauth_clients_organisation_idx ON oauth_clients (organisation_id);

CREATE TABLE oauth_client_secrets (
    id              uuid PRIMARY KEY,
    client_id       uuid NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    -- Public, unique part of the secret ("lasecret_" + 12 random base62 characters): how it is found.
    prefix          text NOT NULL UNIQUE,
    -- SHA-256 of the whole secret. The secret itself is never stored.
    secret_hash     bytea NOT NULL CHECK (length(secret_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX oauth_client_secrets_client_idx ON oauth_client_secrets (client_id);

CREATE TABLE oauth_access_tokens (
    id              uuid PRIMARY KEY,
    -- The secret the token was obtained with: revoking it, or its client, ends the token.
    secret_id       uuid NOT NULL REFERENCES oauth_client_secrets (id) ON DELETE CASCADE,
    -- Public, unique part of the token ("laoauth_" + 12 random base62 characters): how it is found.
    prefix          text NOT NULL UNIQUE,
    -- SHA-256 of the whole token. The token itself is never stored.
    token_hash      bytea NOT NULL CHECK (length(token_hash) = 32),
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX oauth_access_tokens_secret_idx ON oauth_access_tokens (secret_id);
CREATE INDEX oauth_access_tokens_expires_idx ON oauth_access_tokens (expires_at);

-- Replicas cache access token -> organisation like SCIM tokens (Tenancy/TokenCache.swift): a revoked
-- client or secret moves the cache epoch (004_cache_epoch.sql) so every replica drops that cache
-- within about a second, by hand in psql too. last_used_at is written routinely and does not fire.
-- Access tokens are never updated, and deleting expired ones changes nothing a cache may serve (a
-- cached token stops at its own expiry): to end live tokens by hand, revoke their secret or client.
CREATE TRIGGER oauth_clients_invalidate_caches
    AFTER UPDATE OF organisation_id, client_id, revoked_at OR DELETE ON oauth_clients
    FOR EACH STATEMENT EXECUTE FUNCTION invalidate_caches_trigger();
CREATE TRIGGER oauth_client_secrets_invalidate_caches
    AFTER UPDATE OF client_id, prefix, secret_hash, expires_at, revoked_at OR DELETE ON oauth_client_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION invalidate_caches_trigger();

-- The control schema: organisations, their SCIM tokens. Applied with search_path = control.

CREATE TABLE organisations (
    id             uuid PRIMARY KEY,
    slug           text NOT NULL UNIQUE,
    name           text NOT NULL,
    schema_name    text NOT NULL UNIQUE CHECK (schema_name ~ '^[a-z][a-z0-9_]{0,40}$'),
    scim_enabled   boolean NOT NULL DEFAULT true,
    -- Highest tenant migration applied to schema_name: lets start-up find stale tenants in one query.
    schema_version integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE scim_tokens (
    id              uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    label           text NOT NULL,
    -- Public, unique part of the token ("lascim_" + 12 random base62 characters): how a token is found.
    prefix          text NOT NULL UNIQUE,
    -- SHA-256 of the whole token. The token itself is never stored.
    secret_hash     bytea NOT NULL CHECK (length(secret_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX scim_tokens_organisation_idx ON scim_tokens (organisation_id);

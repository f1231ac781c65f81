-- Staff access: per-person staff keys instead of the shared bootstrap ADMIN_API_TOKEN, and an audit
-- log of every admin write. Applied with search_path = control.

CREATE TABLE staff_keys (
    id              uuid PRIMARY KEY,
    -- Who holds the key ("Jane Doe (support)"): shown in listings and recorded in the audit log.
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- support: read and write; readonly: GET only.
    role            text NOT NULL CHECK (role IN ('support', 'readonly')),
    -- When set, the key sees only this organisation (others answer 404, as if they did not exist).
    organisation_id uuid REFERENCES organisations (id) ON DELETE CASCADE,
    -- Public, unique part of the key ("lastaff_" + 12 random base62 characters): how a key is found.
    prefix          text NOT NULL UNIQUE,
    -- SHA-256 of the whole key. The key itself is never stored.
    secret_hash     bytea NOT NULL CHECK (length(secret_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX staff_keys_organisation_idx ON staff_keys (organisation_id);

-- One row per successful admin write: who, what, when. Never a request body or a secret.
CREATE TABLE audit_log (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at       timestamptz NOT NULL DEFAULT now(),
    actor_kind        text NOT NULL CHECK (actor_kind IN ('bootstrap', 'staff_key')),
    -- The staff key's id (no foreign key: the log outlives keys); null for the bootstrap token.
    actor_id          uuid,
    actor_name        text NOT NULL,
    method            text NOT NULL,
    -- The route template, e.g. /admin/v1/organisations/{slug}/tokens: no values from the path.
    route             text NOT NULL,
    organisation_slug text,
    -- What the write created or changed, when it has an id (a token, a user, a staff key, a new slug).
    target            text,
    status            integer NOT NULL
);
CREATE INDEX audit_log_occurred_at_idx ON audit_log (occurred_at DESC);

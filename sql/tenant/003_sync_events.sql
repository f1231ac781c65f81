-- What SCIM did, one row per request (and per warning), for support and the status page.

CREATE TABLE sync_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    outcome        text NOT NULL CHECK (outcome IN ('success', 'warning', 'error')),
    -- For warnings: what kind (unmapped_attributes, unresolved_manager, adopted_user).
    kind           text,
    request_id     text NOT NULL,
    token_id       uuid,
    method         text NOT NULL,
    path           text NOT NULL,
    resource_type  text,
    resource_id    uuid,
    user_name      text,
    status         integer NOT NULL,
    scim_type      text,
    detail         text,
    duration_ms    integer,
    -- Attribute names only: never values, tokens or bodies.
    changes        text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX sync_events_occurred_idx ON sync_events (occurred_at DESC, id DESC);
CREATE INDEX sync_events_request_idx ON sync_events (request_id);
CREATE INDEX sync_events_outcome_idx ON sync_events (outcome, occurred_at DESC);
CREATE INDEX sync_events_kind_idx ON sync_events (kind, occurred_at DESC) WHERE kind IS NOT NULL;
CREATE INDEX sync_events_user_name_idx ON sync_events (lower(user_name), occurred_at DESC);

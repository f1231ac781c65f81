-- Support console sessions. Applied with search_path = control.
--
-- The browser holds a 256-bit random session id in an HttpOnly cookie; only its SHA-256 is stored,
-- so a copy of this table signs nobody in. A session is valid while it is not ended, was seen within
-- the idle timeout and is younger than its absolute expiry, and its staff key (when it has one) is
-- not revoked: revoking a key ends its sessions on every replica at the next request.
CREATE TABLE console_sessions (
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    -- The staff key that signed in; null for the bootstrap ADMIN_API_TOKEN.
    staff_key_id uuid REFERENCES staff_keys (id) ON DELETE CASCADE,
    -- For a bootstrap session, the SHA-256 of the ADMIN_API_TOKEN it signed in with: rotating the
    -- token ends the sessions of the old one.
    bootstrap_digest bytea CHECK ((staff_key_id IS NULL) = (bootstrap_digest IS NOT NULL)),
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- Absolute expiry: created_at plus the absolute lifetime, whatever the activity.
    expires_at   timestamptz NOT NULL,
    -- Set by signing out.
    ended_at     timestamptz
);
CREATE INDEX console_sessions_staff_key_idx ON console_sessions (staff_key_id);
CREATE INDEX console_sessions_expires_at_idx ON console_sessions (expires_at);

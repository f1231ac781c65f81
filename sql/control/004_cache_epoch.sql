-- A counter every replica reads twice a second: it moves whenever something a replica caches
-- (token -> organisation, the organisation's SCIM switch and rate limit, custom-field mappings)
-- changes, so replicas can keep those caches for a minute and still drop them within a second of a
-- change, through a transaction-mode PgBouncer (no LISTEN). Applied with search_path = control.

CREATE TABLE cache_epoch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch     bigint NOT NULL
);
INSERT INTO cache_epoch (epoch) VALUES (1);

-- Moves the counter inside the caller's transaction: replicas see the move when the change commits.
CREATE FUNCTION invalidate_caches() RETURNS void LANGUAGE sql AS
    'UPDATE control.cache_epoch SET epoch = epoch + 1';

CREATE FUNCTION invalidate_caches_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM control.invalidate_caches();
    RETURN NULL;
END
$$;

-- Triggers rather than calls in the service's code, so a change made by hand in psql (a support
-- engineer revoking a token with UPDATE) reaches every replica too. last_used_at and schema_version
-- are written routinely and change nothing cached, so they do not fire.
CREATE TRIGGER scim_tokens_invalidate_caches
    AFTER UPDATE OF organisation_id, prefix, secret_hash, expires_at, revoked_at OR DELETE ON scim_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION invalidate_caches_trigger();
CREATE TRIGGER organisations_invalidate_caches
    AFTER UPDATE OF slug, schema_name, scim_enabled, rate_limit_rps, rate_limit_burst OR DELETE ON organisations
    FOR EACH STATEMENT EXECUTE FUNCTION invalidate_caches_trigger();

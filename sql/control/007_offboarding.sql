-- Offboarding: an organisation whose contract ended is marked, kept intact for a grace period, then
-- purged (its schema dropped, its control rows deleted). Applied with search_path = control.

ALTER TABLE organisations
    -- When staff offboarded it; null for an active organisation.
    ADD COLUMN offboarded_at      timestamptz,
    -- When the background purge may drop it: offboarded_at + ORG_PURGE_GRACE_DAYS.
    ADD COLUMN purge_after        timestamptz,
    -- Who offboarded it (kept for the one audit entry left after the purge), and whether SCIM was on
    -- before, so a restore puts it back as it was.
    ADD COLUMN offboarded_by_kind text CHECK (offboarded_by_kind IN ('bootstrap', 'staff_key')),
    ADD COLUMN offboarded_by_id   uuid,
    ADD COLUMN offboarded_by_name text,
    ADD COLUMN scim_enabled_before_offboarding boolean,
    ADD CONSTRAINT organisations_offboarding_complete CHECK (
        (offboarded_at IS NULL) = (purge_after IS NULL)
        AND (offboarded_at IS NULL) = (offboarded_by_kind IS NULL)
        AND (offboarded_at IS NULL) = (offboarded_by_name IS NULL)
        AND (offboarded_at IS NULL) = (scim_enabled_before_offboarding IS NULL));

-- The purge looks for due organisations every pass; only offboarded ones are indexed.
CREATE INDEX organisations_purge_after_idx ON organisations (purge_after) WHERE purge_after IS NOT NULL;

-- Offboarding moves the cache epoch too (besides scim_enabled and the tokens' revocation), so a
-- replica that cached the organisation drops it within a second.
DROP TRIGGER organisations_invalidate_caches ON organisations;
CREATE TRIGGER organisations_invalidate_caches
    AFTER UPDATE OF slug, schema_name, scim_enabled, rate_limit_rps, rate_limit_burst, offboarded_at OR DELETE
    ON organisations
    FOR EACH STATEMENT EXECUTE FUNCTION invalidate_caches_trigger();

-- Per-organisation rate-limit override (token bucket per replica); NULL means the service default
-- (RATE_LIMIT_RPS, RATE_LIMIT_BURST). Applied with search_path = control.

ALTER TABLE organisations
    ADD COLUMN rate_limit_rps   integer CHECK (rate_limit_rps BETWEEN 1 AND 100000),
    ADD COLUMN rate_limit_burst integer CHECK (rate_limit_burst BETWEEN 1 AND 100000),
    ADD CONSTRAINT organisations_rate_limit_both_or_neither
        CHECK ((rate_limit_rps IS NULL) = (rate_limit_burst IS NULL));

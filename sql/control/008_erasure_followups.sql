-- People erased in the last hour, kept only so that the sync events other replicas had buffered when
-- the erasure ran, and write afterwards, are scrubbed too (`ErasureFollowUpService`): a few passes at
-- growing intervals (`UserErasure.followUpSchedule`), the row deleted with the last. Each row holds
-- the person's userName (and those their events show they had before), emails and names, as stored
-- and lowercased.
-- Applied with search_path = control.

CREATE TABLE erasure_followups (
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    erased_at       timestamptz NOT NULL,
    -- When the next pass is due, and how many have run.
    next_pass_at    timestamptz NOT NULL,
    passes          integer NOT NULL DEFAULT 0,
    -- The values scrubbed: as stored and lowercased, each at least two characters long.
    names           text[] NOT NULL,
    PRIMARY KEY (organisation_id, user_id)
);
CREATE INDEX erasure_followups_due_idx ON erasure_followups (next_pass_at);

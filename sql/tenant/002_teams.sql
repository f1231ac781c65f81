-- Teams: SCIM Groups and department teams are the same thing in Learn Amp.

CREATE TABLE teams (
    id            uuid PRIMARY KEY,
    display_name  text NOT NULL,
    external_id   text,
    -- True once a SCIM client created or claimed it as a Group (Okta Group Push, Entra groups).
    is_group      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    version       bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX teams_display_name_key ON teams (lower(display_name));
CREATE INDEX teams_external_id_idx ON teams (external_id);

CREATE TABLE team_members (
    team_id         uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Why the user is a member: pushed as a Group member, and/or their department names this team.
    via_group       boolean NOT NULL DEFAULT false,
    via_department  boolean NOT NULL DEFAULT false,
    added_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id),
    CHECK (via_group OR via_department)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

ALTER TABLE users ADD COLUMN primary_team_id uuid REFERENCES teams (id) ON DELETE SET NULL;

-- One organisation's people. Applied with search_path = the organisation's schema, so no schema names here.

CREATE TABLE users (
    id                 uuid PRIMARY KEY,
    user_name          text NOT NULL,
    -- The primary email (login). Unique with user_name, case-insensitively, case preserved.
    email              text,
    external_id        text,
    given_name         text,
    family_name        text,
    formatted_name     text,
    display_name       text,
    title              text,
    timezone           text,
    active             boolean NOT NULL DEFAULT true,
    role               text NOT NULL DEFAULT 'viewer'
                       CHECK (role IN ('viewer', 'curator', 'manager', 'admin', 'owner')),
    -- True while SCIM manages the user; false for manual users and for users released by DELETE.
    scim_managed       boolean NOT NULL DEFAULT false,
    -- All emails as SCIM sent them: [{"value","type","primary","display"}].
    emails             jsonb NOT NULL DEFAULT '[]',
    employee_number    text,
    cost_center        text,
    organization       text,
    division           text,
    department         text,
    manager_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    -- A manager reference (id or email) that named nobody yet: linked when that person is provisioned.
    pending_manager    text,
    hire_date          date,
    -- Mapped custom fields, by Learn Amp field name.
    custom_fields      jsonb NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Bumped on every change; the weak ETag is W/"version".
    version            bigint NOT NULL DEFAULT 1,
    CHECK (manager_id IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX users_user_name_key ON users (lower(user_name));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_external_id_idx ON users (external_id);
CREATE INDEX users_pending_manager_idx ON users (lower(pending_manager)) WHERE pending_manager IS NOT NULL;
CREATE INDEX users_manager_idx ON users (manager_id);
CREATE INDEX users_updated_at_idx ON users (updated_at);

-- Support staff map SCIM attributes to Learn Amp custom fields, per organisation.
CREATE TABLE custom_field_mappings (
    -- Full attribute URN, e.g. urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:costCentre
    scim_attribute  text PRIMARY KEY,
    -- The attribute's name inside the Learn Amp extension (costCentre), as SCIM clients send it.
    attribute_name  text NOT NULL UNIQUE,
    -- The Learn Amp custom field it fills; users.custom_fields is keyed by this.
    field           text NOT NULL UNIQUE,
    type            text NOT NULL CHECK (type IN ('string', 'number', 'boolean', 'date', 'enum')),
    allowed_values  text[],
    created_at      timestamptz NOT NULL DEFAULT now()
);

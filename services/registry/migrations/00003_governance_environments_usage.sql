-- +goose Up
-- Every change that alters what an environment may send (a push, an access
-- change, a lifecycle change) is a catalogue revision, so ingest and awards
-- caches follow one monotonic number. Metadata revisions carry no descriptors.
ALTER TABLE registry.revisions
    ADD COLUMN kind text NOT NULL DEFAULT 'push' CHECK (kind IN ('push', 'metadata'));

-- Tell watchers (LISTEN registry_revisions) about each new revision.
-- +goose StatementBegin
CREATE FUNCTION registry.notify_revision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('registry_revisions', NEW.revision::text);
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER revisions_notify
    AFTER INSERT ON registry.revisions
    FOR EACH ROW EXECUTE FUNCTION registry.notify_revision();

-- The team answerable for an event.
CREATE TABLE registry.owners (
    event_id    integer     PRIMARY KEY REFERENCES registry.events (id),
    team        text        NOT NULL CHECK (team <> ''),
    contact     text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Sending contexts: apps, sites, backends, partners.
CREATE TABLE registry.environments (
    name         text        PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    description  text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The event versions each environment may send.
CREATE TABLE registry.environment_access (
    environment  text        NOT NULL REFERENCES registry.environments (name),
    event_id     integer     NOT NULL,
    version      integer     NOT NULL,
    granted_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment, event_id, version),
    FOREIGN KEY (event_id, version) REFERENCES registry.event_versions (event_id, version)
);
CREATE INDEX environment_access_version ON registry.environment_access (event_id, version);

-- Every metadata change: who, when, what it was before and after.
CREATE TABLE registry.audit (
    id      bigserial   PRIMARY KEY,
    actor   text        NOT NULL,
    action  text        NOT NULL,
    entity  text        NOT NULL,
    before  jsonb,
    after   jsonb,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_entity ON registry.audit (entity, id DESC);

-- Per-minute counts reported by ingest.
CREATE TABLE registry.usage (
    minute       timestamptz NOT NULL,
    environment  text        NOT NULL,
    event_id     integer     NOT NULL,
    version      integer     NOT NULL,
    app_version  text        NOT NULL DEFAULT '',
    status       text        NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reason       text        NOT NULL DEFAULT '',
    count        bigint      NOT NULL CHECK (count >= 0),
    PRIMARY KEY (event_id, version, minute, environment, app_version, status, reason)
);
CREATE INDEX usage_minute ON registry.usage (minute);

-- +goose Up
-- The catalogue: every registered event version, never updated in shape and
-- never deleted. Each change to the catalogue is a revision.
CREATE TABLE registry.revisions (
    revision        bigserial PRIMARY KEY,
    author          text        NOT NULL,
    message         text        NOT NULL,
    descriptor_set  bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registry.events (
    id          integer     PRIMARY KEY CHECK (id > 0),
    name        text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registry.event_versions (
    event_id      integer     NOT NULL REFERENCES registry.events (id),
    version       integer     NOT NULL CHECK (version > 0),
    message_name  text        NOT NULL UNIQUE,
    description   text        NOT NULL DEFAULT '',
    fingerprint   text        NOT NULL,
    status        text        NOT NULL DEFAULT 'active'
                              CHECK (status IN ('active', 'deprecated', 'retired')),
    revision      bigint      NOT NULL REFERENCES registry.revisions (revision),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, version)
);

-- Versions are immutable: the shape columns can never change and rows can
-- never be deleted, whatever code runs against the database.
-- +goose StatementBegin
CREATE FUNCTION registry.event_versions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'event version % v% cannot be deleted; retire it instead', OLD.event_id, OLD.version;
    END IF;
    IF NEW.fingerprint <> OLD.fingerprint OR NEW.message_name <> OLD.message_name
       OR NEW.event_id <> OLD.event_id OR NEW.version <> OLD.version THEN
        RAISE EXCEPTION 'event version % v% is immutable; register a new version', OLD.event_id, OLD.version;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER event_versions_immutable
    BEFORE UPDATE OR DELETE ON registry.event_versions
    FOR EACH ROW EXECUTE FUNCTION registry.event_versions_guard();

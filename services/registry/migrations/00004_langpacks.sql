-- +goose Up
-- Generated langpacks: one row per (language, environment, version). A
-- version is stored once and never changes, so version N stays downloadable
-- byte for byte after N+1 exists.
CREATE TABLE registry.langpacks (
    language           text        NOT NULL CHECK (language <> ''),
    environment        text        NOT NULL REFERENCES registry.environments (name),
    version            integer     NOT NULL CHECK (version > 0),
    revision           bigint      NOT NULL,
    content_hash       text        NOT NULL CHECK (content_hash <> ''),
    generator_version  text        NOT NULL DEFAULT '',
    manifest           jsonb       NOT NULL,
    archive            bytea       NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (language, environment, version)
);

-- Which langpack version each catalogue revision yields, so a request at an
-- unchanged revision (and generator) does not generate again.
CREATE TABLE registry.langpack_checks (
    language           text    NOT NULL,
    environment        text    NOT NULL,
    revision           bigint  NOT NULL,
    generator_version  text    NOT NULL,
    version            integer NOT NULL,
    PRIMARY KEY (language, environment, revision, generator_version),
    FOREIGN KEY (language, environment, version) REFERENCES registry.langpacks (language, environment, version)
);

-- +goose StatementBegin
CREATE FUNCTION registry.langpacks_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'langpack % % v% is immutable; generate a new version instead',
        OLD.language, OLD.environment, OLD.version;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER langpacks_immutable
    BEFORE UPDATE OR DELETE ON registry.langpacks
    FOR EACH ROW EXECUTE FUNCTION registry.langpacks_guard();

-- +goose StatementBegin
CREATE FUNCTION registry.langpacks_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'langpacks cannot be deleted: every version stays downloadable';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER langpacks_no_truncate
    BEFORE TRUNCATE ON registry.langpacks
    FOR EACH STATEMENT EXECUTE FUNCTION registry.langpacks_no_truncate();

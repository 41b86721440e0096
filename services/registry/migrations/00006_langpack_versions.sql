-- +goose Up
-- Semantic langpack versions, one line per environment shared by every
-- language: a row per version, with the API surface it was compared by, the
-- hash of everything its packs are generated from, and that input itself
-- (gzip), so any language's pack of any version can be generated later.
-- A row never changes and is never deleted: a number names one content.
CREATE TABLE registry.langpack_versions (
    environment        text        NOT NULL REFERENCES registry.environments (name),
    major              integer     NOT NULL CHECK (major >= 0),
    minor              bigint      NOT NULL CHECK (minor >= 0),
    patch              integer     NOT NULL CHECK (patch >= 0),
    surface_hash       text        NOT NULL CHECK (surface_hash <> ''),
    input_hash         text        NOT NULL CHECK (input_hash <> ''),
    generator_version  text        NOT NULL,
    change             text        NOT NULL,
    surface            jsonb       NOT NULL,
    input              bytea       NOT NULL,
    revision           bigint      NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment, major, minor, patch)
);

-- Which version of the line each catalogue revision (and generator) gives,
-- so a request at an unchanged revision compares nothing again.
CREATE TABLE registry.langpack_version_checks (
    environment        text    NOT NULL,
    revision           bigint  NOT NULL,
    generator_version  text    NOT NULL,
    major              integer NOT NULL,
    minor              bigint  NOT NULL,
    patch              integer NOT NULL,
    PRIMARY KEY (environment, revision, generator_version),
    FOREIGN KEY (environment, major, minor, patch) REFERENCES registry.langpack_versions (environment, major, minor, patch)
);

-- +goose StatementBegin
CREATE FUNCTION registry.langpack_versions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'langpack version %.%.% of % is immutable: a version number names one content for good',
        OLD.major, OLD.minor, OLD.patch, OLD.environment;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER langpack_versions_immutable
    BEFORE UPDATE OR DELETE ON registry.langpack_versions
    FOR EACH ROW EXECUTE FUNCTION registry.langpack_versions_guard();

CREATE TRIGGER langpack_versions_no_truncate
    BEFORE TRUNCATE ON registry.langpack_versions
    FOR EACH STATEMENT EXECUTE FUNCTION registry.langpacks_no_truncate();

-- The stored packs are keyed by the semantic version. Packs stored before
-- (version N of one language, package version 1.N.0) keep their bytes and
-- are that language's version 1.N.0; they belong to no line.
DROP TABLE registry.langpack_checks;
ALTER TABLE registry.langpacks
    ADD COLUMN major integer NOT NULL DEFAULT 1,
    ADD COLUMN minor bigint,
    ADD COLUMN patch integer NOT NULL DEFAULT 0;
ALTER TABLE registry.langpacks DISABLE TRIGGER langpacks_immutable;
UPDATE registry.langpacks SET minor = version;
ALTER TABLE registry.langpacks ENABLE TRIGGER langpacks_immutable;
ALTER TABLE registry.langpacks
    ALTER COLUMN minor SET NOT NULL,
    ALTER COLUMN major DROP DEFAULT,
    ALTER COLUMN patch DROP DEFAULT,
    DROP CONSTRAINT langpacks_pkey,
    DROP COLUMN version,
    ADD PRIMARY KEY (language, environment, major, minor, patch);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION registry.langpacks_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'langpack % % %.%.% is immutable; generate a new version instead',
        OLD.language, OLD.environment, OLD.major, OLD.minor, OLD.patch;
END;
$$;
-- +goose StatementEnd

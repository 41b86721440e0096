-- +goose Up
-- What the registry builds from a stored langpack version with a tool of its
-- host (kind 'jar': the Java jar of classes, compiled with the host's JDK):
-- stored on its first build and served from then on, so a restart, another
-- registry instance or a JDK upgrade never gives a version other bytes.
-- A row never changes and is never deleted.
CREATE TABLE registry.langpack_builds (
    language     text        NOT NULL,
    environment  text        NOT NULL,
    major        integer     NOT NULL,
    minor        bigint      NOT NULL,
    patch        integer     NOT NULL,
    kind         text        NOT NULL CHECK (kind <> ''),
    data         bytea       NOT NULL,
    tool         text        NOT NULL, -- what built it, e.g. "javac 17.0.15"
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (language, environment, major, minor, patch, kind),
    FOREIGN KEY (language, environment, major, minor, patch)
        REFERENCES registry.langpacks (language, environment, major, minor, patch)
);

CREATE TRIGGER langpack_builds_immutable
    BEFORE UPDATE OR DELETE ON registry.langpack_builds
    FOR EACH ROW EXECUTE FUNCTION registry.langpacks_guard();

CREATE TRIGGER langpack_builds_no_truncate
    BEFORE TRUNCATE ON registry.langpack_builds
    FOR EACH STATEMENT EXECUTE FUNCTION registry.langpacks_no_truncate();

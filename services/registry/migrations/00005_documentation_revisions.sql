-- +goose Up
-- A push may change what documents a registered version (descriptions, pii,
-- loosening required) without changing its shape: the version stays, with a
-- new documentation revision, the push that last changed its documentation.
-- NULL until one does. The immutability trigger still guards the shape.
ALTER TABLE registry.event_versions
    ADD COLUMN docs_revision bigint REFERENCES registry.revisions (revision);

-- +goose Up
-- Where a backfill stands in the EVENTS stream, so that one interrupted by a
-- restart resumes after the last batch it recorded instead of starting over.

ALTER TABLE awards.backfills
    -- The sources replayed (event names without version), fixed at the start.
    ADD COLUMN sources   text[] NOT NULL DEFAULT '{}',
    -- The stream's last sequence when the backfill started: it replays up
    -- to there; live consumers handle what came after.
    ADD COLUMN last_seq  bigint NOT NULL DEFAULT 0,
    -- The last stream sequence replayed (0 before the first batch).
    ADD COLUMN position  bigint NOT NULL DEFAULT 0;

CREATE INDEX backfills_running ON awards.backfills (id) WHERE state = 'running';

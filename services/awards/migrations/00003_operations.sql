-- +goose Up
-- Operating the engine: notification delivery, backfills, paused sources.

-- Backfills replay EVENTS from a time through the engine. Their progress is
-- here for the API and the CLI.
CREATE TABLE awards.backfills (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    achievement_id text        NOT NULL DEFAULT '',
    from_time      timestamptz NOT NULL,
    state          text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    total          bigint      NOT NULL DEFAULT 0,
    done           bigint      NOT NULL DEFAULT 0,
    skipped        bigint      NOT NULL DEFAULT 0,
    error          text        NOT NULL DEFAULT '',
    notify         boolean     NOT NULL DEFAULT false,
    actor          text        NOT NULL DEFAULT '',
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);

-- The backfill that last wrote a user objective (NULL for live
-- processing), so that grants a backfill causes are marked.
ALTER TABLE awards.user_objectives ADD COLUMN backfill_id bigint;

-- Delivery of each outbox row to each channel (webhook, bus). A row is
-- delivered at most once per channel: delivered_at is set in the
-- transaction that records the successful attempt, and receivers get the
-- notification id to deduplicate on.
ALTER TABLE awards.outbox
    ADD COLUMN backfill_id bigint REFERENCES awards.backfills (id),
    ADD COLUMN suppressed  boolean NOT NULL DEFAULT false;

-- A user is notified of an achievement's grant (or revocation) once.
CREATE INDEX outbox_notified ON awards.outbox (user_id, achievement_id, kind);

CREATE TABLE awards.deliveries (
    outbox_id       bigint      NOT NULL REFERENCES awards.outbox (id),
    channel         text        NOT NULL CHECK (channel IN ('webhook', 'bus')),
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'parked', 'suppressed')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    PRIMARY KEY (outbox_id, channel)
);
CREATE INDEX deliveries_due ON awards.deliveries (channel, next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_state ON awards.deliveries (state, outbox_id);

-- Sources an operator paused; a source without a row is consumed.
CREATE TABLE awards.sources (
    name       text        PRIMARY KEY,
    paused     boolean     NOT NULL DEFAULT false,
    actor      text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

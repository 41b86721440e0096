-- +goose Up
-- The awards engine: achievements configured with objectives (filters and
-- one rule each) and a strategy; users; per-user counters with a global
-- version sequence; the contribution ledger; the processing log; the
-- configuration history and the notification outbox.

-- Achievements gain their configuration. goal is the strategy root's goal.
-- An achievement whose configuration cannot be used is disabled with the
-- reason instead of stopping the engine.
ALTER TABLE awards.achievements
    ADD COLUMN strategy        jsonb,
    ADD COLUMN policy          text        NOT NULL DEFAULT 'sticky' CHECK (policy IN ('sticky', 'revocable')),
    ADD COLUMN starts_at       timestamptz,
    ADD COLUMN ends_at         timestamptz,
    ADD COLUMN config_version  integer     NOT NULL DEFAULT 0,
    ADD COLUMN disabled_reason text        NOT NULL DEFAULT '',
    ADD CONSTRAINT achievements_period CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at);

-- An objective belongs to one achievement and is known there by its key
-- ("photo"). It consumes events of its sources (event names without
-- version, e.g. PhotoStatusChanged), keeps those its filters match and
-- applies its rule. Objectives removed from a configuration stay, inactive,
-- so counters and ledger entries keep their meaning.
CREATE TABLE awards.objectives (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    achievement_id text        NOT NULL REFERENCES awards.achievements (id),
    key            text        NOT NULL CHECK (key ~ '^[a-z0-9][a-z0-9_-]*$'),
    sources        text[]      NOT NULL CHECK (cardinality(sources) > 0),
    filters        jsonb       NOT NULL DEFAULT '[]',
    rule           jsonb       NOT NULL,
    active         boolean     NOT NULL DEFAULT true,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (achievement_id, key)
);

-- Users the engine knows a status of. A user without a row is active: the
-- table holds the exceptions (deleted, banned) and explicit reactivations.
CREATE TABLE awards.users (
    user_id    text        PRIMARY KEY,
    status     text        NOT NULL CHECK (status IN ('active', 'deleted', 'banned')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The tables below take a row (or several) per event, so they carry no
-- foreign keys: a key check per row would cost more than the row. Their
-- objective ids are safe without: objectives are never deleted, only
-- deactivated.

-- Every write of a user objective takes the next value: the achievements
-- worker finds what changed by this number.
CREATE SEQUENCE awards.progress_version_seq AS bigint;

CREATE TABLE awards.user_objectives (
    user_id      text             NOT NULL,
    objective_id bigint           NOT NULL,
    counters     jsonb            NOT NULL DEFAULT '{}',
    progress     double precision NOT NULL DEFAULT 0,
    version      bigint           NOT NULL DEFAULT nextval('awards.progress_version_seq'),
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, objective_id)
);
CREATE INDEX user_objectives_version ON awards.user_objectives (version);

-- The contribution ledger: what each piece of content currently adds to a
-- user's objective. Summing a user's entries recomputes the counters.
CREATE TABLE awards.contributions (
    user_id      text             NOT NULL,
    objective_id bigint           NOT NULL,
    content_id   text             NOT NULL,
    item_id      text             NOT NULL DEFAULT '',
    status       text             NOT NULL DEFAULT '',
    value        double precision NOT NULL DEFAULT 0,
    occurred_at  timestamptz,
    record_id    text             NOT NULL DEFAULT '',
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, objective_id, content_id)
);

-- What happened to each event for each objective whose sources it belongs
-- to: applied (with the delta and the counters after), filtered (by which
-- filter), or without the content id the rule needs. Unique per event and
-- objective (an event has one user), so a redelivered event changes
-- nothing; the key also serves "the log of a user's objective".
CREATE TABLE awards.processing_log (
    user_id      text        NOT NULL,
    objective_id bigint      NOT NULL,
    record_id    text        NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('applied', 'unchanged', 'filtered', 'no_content')),
    filter       text        NOT NULL DEFAULT '',
    content_id   text        NOT NULL DEFAULT '',
    delta        json,
    counters     json,
    occurred_at  timestamptz,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, objective_id, record_id)
);

-- Every saved configuration of an achievement, with author and time.
CREATE TABLE awards.config_history (
    achievement_id text        NOT NULL REFERENCES awards.achievements (id),
    version        integer     NOT NULL,
    author         text        NOT NULL,
    config         jsonb       NOT NULL,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (achievement_id, version)
);

-- user_achievements.version is the highest objective version folded in.
CREATE INDEX user_achievements_completed ON awards.user_achievements (achievement_id) WHERE completed_at IS NOT NULL;

-- Notifications to deliver, written in the transaction that grants or
-- revokes (delivery is a separate worker).
CREATE TABLE awards.outbox (
    id             bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text             NOT NULL CHECK (kind IN ('granted', 'revoked', 'announced')),
    user_id        text             NOT NULL DEFAULT '',
    achievement_id text             NOT NULL REFERENCES awards.achievements (id),
    progress       double precision NOT NULL DEFAULT 0,
    goal           double precision NOT NULL DEFAULT 0,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    delivered_at   timestamptz
);
CREATE INDEX outbox_pending ON awards.outbox (id) WHERE delivered_at IS NULL;

-- Where each background worker stands, e.g. the achievements worker's
-- version cursor.
CREATE TABLE awards.worker_cursors (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

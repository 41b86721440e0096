-- +goose Up
-- Achievements users can earn, and each user's progress in them. The full
-- model (objectives, counters, ledger, strategies) grows from here.
CREATE TABLE awards.achievements (
    id           text             PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]*$'),
    title        text             NOT NULL,
    description  text             NOT NULL DEFAULT '',
    image_url    text             NOT NULL DEFAULT '',
    goal         double precision NOT NULL CHECK (goal > 0),
    active       boolean          NOT NULL DEFAULT true,
    created_at   timestamptz      NOT NULL DEFAULT now(),
    updated_at   timestamptz      NOT NULL DEFAULT now()
);

CREATE TABLE awards.user_achievements (
    user_id         text             NOT NULL,
    achievement_id  text             NOT NULL REFERENCES awards.achievements (id),
    progress        double precision NOT NULL DEFAULT 0 CHECK (progress >= 0),
    goal            double precision NOT NULL,
    started_at      timestamptz      NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    version         bigint           NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, achievement_id)
);

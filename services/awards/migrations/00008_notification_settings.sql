-- +goose Up
-- Which award notifications each user receives. A user without a row
-- receives every one (mode 'all'). Users set their own through the public
-- API; operators set them on a user's behalf through the admin API.
CREATE TABLE awards.notification_settings (
    user_id    text        PRIMARY KEY,
    -- all: grants, revocations and announcements; no_announcements: grants
    -- and revocations only; none: nothing.
    mode       text        NOT NULL CHECK (mode IN ('all', 'no_announcements', 'none')),
    -- "user", or "operator <actor>".
    updated_by text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A delivery to a user who opted out of it is skipped: recorded with the
-- reason in last_error, never sent.
ALTER TABLE awards.deliveries
    DROP CONSTRAINT deliveries_state_check,
    ADD CONSTRAINT deliveries_state_check
        CHECK (state IN ('pending', 'delivered', 'parked', 'suppressed', 'skipped'));

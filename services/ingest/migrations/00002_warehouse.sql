-- +goose Up
-- The warehouse: every accepted event as the EVENTS stream carries it, one
-- partition per UTC day of received_at. The warehouse consumer creates each
-- day's partition before it copies into it
-- (ingest.events_YYYYMMDD PARTITION OF ingest.events FOR VALUES FROM day TO
-- next day). (id, received_at) is the key: an event redelivered by the bus
-- carries the same id and received_at and is stored once.
CREATE TABLE ingest.events (
    id          text        NOT NULL,
    event_id    integer     NOT NULL,
    version     integer     NOT NULL,
    event_name  text        NOT NULL,
    environment text        NOT NULL,
    user_id     text        NOT NULL DEFAULT '',
    occurred_at timestamptz,
    received_at timestamptz NOT NULL,
    key_id      text        NOT NULL DEFAULT '',
    payload     bytea       NOT NULL,
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);

-- Reports: counts per hour, event version and environment.
CREATE INDEX events_received_at_event ON ingest.events (received_at, event_id, environment);

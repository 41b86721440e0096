-- +goose Up
-- The catalogue of the typed tables: one per event, created by the loader
-- when it meets the event's first version (warehouse.<table_name>, daily
-- partitions warehouse.<table_name>_pYYYYMMDD on received_at).
CREATE TABLE warehouse.event_tables (
    event_id        integer     PRIMARY KEY,
    table_name      text        NOT NULL UNIQUE,
    -- The event's name without version, e.g. "ItemView".
    subject         text        NOT NULL,
    -- The protobuf package of its messages, e.g. "clickstream.events.v1":
    -- the message of version N is <package>.<subject>V<N>.
    message_package text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Up
-- The order of one content item's status changes: event time when both
-- events carry one and they differ, otherwise the order on the bus. seq is
-- the EVENTS stream sequence of the event that set the entry (NULL when
-- unknown: entries written before this migration, events applied without
-- their bus position). items holds, under UniqueByObjectRule, the last
-- status of each of the user's items of the object (a place counts while
-- at least one of its items is counted), each with the event that set it.
ALTER TABLE awards.contributions
    ADD COLUMN seq   bigint,
    ADD COLUMN items jsonb;

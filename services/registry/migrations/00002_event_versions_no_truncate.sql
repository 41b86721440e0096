-- +goose Up
-- TRUNCATE skips row triggers, so event_versions_immutable alone does not keep
-- versions from being deleted: refuse TRUNCATE with a statement trigger.
-- +goose StatementBegin
CREATE FUNCTION registry.event_versions_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event versions cannot be deleted; retire them instead';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER event_versions_no_truncate
    BEFORE TRUNCATE ON registry.event_versions
    FOR EACH STATEMENT EXECUTE FUNCTION registry.event_versions_no_truncate();

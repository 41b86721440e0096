-- +goose Up
-- A counter of configuration changes, so that an instance notices before
-- applying a batch that another instance saved (or disabled) an
-- achievement since it loaded its configuration, and reloads first:
-- otherwise its batches would not count for a new objective until its next
-- periodic reload. Every row written to awards.achievements or
-- awards.objectives moves it, whatever wrote the row.
CREATE TABLE awards.config_generation (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    generation bigint  NOT NULL DEFAULT 0
);
INSERT INTO awards.config_generation DEFAULT VALUES;

-- +goose StatementBegin
CREATE FUNCTION awards.next_config_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE awards.config_generation SET generation = generation + 1;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER achievements_config_generation AFTER INSERT OR UPDATE OR DELETE ON awards.achievements
    FOR EACH ROW EXECUTE FUNCTION awards.next_config_generation();
CREATE TRIGGER objectives_config_generation AFTER INSERT OR UPDATE OR DELETE ON awards.objectives
    FOR EACH ROW EXECUTE FUNCTION awards.next_config_generation();

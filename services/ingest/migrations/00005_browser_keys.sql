-- +goose Up
-- Browser keys: a kind of API key safe to ship in a page, bound to the
-- origins it may send from (CORS, beacons). Existing keys are server keys.
ALTER TABLE ingest.api_keys
  ADD COLUMN kind text NOT NULL DEFAULT 'server' CHECK (kind IN ('server', 'browser')),
  ADD COLUMN allowed_origins text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE ingest.api_keys DROP COLUMN kind, DROP COLUMN allowed_origins;

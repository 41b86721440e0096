-- +goose Up
-- A pull subscription's own token, which Subscribe and AckEvents take
-- instead of the admin token for that subscription only. Only its SHA-256
-- is kept (the token, 32 random bytes, is shown once); NULL for webhook and
-- durable subscriptions. Rotating it replaces the hash.
ALTER TABLE ingest.subscriptions ADD COLUMN token_hash bytea UNIQUE;

-- +goose Down
ALTER TABLE ingest.subscriptions DROP COLUMN token_hash;

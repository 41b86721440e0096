-- +goose Up
-- API keys: each binds its caller to one environment. Only the SHA-256 of
-- the secret is kept; the secret itself is shown once, at creation.
CREATE TABLE ingest.api_keys (
    id           text        PRIMARY KEY,
    environment  text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    secret_hash  bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL DEFAULT '',
    revoked_at   timestamptz,
    revoked_by   text
);

CREATE INDEX api_keys_environment ON ingest.api_keys (environment, created_at);

-- +goose Down
DROP TABLE ingest.api_keys;

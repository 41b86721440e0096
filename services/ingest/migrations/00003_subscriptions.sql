-- +goose Up
-- Subscriptions (consumers on request): a team's chosen events, delivered
-- by pull stream, webhook or a plain JetStream durable consumer. Each is
-- backed by the durable consumer named in "consumer" on the EVENTS stream;
-- this table is what the consumer was made from and how it is delivered.
CREATE TABLE ingest.subscriptions (
    name            text        PRIMARY KEY,
    owner_team      text        NOT NULL,
    -- [{"name": "PhotoStatusChanged", "versions": [1, 2]}, ...]
    events          jsonb       NOT NULL,
    -- Empty for every environment.
    environments    text[]      NOT NULL DEFAULT '{}',
    delivery        text        NOT NULL CHECK (delivery IN ('pull', 'webhook', 'durable')),
    format          text        NOT NULL CHECK (format IN ('json', 'binary')),
    consumer        text        NOT NULL UNIQUE,
    webhook_url     text        NOT NULL DEFAULT '',
    -- The HMAC-SHA256 key the webhook's requests are signed with; it must
    -- be kept to sign, so it is stored as is (shown once at creation).
    webhook_secret  text        NOT NULL DEFAULT '',
    max_failures    integer     NOT NULL DEFAULT 0,
    state           text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'parked')),
    parked_reason   text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text        NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      text        NOT NULL DEFAULT ''
);

CREATE INDEX subscriptions_owner_team ON ingest.subscriptions (owner_team, name);

-- +goose Down
DROP TABLE ingest.subscriptions;

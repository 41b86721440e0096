-- +goose Up
-- The processing log takes a row per event and objective and is only read
-- for recent history (explain, the admin log, a backfill's skip check), so
-- it is kept for a retention period: it becomes partitioned by month of
-- processed_at (UTC), and the service creates the coming months' partitions
-- and drops the months older than the retention (LogMaintenance).
--
-- A primary key of a partitioned table must hold the partition key, so the
-- key becomes (user_id, objective_id, record_id, processed_at). It is still
-- what makes a redelivered event change nothing within the retained months:
-- writers look the (user, objective, record) prefix up under the user
-- objective's lock before they write. Beyond the retention, redelivery is
-- harmless without it: every rule's ledger entry (by content id, or by
-- record id for events that cannot be undone) already holds the event.
--
-- Rows whose month has no partition (none are expected: the service creates
-- them ahead) land in processing_log_default; creating the month's
-- partition later moves them there.

ALTER TABLE awards.processing_log RENAME TO processing_log_unpartitioned;
ALTER INDEX awards.processing_log_pkey RENAME TO processing_log_unpartitioned_pkey;

CREATE TABLE awards.processing_log (
    user_id      text        NOT NULL,
    objective_id bigint      NOT NULL,
    record_id    text        NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('applied', 'unchanged', 'filtered', 'no_content')),
    filter       text        NOT NULL DEFAULT '',
    content_id   text        NOT NULL DEFAULT '',
    delta        json,
    counters     json,
    occurred_at  timestamptz,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, objective_id, record_id, processed_at)
) PARTITION BY RANGE (processed_at);

CREATE TABLE awards.processing_log_default PARTITION OF awards.processing_log DEFAULT;

-- A partition per month from the oldest row's to the next month, named
-- processing_log_YYYY_MM (the name the service reads the month from).
-- +goose StatementBegin
DO $$
DECLARE
    first timestamp;
    month timestamp;
BEGIN
    SELECT date_trunc('month', min(processed_at) AT TIME ZONE 'UTC') INTO first
    FROM awards.processing_log_unpartitioned;
    first := least(coalesce(first, 'infinity'), date_trunc('month', now() AT TIME ZONE 'UTC'));
    month := first;
    WHILE month <= date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month' LOOP
        EXECUTE format('CREATE TABLE awards.%I PARTITION OF awards.processing_log FOR VALUES FROM (%L) TO (%L)',
            'processing_log_' || to_char(month, 'YYYY_MM'),
            (month AT TIME ZONE 'UTC'), ((month + interval '1 month') AT TIME ZONE 'UTC'));
        month := month + interval '1 month';
    END LOOP;
END
$$;
-- +goose StatementEnd

INSERT INTO awards.processing_log (user_id, objective_id, record_id, outcome, filter, content_id, delta, counters, occurred_at, processed_at)
SELECT user_id, objective_id, record_id, outcome, filter, content_id, delta, counters, occurred_at, processed_at
FROM awards.processing_log_unpartitioned;

DROP TABLE awards.processing_log_unpartitioned;

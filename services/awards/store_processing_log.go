package awards

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// The processing log is partitioned by month of processed_at (UTC): one
// partition per month, named processing_log_YYYY_MM, and a default
// partition for rows of a month without one (see migration 00005).

// logPartitionLockTimeout bounds the wait for the table locks partition
// DDL takes, so that maintenance never queues the engine's writers behind
// a long reader; it tries again at its next round.
const logPartitionLockTimeout = "10s"

var logPartitionName = regexp.MustCompile(`^processing_log_([0-9]{4})_([0-9]{2})$`)

const (
	sqlLogPartitions = `
		SELECT c.relname FROM pg_catalog.pg_inherits i
		JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'awards.processing_log'::regclass`
	sqlLogLockTimeout = `SET LOCAL lock_timeout = '` + logPartitionLockTimeout + `'`
	logColumns        = `user_id, objective_id, record_id, outcome, filter, content_id, delta, counters, occurred_at, processed_at`
)

// monthStart is the first instant of t's month in UTC.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// logPartition names the processing log partition of month's month.
func logPartition(month time.Time) string {
	return monthStart(month).Format("processing_log_2006_01")
}

// logPartitionMonth is the month a partition name stands for; false for
// the default partition and any name not of the monthly form.
func logPartitionMonth(name string) (time.Time, bool) {
	m := logPartitionName.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	year, _ := strconv.Atoi(m[1])
	month, _ := strconv.Atoi(m[2])
	if month < 1 || month > 12 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC), true
}

// LogPartitions lists the monthly partitions of the processing log by
// name, oldest first (the default partition is not listed).
func (s *PostgresStore) LogPartitions(ctx context.Context) (out []string, err error) {
	defer derrors.Wrap(&err, "list processing log partitions")
	return s.logPartitions(ctx, s.pool)
}

func (s *PostgresStore) logPartitions(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]string, error) {
	rows, err := q.Query(ctx, sqlLogPartitions)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(names, func(n string) bool { _, ok := logPartitionMonth(n); return !ok })
	slices.Sort(names) // the names sort as their months
	return names, nil
}

// CreateLogPartitions makes sure the processing log has a partition for
// every month from from's to to's (UTC) and returns those it created. Rows
// the default partition holds for a month are moved into its new
// partition.
func (s *PostgresStore) CreateLogPartitions(ctx context.Context, from, to time.Time) (created []string, err error) {
	defer derrors.Wrap(&err, "create processing log partitions from %s to %s", from.UTC().Format("2006-01"), to.UTC().Format("2006-01"))
	existing, err := s.LogPartitions(ctx)
	if err != nil {
		return nil, err
	}
	for month := monthStart(from); !month.After(to); month = month.AddDate(0, 1, 0) {
		name := logPartition(month)
		if slices.Contains(existing, name) {
			continue
		}
		ok, err := s.createLogPartition(ctx, month)
		if err != nil {
			return created, err
		}
		if ok {
			created = append(created, name)
		}
	}
	return created, nil
}

// createLogPartition creates month's partition as a table of its own,
// moves the default partition's rows of that month into it and attaches
// it, in one transaction; false when another process created it first.
func (s *PostgresStore) createLogPartition(ctx context.Context, month time.Time) (created bool, err error) {
	name := logPartition(month)
	table := pgx.Identifier{"awards", name}.Sanitize()
	from, to := month, month.AddDate(0, 1, 0)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlXactLock, int32(lockClassLogPartitions)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlLogLockTimeout); err != nil {
			return err
		}
		names, err := s.logPartitions(ctx, tx)
		if err != nil {
			return err
		}
		if slices.Contains(names, name) {
			return nil
		}
		stmts := []string{
			`CREATE TABLE ` + table + ` (LIKE awards.processing_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
			`WITH moved AS (
				DELETE FROM awards.processing_log_default WHERE processed_at >= $1 AND processed_at < $2
				RETURNING ` + logColumns + `)
			INSERT INTO ` + table + ` (` + logColumns + `) SELECT ` + logColumns + ` FROM moved`,
			`ALTER TABLE awards.processing_log ATTACH PARTITION ` + table +
				` FOR VALUES FROM ('` + from.Format(time.RFC3339) + `') TO ('` + to.Format(time.RFC3339) + `')`,
		}
		for i, stmt := range stmts {
			var args []any
			if i == 1 {
				args = []any{from, to}
			}
			if _, err := tx.Exec(ctx, stmt, args...); err != nil {
				return fmt.Errorf("partition %s: %w", name, err)
			}
		}
		created = true
		return nil
	})
	return created, err
}

// DropLogPartitions drops the processing log's months that lie entirely
// before cutoff, and deletes the default partition's rows of those months;
// it returns the partitions dropped.
func (s *PostgresStore) DropLogPartitions(ctx context.Context, cutoff time.Time) (dropped []string, err error) {
	defer derrors.Wrap(&err, "drop processing log partitions before %s", cutoff.UTC().Format(time.RFC3339))
	// A month ends at or before cutoff exactly when it starts before
	// cutoff's month.
	before := monthStart(cutoff)
	names, err := s.LogPartitions(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		month, _ := logPartitionMonth(name)
		if !month.Before(before) {
			continue
		}
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, sqlXactLock, int32(lockClassLogPartitions)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, sqlLogLockTimeout); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{"awards", name}.Sanitize())
			return err
		})
		if err != nil {
			return dropped, fmt.Errorf("partition %s: %w", name, err)
		}
		dropped = append(dropped, name)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM awards.processing_log_default WHERE processed_at < $1`, before); err != nil {
		return dropped, fmt.Errorf("default partition: %w", err)
	}
	return dropped, nil
}

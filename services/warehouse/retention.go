package warehouse

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// RetentionInterval is how often RunRetention looks for old partitions.
const RetentionInterval = time.Hour

// RunRetention drops, every RetentionInterval until ctx is done, the daily
// partitions whose whole day is older than retention, and the same days of
// the Parquet lake when there is one (lake may be nil). The tables and the
// lake keep everything unless it runs (the default): the streams' days are
// for replay, the tables and the lake for analysis.
func RunRetention(ctx context.Context, store *PostgresStore, lake *Lake, retention time.Duration, log *slog.Logger) error {
	for {
		cutoff := time.Now().Add(-retention)
		dropped, err := store.DropPartitionsBefore(ctx, cutoff)
		if err != nil && ctx.Err() == nil {
			log.Warn("warehouse retention", "err", err)
		}
		if len(dropped) > 0 {
			log.Info("warehouse retention: dropped partitions", "partitions", dropped, "retention", retention)
		}
		if lake != nil {
			days, err := lake.DropDaysBefore(cutoff)
			if err != nil {
				log.Warn("warehouse retention: lake", "err", err)
			}
			if len(days) > 0 {
				log.Info("warehouse retention: dropped lake days", "dirs", days, "retention", retention)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(RetentionInterval):
		}
	}
}

var partitionUpper = regexp.MustCompile(`TO \('([^']+)'\)`)

// DropPartitionsBefore drops the partitions of the typed tables whose upper
// bound is at or before cutoff, and returns their names.
func (s *PostgresStore) DropPartitionsBefore(ctx context.Context, cutoff time.Time) (dropped []string, err error) {
	defer derrors.Wrap(&err, "drop warehouse partitions before %s", cutoff.Format(time.RFC3339))
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL TimeZone = 'UTC'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, ddlLock); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM warehouse.event_tables t
JOIN pg_inherits i ON i.inhparent = to_regclass('warehouse.' || quote_ident(t.table_name))
JOIN pg_class c ON c.oid = i.inhrelid`)
		if err != nil {
			return err
		}
		type part struct{ name, bound string }
		parts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (part, error) {
			var p part
			return p, row.Scan(&p.name, &p.bound)
		})
		if err != nil {
			return err
		}
		for _, p := range parts {
			m := partitionUpper.FindStringSubmatch(p.bound)
			if m == nil {
				continue
			}
			upper, err := time.Parse("2006-01-02 15:04:05-07", m[1])
			if err != nil {
				return fmt.Errorf("partition %s bound %q: %w", p.name, p.bound, err)
			}
			if upper.After(cutoff) {
				continue
			}
			if _, err := tx.Exec(ctx, `DROP TABLE `+qualified(p.name)); err != nil {
				return err
			}
			dropped = append(dropped, p.name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.days = map[string]bool{}
	s.mu.Unlock()
	return dropped, nil
}

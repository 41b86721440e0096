package ingest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StoredEvent is one accepted event as the warehouse keeps it.
type StoredEvent struct {
	ID          string
	EventID     uint32
	Version     uint32
	EventName   string
	Environment string
	UserID      string
	// OccurredAt is zero when the client did not say.
	OccurredAt time.Time
	ReceivedAt time.Time
	KeyID      string
	Payload    []byte
}

// HourlyQuery asks for event counts over [From, To).
type HourlyQuery struct {
	From, To time.Time
	// EventID 0 means every event.
	EventID uint32
	// Environment "" means every environment.
	Environment string
}

// HourlyCount is how many events of one version one environment sent in
// one hour.
type HourlyCount struct {
	Hour        time.Time
	Environment string
	EventID     uint32
	Version     uint32
	EventName   string
	Count       int64
}

// WarehouseStore keeps accepted events for reports.
type WarehouseStore interface {
	// WriteEvents stores events in one transaction. It is idempotent: an
	// event already stored (same id and received_at) is skipped.
	WriteEvents(ctx context.Context, events []StoredEvent) error
	// HourlyCounts answers q, ordered by hour, environment, event and version.
	HourlyCounts(ctx context.Context, q HourlyQuery) ([]HourlyCount, error)
}

// PostgresWarehouse is the WarehouseStore on PostgreSQL: table ingest.events,
// range-partitioned by UTC day of received_at.
type PostgresWarehouse struct {
	pool *pgxpool.Pool

	mu sync.Mutex
	// days holds the partitions known to exist, by UTC day start.
	days map[time.Time]bool
}

var _ WarehouseStore = (*PostgresWarehouse)(nil)

// NewPostgresWarehouse returns the warehouse store on pool.
func NewPostgresWarehouse(pool *pgxpool.Pool) *PostgresWarehouse {
	return &PostgresWarehouse{pool: pool, days: map[time.Time]bool{}}
}

// warehouseColumns are the columns of ingest.events, in copy order.
var warehouseColumns = []string{"id", "event_id", "version", "event_name", "environment", "user_id", "occurred_at", "received_at", "key_id", "payload"}

const (
	// The staging table takes the COPY; the insert from it skips events
	// stored already, so a redelivered batch is harmless.
	createStaging   = `CREATE TEMP TABLE warehouse_staging (LIKE ingest.events INCLUDING DEFAULTS) ON COMMIT DROP`
	insertFromStage = `INSERT INTO ingest.events SELECT * FROM warehouse_staging ON CONFLICT DO NOTHING`
	// partitionLock serializes partition creation between warehouses.
	partitionLock = `SELECT pg_advisory_xact_lock(hashtext('ingest.events partitions'))`
	hourlyCounts  = `
SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AS hour, environment, event_id, version, event_name, count(*)
FROM ingest.events
WHERE received_at >= $1 AND received_at < $2
  AND ($3 = 0 OR event_id = $3)
  AND ($4 = '' OR environment = $4)
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 2, 3, 4, 5`
)

// WriteEvents implements WarehouseStore.
func (w *PostgresWarehouse) WriteEvents(ctx context.Context, events []StoredEvent) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("store %d events in the warehouse: %w", len(events), err)
		}
	}()
	if len(events) == 0 {
		return nil
	}
	if err := w.ensurePartitions(ctx, events); err != nil {
		return err
	}
	rows := make([][]any, len(events))
	for i, e := range events {
		var occurred any
		if !e.OccurredAt.IsZero() {
			occurred = e.OccurredAt
		}
		rows[i] = []any{e.ID, int32(e.EventID), int32(e.Version), e.EventName, e.Environment, e.UserID, occurred, e.ReceivedAt, e.KeyID, e.Payload}
	}
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, createStaging); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"warehouse_staging"}, warehouseColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if _, err := tx.Exec(ctx, insertFromStage); err != nil {
			return fmt.Errorf("insert from staging: %w", err)
		}
		return nil
	})
}

// day is the UTC day t falls in.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// ensurePartitions creates the partitions of the days events fall in that
// this store has not seen yet.
func (w *PostgresWarehouse) ensurePartitions(ctx context.Context, events []StoredEvent) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var missing []time.Time
	seen := map[time.Time]bool{}
	for _, e := range events {
		d := day(e.ReceivedAt)
		if !w.days[d] && !seen[d] {
			seen[d] = true
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, partitionLock); err != nil {
			return err
		}
		for _, d := range missing {
			name := pgx.Identifier{"ingest", "events_" + d.Format("20060102")}.Sanitize()
			sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF ingest.events FOR VALUES FROM ('%s') TO ('%s')`,
				name, d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339))
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("create partition for %s: %w", d.Format(time.DateOnly), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range missing {
		w.days[d] = true
	}
	return nil
}

// HourlyCounts implements WarehouseStore.
func (w *PostgresWarehouse) HourlyCounts(ctx context.Context, q HourlyQuery) ([]HourlyCount, error) {
	rows, err := w.pool.Query(ctx, hourlyCounts, q.From, q.To, int64(q.EventID), q.Environment)
	if err != nil {
		return nil, fmt.Errorf("hourly counts [%s, %s): %w", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HourlyCount, error) {
		var c HourlyCount
		var id, version int32
		err := row.Scan(&c.Hour, &c.Environment, &id, &version, &c.EventName, &c.Count)
		c.Hour = time.Date(c.Hour.Year(), c.Hour.Month(), c.Hour.Day(), c.Hour.Hour(), 0, 0, 0, time.UTC)
		c.EventID, c.Version = uint32(id), uint32(version)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("hourly counts [%s, %s): %w", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), err)
	}
	return out, nil
}

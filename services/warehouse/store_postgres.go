package warehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// Store keeps the typed tables.
type Store interface {
	// EnsureTable creates the table of t when missing, adds the columns it
	// lacks (never drops or changes one) and sets their comments. It may
	// rename t (Name) when another event holds the name already, and keeps
	// the name the event's table was created with.
	EnsureTable(ctx context.Context, t *Table) error
	// WriteRows stores rows in one transaction; a row whose event is
	// stored already (same event_id and received_at) is skipped.
	WriteRows(ctx context.Context, rows []Row) error
}

// PostgresStore is the Store on PostgreSQL, schema warehouse.
type PostgresStore struct {
	pool *pgxpool.Pool

	mu sync.Mutex
	// ensured is how many field columns each table is known to have.
	ensured map[uint32]int
	names   map[uint32]string
	// days holds the partitions known to exist: table name + day.
	days map[string]bool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns the store on pool.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore {
	return &PostgresStore{pool: pool, ensured: map[uint32]int{}, names: map[uint32]string{}, days: map[string]bool{}}
}

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// ddlLock serializes table and partition changes between loaders.
const ddlLock = `SELECT pg_advisory_xact_lock(hashtext('warehouse ddl'))`

func qualified(name string) string { return pgx.Identifier{"warehouse", name}.Sanitize() }

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// EnsureTable implements Store.
func (s *PostgresStore) EnsureTable(ctx context.Context, t *Table) (err error) {
	defer derrors.Wrap(&err, "ensure table of event %d (%s)", t.EventID, t.Subject)
	s.mu.Lock()
	defer s.mu.Unlock()
	if name, ok := s.names[t.EventID]; ok && s.ensured[t.EventID] >= len(t.Columns) {
		t.Name = name
		return nil
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, ddlLock); err != nil {
			return err
		}
		var name string
		err := tx.QueryRow(ctx, `SELECT table_name FROM warehouse.event_tables WHERE event_id = $1`, int32(t.EventID)).Scan(&name)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			rows, err := tx.Query(ctx, `SELECT table_name FROM warehouse.event_tables`)
			if err != nil {
				return err
			}
			names, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			taken := map[string]bool{"event_tables": true, "goose_db_version": true}
			for _, n := range names {
				taken[n] = true
			}
			name = freeName(t.Name, taken)
			if err := createTable(ctx, tx, name); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO warehouse.event_tables (event_id, table_name, subject, message_package) VALUES ($1, $2, $3, $4)`,
				int32(t.EventID), name, t.Subject, t.Package); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		t.Name = name
		for _, c := range t.Columns {
			sql := fmt.Sprintf(`ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s`, qualified(name), ident(c.Name), c.Type)
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("add column %s (%s, field %s): %w", c.Name, c.Type, c.Path, err)
			}
			if c.Comment != "" {
				if _, err := tx.Exec(ctx, fmt.Sprintf(`COMMENT ON COLUMN %s.%s IS %s`, qualified(name), ident(c.Name), quoteLiteral(c.Comment))); err != nil {
					return fmt.Errorf("comment on column %s: %w", c.Name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.names[t.EventID], s.ensured[t.EventID] = t.Name, len(t.Columns)
	return nil
}

// createTable creates the partitioned table with its envelope and indexes.
func createTable(ctx context.Context, tx pgx.Tx, name string) error {
	var cols []string
	for _, c := range EnvelopeColumns {
		def := fmt.Sprintf("%s %s", ident(c.Name), c.Type)
		if c.Name != "occurred_at" {
			def += " NOT NULL"
		}
		cols = append(cols, def)
	}
	stmts := []string{
		fmt.Sprintf(`CREATE TABLE %s (%s, PRIMARY KEY (event_id, received_at)) PARTITION BY RANGE (received_at)`, qualified(name), strings.Join(cols, ", ")),
		fmt.Sprintf(`CREATE INDEX %s ON %s (received_at)`, ident(Identifier(name+"_received_at")), qualified(name)),
		fmt.Sprintf(`CREATE INDEX %s ON %s (user_id, received_at)`, ident(Identifier(name+"_user_id")), qualified(name)),
	}
	for _, c := range EnvelopeColumns {
		stmts = append(stmts, fmt.Sprintf(`COMMENT ON COLUMN %s.%s IS %s`, qualified(name), ident(c.Name), quoteLiteral(c.Comment)))
	}
	for _, sql := range stmts {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create table warehouse.%s: %w", name, err)
		}
	}
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// partitionName is the name of a table's partition of one UTC day.
func partitionName(table string, d time.Time) string {
	return Identifier(table + "_p" + d.Format("20060102"))
}

// ensurePartitions creates the daily partitions rows fall in.
func (s *PostgresStore) ensurePartitions(ctx context.Context, rows []Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	type part struct {
		table string
		day   time.Time
	}
	var missing []part
	seen := map[string]bool{}
	for _, r := range rows {
		p := part{r.Table.Name, r.Day()}
		key := p.table + p.day.Format("20060102")
		if !s.days[key] && !seen[key] {
			seen[key] = true
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, ddlLock); err != nil {
			return err
		}
		for _, p := range missing {
			sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
				qualified(partitionName(p.table, p.day)), qualified(p.table), p.day.Format(time.RFC3339), p.day.AddDate(0, 0, 1).Format(time.RFC3339))
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("create partition of %s for %s: %w", p.table, p.day.Format(time.DateOnly), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k := range seen {
		s.days[k] = true
	}
	return nil
}

// WriteRows implements Store, in one transaction. Per table it first
// COPYs the rows straight into the table under a savepoint: the common case,
// none stored yet, costs one COPY. When a row is there already (a
// redelivery: unique violation on (event_id, received_at)) it rolls back to
// the savepoint and goes the careful way: COPY into a staging table, then
// INSERT … SELECT … ON CONFLICT DO NOTHING.
func (s *PostgresStore) WriteRows(ctx context.Context, rows []Row) (err error) {
	defer derrors.Wrap(&err, "store %d rows in the warehouse", len(rows))
	if len(rows) == 0 {
		return nil
	}
	if err := s.ensurePartitions(ctx, rows); err != nil {
		return err
	}
	groups := groupByTable(rows)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i, g := range groups {
			direct, err := tx.Begin(ctx) // a savepoint
			if err != nil {
				return err
			}
			_, err = direct.CopyFrom(ctx, pgx.Identifier{"warehouse", g.table}, g.columns, pgx.CopyFromRows(g.values))
			if err == nil {
				if err := direct.Commit(ctx); err != nil {
					return err
				}
				continue
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != uniqueViolation {
				return fmt.Errorf("copy into %s: %w", g.table, err)
			}
			if err := direct.Rollback(ctx); err != nil {
				return err
			}
			if err := insertSkippingStored(ctx, tx, i, g); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertSkippingStored writes g through a staging table, skipping the rows
// stored already.
func insertSkippingStored(ctx context.Context, tx pgx.Tx, i int, g tableRows) error {
	stage := fmt.Sprintf("warehouse_stage_%d", i)
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE %s (LIKE %s) ON COMMIT DROP`, stage, qualified(g.table))); err != nil {
		return fmt.Errorf("create staging table for %s: %w", g.table, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, g.columns, pgx.CopyFromRows(g.values)); err != nil {
		return fmt.Errorf("copy into the staging table of %s: %w", g.table, err)
	}
	cols := make([]string, len(g.columns))
	for j, c := range g.columns {
		cols[j] = ident(c)
	}
	list := strings.Join(cols, ", ")
	if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT DO NOTHING`, qualified(g.table), list, list, stage)); err != nil {
		return fmt.Errorf("insert into %s: %w", g.table, err)
	}
	return nil
}

// tableRows are the rows of one table in COPY form.
type tableRows struct {
	table   string
	columns []string
	values  [][]any
}

// groupByTable groups rows by table; rows decoded with an older layout (fewer
// columns) get NULL for the columns added since.
func groupByTable(rows []Row) []tableRows {
	idx := map[string]int{}
	var out []tableRows
	widest := map[string]*Table{}
	for _, r := range rows {
		if w := widest[r.Table.Name]; w == nil || len(r.Table.Columns) > len(w.Columns) {
			widest[r.Table.Name] = r.Table
		}
	}
	for _, r := range rows {
		i, ok := idx[r.Table.Name]
		if !ok {
			i = len(out)
			idx[r.Table.Name] = i
			var cols []string
			for _, c := range widest[r.Table.Name].AllColumns() {
				cols = append(cols, c.Name)
			}
			out = append(out, tableRows{table: r.Table.Name, columns: cols})
		}
		vals := make([]any, len(out[i].columns))
		for j, v := range r.Values {
			vals[j] = pgValue(v)
		}
		out[i].values = append(out[i].values, vals)
	}
	return out
}

// pgValue converts a row value to what pgx encodes.
func pgValue(v any) any {
	switch v := v.(type) {
	case *big.Int:
		return pgtype.Numeric{Int: v, Valid: true}
	case json.RawMessage:
		return string(v)
	}
	return v
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
	// EventName is the full message name of the version.
	EventName string
	Count     int64
}

// eventTable is a row of warehouse.event_tables.
type eventTable struct {
	EventID uint32
	Name    string
	Subject string
	Package string
}

func (s *PostgresStore) eventTables(ctx context.Context) ([]eventTable, error) {
	rows, err := s.pool.Query(ctx, `SELECT event_id, table_name, subject, message_package FROM warehouse.event_tables ORDER BY table_name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (eventTable, error) {
		var e eventTable
		var id int32
		err := row.Scan(&id, &e.Name, &e.Subject, &e.Package)
		e.EventID = uint32(id)
		return e, err
	})
}

// HourlyCounts counts the stored events per hour, environment, event and
// version over q, from the typed tables; ordered by hour, environment, event
// and version.
func (s *PostgresStore) HourlyCounts(ctx context.Context, q HourlyQuery) (_ []HourlyCount, err error) {
	defer derrors.Wrap(&err, "hourly counts [%s, %s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	tables, err := s.eventTables(ctx)
	if err != nil {
		return nil, err
	}
	var out []HourlyCount
	for _, t := range tables {
		if q.EventID != 0 && q.EventID != t.EventID {
			continue
		}
		sql := fmt.Sprintf(`
SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC'), environment, event_version, count(*)
FROM %s
WHERE received_at >= $1 AND received_at < $2 AND ($3 = '' OR environment = $3)
GROUP BY 1, 2, 3`, qualified(t.Name))
		rows, err := s.pool.Query(ctx, sql, q.From, q.To, q.Environment)
		if err != nil {
			return nil, err
		}
		counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HourlyCount, error) {
			c := HourlyCount{EventID: t.EventID}
			var version int32
			err := row.Scan(&c.Hour, &c.Environment, &version, &c.Count)
			c.Hour = time.Date(c.Hour.Year(), c.Hour.Month(), c.Hour.Day(), c.Hour.Hour(), 0, 0, 0, time.UTC)
			c.Version = uint32(version)
			c.EventName = fmt.Sprintf("%s.%sV%d", t.Package, t.Subject, version)
			return c, err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, counts...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case !a.Hour.Equal(b.Hour):
			return a.Hour.Before(b.Hour)
		case a.Environment != b.Environment:
			return a.Environment < b.Environment
		case a.EventID != b.EventID:
			return a.EventID < b.EventID
		}
		return a.Version < b.Version
	})
	return out, nil
}

// TableInfo describes one typed table for `clickstream warehouse tables`.
type TableInfo struct {
	EventID uint32
	Subject string
	// Name is the table's name in schema warehouse.
	Name    string
	Rows    int64
	Columns []ColumnInfo
}

// ColumnInfo is one column of a typed table.
type ColumnInfo struct {
	Name, Type, Comment string
}

// Tables lists the typed tables with their columns and exact row counts.
func (s *PostgresStore) Tables(ctx context.Context) (_ []TableInfo, err error) {
	defer derrors.Wrap(&err, "list the warehouse tables")
	tables, err := s.eventTables(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TableInfo, 0, len(tables))
	for _, t := range tables {
		info := TableInfo{EventID: t.EventID, Subject: t.Subject, Name: t.Name}
		if err := s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s`, qualified(t.Name))).Scan(&info.Rows); err != nil {
			return nil, err
		}
		rows, err := s.pool.Query(ctx, `
SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(col_description(a.attrelid, a.attnum), '')
FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, "warehouse."+ident(t.Name))
		if err != nil {
			return nil, err
		}
		info.Columns, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ColumnInfo, error) {
			var c ColumnInfo
			return c, row.Scan(&c.Name, &c.Type, &c.Comment)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// ErrNoTable is the error of Sample for an event without a table yet.
var ErrNoTable = errors.New("the event has no warehouse table yet")

// Sample is an event's table and its most recent rows.
type Sample struct {
	// Table is schema-qualified, e.g. "warehouse.item_view".
	Table   string
	Columns []string
	// Rows hold one value per column in PostgreSQL's text form; nil is
	// NULL.
	Rows      [][]*string
	TotalRows int64
}

// Sample returns the table of the event and its limit most recent rows
// (by received_at); ErrNoTable when the event has none yet.
func (s *PostgresStore) Sample(ctx context.Context, eventID uint32, limit int) (_ Sample, err error) {
	defer derrors.Wrap(&err, "sample the warehouse table of event %d", eventID)
	var name string
	err = s.pool.QueryRow(ctx, `SELECT table_name FROM warehouse.event_tables WHERE event_id = $1`, int32(eventID)).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Sample{}, ErrNoTable
	}
	if err != nil {
		return Sample{}, err
	}
	out := Sample{Table: "warehouse." + name}
	rows, err := s.pool.Query(ctx, `
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, qualified(name))
	if err != nil {
		return Sample{}, err
	}
	if out.Columns, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return Sample{}, err
	}
	sel := make([]string, len(out.Columns))
	for i, c := range out.Columns {
		sel[i] = ident(c) + "::text"
	}
	rows, err = s.pool.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s ORDER BY received_at DESC, event_id LIMIT %d`,
		strings.Join(sel, ", "), qualified(name), limit))
	if err != nil {
		return Sample{}, err
	}
	out.Rows, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]*string, error) {
		vals := make([]*string, len(out.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		return vals, row.Scan(ptrs...)
	})
	if err != nil {
		return Sample{}, err
	}
	if err := s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s`, qualified(name))).Scan(&out.TotalRows); err != nil {
		return Sample{}, err
	}
	return out, nil
}

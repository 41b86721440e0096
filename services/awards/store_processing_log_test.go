package awards_test

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/awards"
	"github.com/clickstream-dev/clickstream/services/awards/migrations"
)

func month(year int, m time.Month) time.Time { return time.Date(year, m, 1, 0, 0, 0, 0, time.UTC) }

// insertLog writes a processing log row of record processed at at.
func insertLog(t *testing.T, pool *pgxpool.Pool, record string, at time.Time) {
	t.Helper()
	_, err := pool.Exec(t.Context(), `
		INSERT INTO awards.processing_log (user_id, objective_id, record_id, outcome, processed_at)
		VALUES ('u1', 1, $1, 'applied', $2)`, record, at)
	if err != nil {
		t.Fatal(err)
	}
}

// logPartitions returns the partition holding each record's row.
func logPartitions(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT record_id, tableoid::regclass::text FROM awards.processing_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var rec, part string
		if err := rows.Scan(&rec, &part); err != nil {
			t.Fatal(err)
		}
		out[rec] = strings.TrimPrefix(part, "awards.")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestProcessingLogMonthlyPartitions(t *testing.T) {
	store, pool := newStore(t)
	ctx := t.Context()
	created, err := store.CreateLogPartitions(ctx, month(2025, time.January), month(2025, time.March).Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"processing_log_2025_01", "processing_log_2025_02", "processing_log_2025_03"}
	if !slices.Equal(created, want) {
		t.Fatalf("created %v, want %v", created, want)
	}
	// Creating again is a no-op.
	if again, err := store.CreateLogPartitions(ctx, month(2025, time.January), month(2025, time.March)); err != nil || len(again) != 0 {
		t.Fatalf("second create: %v, %v", again, err)
	}

	// Month bounds are UTC: the last instant of January, written in
	// another zone, is January's.
	berlin := time.FixedZone("CET", 3600)
	insertLog(t, pool, "jan-first", month(2025, time.January))
	insertLog(t, pool, "jan-last", time.Date(2025, time.February, 1, 0, 59, 59, 0, berlin))
	insertLog(t, pool, "feb-first", time.Date(2025, time.February, 1, 1, 0, 0, 0, berlin))
	insertLog(t, pool, "mar", time.Date(2025, time.March, 31, 23, 0, 0, 0, time.UTC))
	insertLog(t, pool, "2024-jun", time.Date(2024, time.June, 10, 0, 0, 0, 0, time.UTC)) // no partition yet
	insertLog(t, pool, "now", time.Now())                                                // the migration created this month's

	got := logPartitions(t, pool)
	wantParts := map[string]string{
		"jan-first": "processing_log_2025_01", "jan-last": "processing_log_2025_01",
		"feb-first": "processing_log_2025_02", "mar": "processing_log_2025_03",
		"2024-jun": "processing_log_default", "now": awards.LogPartition(time.Now()),
	}
	for rec, part := range wantParts {
		if got[rec] != part {
			t.Errorf("record %s is in %s, want %s", rec, got[rec], part)
		}
	}

	// A month's partition created later takes its rows from the default.
	if _, err := store.CreateLogPartitions(ctx, month(2024, time.June), month(2024, time.June)); err != nil {
		t.Fatal(err)
	}
	if part := logPartitions(t, pool)["2024-jun"]; part != "processing_log_2024_06" {
		t.Errorf("after creating June 2024, its row is in %s", part)
	}

	// The key still refuses the same event and objective at the same time,
	// and keys on the partition column.
	_, err = pool.Exec(ctx, `INSERT INTO awards.processing_log (user_id, objective_id, record_id, outcome, processed_at)
		VALUES ('u1', 1, 'mar', 'applied', $1)`, time.Date(2025, time.March, 31, 23, 0, 0, 0, time.UTC))
	if err == nil {
		t.Error("a duplicate (user, objective, record, processed_at) row was accepted")
	}
}

func TestProcessingLogRetention(t *testing.T) {
	store, pool := newStore(t)
	ctx := t.Context()
	if _, err := store.CreateLogPartitions(ctx, month(2025, time.January), month(2025, time.April)); err != nil {
		t.Fatal(err)
	}
	insertLog(t, pool, "2024-dec", time.Date(2024, time.December, 20, 0, 0, 0, 0, time.UTC)) // default partition
	insertLog(t, pool, "2025-jan", time.Date(2025, time.January, 20, 0, 0, 0, 0, time.UTC))
	insertLog(t, pool, "2025-feb", time.Date(2025, time.February, 20, 0, 0, 0, 0, time.UTC))
	insertLog(t, pool, "2025-apr", time.Date(2025, time.April, 20, 0, 0, 0, 0, time.UTC))

	// 90 days before 15 May is 14 February: January and before end before
	// it; February does not.
	now := time.Date(2025, time.May, 15, 12, 0, 0, 0, time.UTC)
	r := awards.NewLogRetention(store, awards.LogRetentionConfig{Retention: 90 * 24 * time.Hour, Now: func() time.Time { return now }})
	if err := r.Round(ctx); err != nil {
		t.Fatal(err)
	}
	parts, err := store.LogPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"processing_log_2025_02", "processing_log_2025_03", "processing_log_2025_04",
		"processing_log_2025_05", "processing_log_2025_06"} {
		if !slices.Contains(parts, name) {
			t.Errorf("partition %s is missing; partitions: %v", name, parts)
		}
	}
	if slices.Contains(parts, "processing_log_2025_01") {
		t.Errorf("partition processing_log_2025_01 was kept; partitions: %v", parts)
	}
	got := logPartitions(t, pool)
	for _, rec := range []string{"2025-feb", "2025-apr"} {
		if got[rec] == "" {
			t.Errorf("row %s was dropped", rec)
		}
	}
	for _, rec := range []string{"2024-dec", "2025-jan"} {
		if got[rec] != "" {
			t.Errorf("row %s was kept in %s", rec, got[rec])
		}
	}

	// A negative retention keeps every month.
	keep := awards.NewLogRetention(store, awards.LogRetentionConfig{Retention: -1, Now: func() time.Time { return now.AddDate(5, 0, 0) }})
	if err := keep.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(logPartitions(t, pool)); n != 2 {
		t.Errorf("%d rows after a round keeping every month, want 2", n)
	}
}

// TestProcessingLogMigration migrates a database up to the unpartitioned
// processing log, writes rows in that shape, and migrates the rest.
func TestProcessingLogMigration(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := t.Context()
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `DROP SCHEMA awards CASCADE`); err != nil {
		t.Fatal(err)
	}
	before := fstest.MapFS{}
	err = fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path >= "00005" {
			return err
		}
		data, err := fs.ReadFile(migrations.FS, path)
		before[path] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, url, migrations.Schema, before); err != nil {
		t.Fatal(err)
	}
	rows := map[string]time.Time{
		"2024-11": time.Date(2024, time.November, 3, 0, 0, 0, 0, time.UTC),
		"2025-01": time.Date(2025, time.January, 31, 23, 59, 59, 0, time.UTC),
		"now":     time.Now(),
	}
	for rec, at := range rows {
		_, err := pool.Exec(ctx, `
			INSERT INTO awards.processing_log (user_id, objective_id, record_id, outcome, filter, content_id, delta, counters, occurred_at, processed_at)
			VALUES ('u1', 7, $1, 'applied', '', 'c-' || $1, '{"count":1}', '{"count":3}', $2, $2)`, rec, at)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := postgres.Migrate(ctx, url, migrations.Schema, migrations.FS); err != nil {
		t.Fatal(err)
	}

	got := logPartitions(t, pool)
	want := map[string]string{"2024-11": "processing_log_2024_11", "2025-01": "processing_log_2025_01", "now": awards.LogPartition(time.Now())}
	if len(got) != len(want) {
		t.Errorf("%d rows after the migration, want %d: %v", len(got), len(want), got)
	}
	for rec, part := range want {
		if got[rec] != part {
			t.Errorf("row %s is in %s, want %s", rec, got[rec], part)
		}
	}
	var content, delta, counters string
	var occurred time.Time
	err = pool.QueryRow(ctx, `SELECT content_id, delta::text, counters::text, occurred_at FROM awards.processing_log WHERE record_id = '2025-01'`).
		Scan(&content, &delta, &counters, &occurred)
	if err != nil {
		t.Fatal(err)
	}
	if content != "c-2025-01" || delta != `{"count":1}` || counters != `{"count":3}` || !occurred.Equal(rows["2025-01"]) {
		t.Errorf("row 2025-01 after the migration: %q %s %s %s", content, delta, counters, occurred)
	}

	// Every month from the oldest row's to the next is there, none empty
	// of a partition in between.
	store := awards.NewPostgresStore(pool)
	parts, err := store.LogPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := awards.LogPartition(time.Now().UTC().AddDate(0, 0, 1-time.Now().UTC().Day()).AddDate(0, 1, 0))
	if parts[0] != "processing_log_2024_11" || parts[len(parts)-1] != next {
		t.Errorf("partitions %v, want 2024-11 to the next month (%s)", parts, next)
	}
	for m, i := month(2024, time.November), 0; i < len(parts); m, i = m.AddDate(0, 1, 0), i+1 {
		if parts[i] != awards.LogPartition(m) {
			t.Fatalf("partition %d is %s, want %s (partitions %v)", i, parts[i], awards.LogPartition(m), parts)
		}
	}
	var pk string
	if err := pool.QueryRow(ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'awards.processing_log'::regclass AND contype = 'p'`).Scan(&pk); err != nil {
		t.Fatal(err)
	}
	if pk != "PRIMARY KEY (user_id, objective_id, record_id, processed_at)" {
		t.Errorf("primary key %s", pk)
	}
}

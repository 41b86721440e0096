package postgres_test

import (
	"context"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, nil)
}

var svcMigrations = fstest.MapFS{
	"00001_create_accounts.sql": {Data: []byte(`-- +goose Up
CREATE TABLE svc.accounts (
    id   bigint PRIMARY KEY,
    name text NOT NULL
);

-- +goose Down
DROP TABLE svc.accounts;
`)},
	"00002_create_sessions.sql": {Data: []byte(`-- +goose Up
CREATE TABLE svc.sessions (
    id         bigint PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES svc.accounts (id)
);

-- +goose Down
DROP TABLE svc.sessions;
`)},
}

// appliedVersions returns the versions recorded in svc.goose_db_version, oldest first.
func appliedVersions(t *testing.T, url string) []int64 {
	t.Helper()
	pool, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(t.Context(), `SELECT version_id FROM svc.goose_db_version WHERE is_applied ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var versions []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return versions
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewDatabase(t)

	for range 2 {
		if err := postgres.Migrate(ctx, url, "svc", svcMigrations); err != nil {
			t.Fatal(err)
		}
		// goose records version 0 when it creates its table; the second run applies nothing.
		if got, want := appliedVersions(t, url), []int64{0, 1, 2}; !slices.Equal(got, want) {
			t.Fatalf("applied versions = %v, want %v", got, want)
		}
	}

	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var tables []string
	rows, err := pool.Query(ctx, `SELECT schemaname || '.' || tablename FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"svc.accounts", "svc.goose_db_version", "svc.sessions"}; !slices.Equal(tables, want) {
		t.Errorf("tables = %v, want %v", tables, want)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const runs = 3
	errs := make(chan error, runs)
	for range runs {
		go func() { errs <- postgres.Migrate(context.Background(), url, "svc", svcMigrations) }()
	}
	for range runs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got, want := appliedVersions(t, url), []int64{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("applied versions = %v, want %v", got, want)
	}
}

func TestMigrateRejectsSchemaNames(t *testing.T) {
	url := pgtest.NewDatabase(t)
	for _, schema := range []string{"", "Svc", "svc-1", "svc.x", `svc"; DROP`, "1svc"} {
		if err := postgres.Migrate(t.Context(), url, schema, svcMigrations); err == nil {
			t.Errorf("Migrate(schema %q) succeeded, want an error", schema)
		}
	}
}

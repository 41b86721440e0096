package pgtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, url string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `CREATE TABLE items (name text NOT NULL); INSERT INTO items VALUES ('from template')`)
		return err
	})
}

// itemNames returns the names in the items table of the database at url.
func itemNames(t *testing.T, url string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT name FROM items ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func insertItem(t *testing.T, url, name string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `INSERT INTO items VALUES ($1)`, name); err != nil {
		t.Fatal(err)
	}
}

func TestNewDatabaseIsolatesWrites(t *testing.T) {
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two NewDatabase calls returned the same URL %s", a)
	}
	insertItem(t, a, "written to a")

	if got := itemNames(t, a); fmt.Sprint(got) != "[from template written to a]" {
		t.Errorf("items in a = %q", got)
	}
	if got := itemNames(t, b); fmt.Sprint(got) != "[from template]" {
		t.Errorf("items in b = %q, want only the template's", got)
	}
}

func TestNewDatabaseInParallelTests(t *testing.T) {
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewDatabase(t)
			name := fmt.Sprintf("written by test %d", i)
			insertItem(t, url, name)
			if got, want := fmt.Sprint(itemNames(t, url)), fmt.Sprintf("[from template %s]", name); got != want {
				t.Errorf("items = %s, want %s", got, want)
			}
		})
	}
}

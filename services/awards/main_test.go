package awards_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/awards"
	"github.com/clickstream-dev/clickstream/services/awards/migrations"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, url string) error {
		return postgres.Migrate(ctx, url, migrations.Schema, migrations.FS)
	})
}

// newStore returns a store on a fresh, migrated database, and a pool on the
// same database for raw SQL.
func newStore(t testing.TB) (*awards.PostgresStore, *pgxpool.Pool) {
	t.Helper()
	pool, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return awards.NewPostgresStore(pool), pool
}

// upsert stores achievements or fails the test.
func upsert(t *testing.T, store awards.Store, as ...awards.Achievement) {
	t.Helper()
	for _, a := range as {
		if err := store.UpsertAchievement(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
}

package ingest_test

import (
	"context"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/ingest/migrations"
)

// TestMain starts one PostgreSQL for the package, migrated once into a
// template; each test that needs it clones a fresh database.
func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, url string) error {
		return postgres.Migrate(ctx, url, migrations.Schema, migrations.FS)
	})
}

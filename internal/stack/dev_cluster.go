package stack

import (
	"context"
	"fmt"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// PrepareDevEnvironment does for separately served services what a dev stack running the
// registry and ingest does at start: it creates environment env allowing every registered
// version, and an ingest API key bound to it, kept in keyFile (reused while it is valid).
// It returns the key. The registry must have registered the catalogue first.
func PrepareDevEnvironment(ctx context.Context, databaseURL, env, keyFile string) (string, error) {
	pool, err := postgres.Open(ctx, databaseURL)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	if err := devEnvironment(ctx, registry.NewPostgresStore(pool), env); err != nil {
		return "", err
	}
	key, err := devKey(ctx, ingest.NewPostgresStore(pool), env, keyFile)
	if err != nil {
		return "", fmt.Errorf("environment %q: %w", env, err)
	}
	return key, nil
}

package platform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// Dev-only setup: what `clickstream dev` (and `dev --cluster` for the
// services it serves separately) prepares on a fresh machine so that a new
// user can send events at once — the dev environment allowing every
// registered version and an ingest API key bound to it. Production
// deployments create environments and keys through the admin APIs.

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

// devEnvironment creates the dev environment at first start and allows it
// every registered version, at every start (versions added to the starter
// catalogue since are allowed too).
func devEnvironment(ctx context.Context, store registry.Store, name string) error {
	env, err := store.GetEnvironment(ctx, name)
	if errors.Is(err, registry.ErrNotFound) {
		env, err = store.CreateEnvironment(ctx, name, "everything the dev stack may send", devActor)
	}
	if err != nil {
		return fmt.Errorf("dev environment %q: %w", name, err)
	}
	allowed := map[[2]uint32]bool{}
	for _, ref := range env.Allowed {
		allowed[[2]uint32{ref.EventID, ref.Version}] = true
	}
	events, _, err := store.Catalogue(ctx)
	if err != nil {
		return fmt.Errorf("dev environment %q: %w", name, err)
	}
	// One change (one catalogue revision) per event with versions to
	// allow, all of its versions at once: a push of a thousand versions is
	// not a thousand revisions for every watcher to follow.
	for _, ev := range events {
		for _, v := range ev.Versions {
			if allowed[[2]uint32{v.EventID, v.Version}] {
				continue
			}
			if _, err := store.SetEventAccess(ctx, registry.AccessChange{Environment: name, EventID: v.EventID, Allowed: true, Actor: devActor}); err != nil {
				return fmt.Errorf("dev environment %q: allow %s: %w", name, ev.Name, err)
			}
			break
		}
	}
	return nil
}

// devKey returns the dev API key kept in path, creating one for env when
// there is none (or the one there is no longer valid).
func devKey(ctx context.Context, store ingest.KeyStore, env, path string) (string, error) {
	if data, err := os.ReadFile(path); err == nil {
		secret := strings.TrimSpace(string(data))
		id, _, _ := strings.Cut(strings.TrimPrefix(secret, "ck_"), "_")
		k, err := store.Key(ctx, "ck_"+id)
		if err == nil && !k.Revoked() && k.Environment == env && string(k.SecretHash) == string(ingest.HashSecret(secret)) {
			return secret, nil
		}
		if err != nil && !errors.Is(err, ingest.ErrKeyNotFound) {
			return "", fmt.Errorf("dev API key: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("dev API key: %w", err)
	}
	id, secret := ingest.NewKeySecret()
	if err := store.CreateKey(ctx, ingest.APIKey{ID: id, Environment: env, Description: "dev stack key",
		SecretHash: ingest.HashSecret(secret), CreatedBy: devActor}); err != nil {
		return "", fmt.Errorf("dev API key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("dev API key: %w", err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dev API key: %w", err)
	}
	return secret, nil
}

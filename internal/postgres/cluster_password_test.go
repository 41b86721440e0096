package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/postgres"
)

// TestClusterPasswordRefusesPasswordlessConnections starts a cluster made with trust
// authentication (as dev clusters were before passwords) again with a password: TCP
// connections without it, or with a wrong one, are refused, also for replication; with
// it they work, and the URLs say so.
func TestClusterPasswordRefusesPasswordlessConnections(t *testing.T) {
	ctx := t.Context()
	cfg := postgres.ClusterConfig{DataDir: newDataDir(t), Ephemeral: true}
	trusted := startCluster(t, cfg)
	if err := trusted.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := connect(ctx, trusted.URL("app")); err != nil {
		t.Fatalf("a trust cluster refused a connection: %v", err)
	}
	if err := trusted.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	cfg.Password = "s3cret-'quoted'-0123456789abcdef"
	c := startCluster(t, cfg)
	withPassword := c.URL("app")
	redacted := c.RedactedURL("app")
	if !strings.Contains(withPassword, "s3cret") || strings.Contains(redacted, "s3cret") {
		t.Errorf("URL %q should carry the password and RedactedURL %q should not", withPassword, redacted)
	}
	if err := connect(ctx, withPassword); err != nil {
		t.Errorf("connection with the password: %v", err)
	}
	for name, url := range map[string]string{
		"no password":              redacted,
		"wrong password":           strings.Replace(withPassword, "s3cret", "guess", 1),
		"replication, no password": redacted + "&replication=database",
	} {
		err := connect(ctx, url)
		t.Logf("%s: %v", name, err)
		if err == nil || !strings.Contains(err.Error(), "password") {
			t.Errorf("%s: connected or failed for another reason (%v); want a refusal naming the password", name, err)
		}
	}
}

func connect(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(context.WithoutCancel(ctx))
}

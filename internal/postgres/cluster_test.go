package postgres_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/postgres"
)

// newDataDir returns a missing data directory inside a new temporary directory that the
// postgres OS user can enter (the server runs as that user when the tests run as root).
func newDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "data")
}

func startCluster(t *testing.T, cfg postgres.ClusterConfig) *postgres.Cluster {
	t.Helper()
	c, err := postgres.StartCluster(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestClusterPersistsAcrossRestarts(t *testing.T) {
	ctx := t.Context()
	cfg := postgres.ClusterConfig{DataDir: newDataDir(t), Ephemeral: true}

	first := startCluster(t, cfg)
	for range 2 {
		if err := first.CreateDatabase(ctx, "app"); err != nil {
			t.Fatal(err)
		}
	}
	pool, err := postgres.Open(ctx, first.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	second := startCluster(t, cfg)
	pool, err = postgres.Open(ctx, second.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var body string
	if err := pool.QueryRow(ctx, `SELECT body FROM notes`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if body != "kept" {
		t.Errorf("after restart notes.body = %q, want %q", body, "kept")
	}
}

func TestClusterLongDataDirPath(t *testing.T) {
	// Unix socket paths are limited to about 100 bytes; this one would be longer.
	dataDir := filepath.Join(filepath.Dir(newDataDir(t)), strings.Repeat("d", 100))
	c := startCluster(t, postgres.ClusterConfig{DataDir: dataDir, Ephemeral: true})
	pool, err := postgres.Open(t.Context(), c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
}

func TestClusterStartErrors(t *testing.T) {
	dataDir := newDataDir(t)
	cfg := postgres.ClusterConfig{DataDir: dataDir, Ephemeral: true}

	t.Run("port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		cfg := cfg
		cfg.Port = l.Addr().(*net.TCPAddr).Port
		_, err = postgres.StartCluster(t.Context(), cfg)
		if err == nil {
			t.Fatal("StartCluster on a port in use succeeded")
		}
		// The error quotes the server log, which says why it failed.
		for _, want := range []string{"postgres.log", "could not bind"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})

	t.Run("data directory in use", func(t *testing.T) {
		startCluster(t, cfg)
		_, err := postgres.StartCluster(t.Context(), cfg)
		if err == nil {
			t.Fatal("second StartCluster on a running data directory succeeded")
		}
		for _, want := range []string{"already running", dataDir} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})

	t.Run("data directory not empty", func(t *testing.T) {
		dir := newDataDir(t)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := postgres.StartCluster(t.Context(), postgres.ClusterConfig{DataDir: dir})
		if err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("StartCluster on a non-empty directory: error = %v, want one saying it is not empty", err)
		}
	})

	t.Run("parent not traversable by postgres", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("only root runs the server as another user")
		}
		parent := filepath.Dir(newDataDir(t))
		private := filepath.Join(parent, "private")
		if err := os.Mkdir(private, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := postgres.StartCluster(t.Context(), postgres.ClusterConfig{DataDir: filepath.Join(private, "data")})
		if err == nil {
			t.Fatal("StartCluster under a private directory succeeded")
		}
		for _, want := range []string{private, "not traversable", "DATABASE_URL"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
}

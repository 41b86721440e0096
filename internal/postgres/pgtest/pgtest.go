package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/postgres"
)

// serverEnv names an existing server to use instead of starting a private cluster.
const serverEnv = "DATABASE_URL"

// setupTimeout bounds starting the cluster and preparing the template.
const setupTimeout = 2 * time.Minute

// server is the state Main shares with NewDatabase: the server's base URL, the template
// database and a pool on the maintenance database for creating and dropping databases.
var server struct {
	baseURL  *url.URL
	template string
	admin    *pgxpool.Pool
}

// Main starts one private cluster for the test package (in a temporary directory, with
// Ephemeral set), creates a template database, runs setup on it, runs the tests, stops the
// cluster and exits with the tests' code. If DATABASE_URL is set it uses that server
// instead, and drops the databases it created there. If no server can be had, it prints why
// and exits non-zero. setup may be nil; connections it opens must be closed when it returns.
func Main(m *testing.M, setup func(ctx context.Context, url string) error) {
	os.Exit(run(m, setup))
}

func run(m *testing.M, setup func(ctx context.Context, url string) error) int {
	if fuzzWorker() {
		// A fuzzing worker process runs only a fuzz target, many times a
		// second; starting a cluster per worker would leave it no time to
		// fuzz. Fuzz targets decode outside input and need no database.
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	release, err := prepare(ctx, setup)
	defer func() {
		if err := release(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	return m.Run()
}

// prepare connects to a server and creates the template database. The release function it
// returns undoes whatever succeeded, even when prepare fails.
func prepare(ctx context.Context, setup func(ctx context.Context, url string) error) (release func(context.Context) error, err error) {
	var undo []func(context.Context) error
	release = func(ctx context.Context) error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i](ctx))
		}
		return errors.Join(errs...)
	}

	base := os.Getenv(serverEnv)
	if base == "" {
		cluster, stop, err := startCluster(ctx)
		if err != nil {
			return release, err
		}
		undo = append(undo, stop)
		base = cluster.URL("postgres")
	}
	server.baseURL, err = url.Parse(base)
	if err != nil || (server.baseURL.Scheme != "postgres" && server.baseURL.Scheme != "postgresql") {
		return release, fmt.Errorf("%s must be a postgres:// URL", serverEnv)
	}
	server.admin, err = postgres.Open(ctx, base)
	if err != nil {
		return release, err
	}
	undo = append(undo, func(context.Context) error { server.admin.Close(); return nil })

	server.template = "pgtest_template_" + randomSuffix()
	if _, err := server.admin.Exec(ctx, "CREATE DATABASE "+quote(server.template)); err != nil {
		return release, fmt.Errorf("create template database %s: %w", server.template, err)
	}
	undo = append(undo, func(ctx context.Context) error { return dropDatabase(ctx, server.template) })
	if setup != nil {
		if err := setup(ctx, databaseURL(server.template)); err != nil {
			return release, fmt.Errorf("set up template database: %w", err)
		}
	}
	// Cloning fails while anyone is connected to the template; disconnect stragglers.
	if _, err := server.admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, server.template); err != nil {
		return release, fmt.Errorf("disconnect from template database: %w", err)
	}
	return release, nil
}

// startCluster starts an ephemeral cluster in a new temporary directory and returns a
// function that stops it and removes the directory.
func startCluster(ctx context.Context) (*postgres.Cluster, func(context.Context) error, error) {
	if _, err := postgres.FindBinaries(); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, nil, err
	}
	// When running as root the server runs as the postgres user, which must enter dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	cluster, err := postgres.StartCluster(ctx, postgres.ClusterConfig{
		DataDir:   filepath.Join(dir, "data"),
		Ephemeral: true,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	stop := func(ctx context.Context) error {
		return errors.Join(cluster.Stop(ctx), os.RemoveAll(dir))
	}
	return cluster, stop, nil
}

// NewDatabase creates a database for one test by cloning the template, drops it when the
// test ends, and returns its URL. It requires [Main] in the package's TestMain.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if server.admin == nil {
		if fuzzWorker() {
			t.Fatal("pgtest.NewDatabase: fuzz targets run without PostgreSQL; fuzz the decoder, not the store")
		}
		t.Fatal("pgtest.NewDatabase needs pgtest.Main to run in TestMain")
	}
	name := "pgtest_" + randomSuffix()
	ctx := t.Context()
	if _, err := server.admin.Exec(ctx, "CREATE DATABASE "+quote(name)+" TEMPLATE "+quote(server.template)); err != nil {
		t.Fatalf("create test database %s from template %s: %v", name, server.template, err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(context.Background(), name); err != nil {
			t.Error(err)
		}
	})
	return databaseURL(name)
}

// fuzzWorker reports whether this process is a worker of `go test -fuzz`.
func fuzzWorker() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}

// dropDatabase drops the database name, disconnecting any sessions still open on it.
func dropDatabase(ctx context.Context, name string) error {
	if _, err := server.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+quote(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// databaseURL returns the URL of database name on the server.
func databaseURL(name string) string {
	u := *server.baseURL
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// randomSuffix makes database names unique, also across test packages sharing a server.
func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// quote quotes a database name for use in SQL.
func quote(name string) string {
	return pgx.Identifier{name}.Sanitize()
}

// DataDir returns a new temporary directory, removed when the test ends, that the
// postgres OS user can enter: when the tests run as root, PostgreSQL runs as that user,
// and a cluster in a directory it cannot reach would be placed under /var/lib/clickstream
// instead (see [postgres.StartCluster]).
func DataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil && d == dir {
			t.Fatal(err)
		}
		if d == os.TempDir() {
			break
		}
	}
	return dir
}

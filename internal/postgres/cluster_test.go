package postgres_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

}

// TestClusterRootPrivateDataDir starts a cluster, as root, in a directory the postgres OS
// user cannot enter: it is placed under /var/lib/clickstream, found again on the next start,
// and the requested directory names where it is.
func TestClusterRootPrivateDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as another user")
	}
	ctx := t.Context()
	private := filepath.Join(filepath.Dir(newDataDir(t)), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	requested := filepath.Join(private, "data")
	cfg := postgres.ClusterConfig{DataDir: requested, Ephemeral: true}

	first := startCluster(t, cfg)
	placed := first.DataDir()
	t.Cleanup(func() { os.RemoveAll(placed) })
	t.Logf("requested %s, placed at %s", requested, placed)
	if filepath.Dir(placed) != "/var/lib/clickstream" {
		t.Errorf("DataDir() = %s, want a directory in /var/lib/clickstream", placed)
	}
	if got := postgres.ClusterDataDir(requested); got != placed {
		t.Errorf("ClusterDataDir(%s) = %s, want %s (from the pointer file)", requested, got, placed)
	}
	if info, err := os.Stat(placed); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("placed directory: %v, mode %v, want 0700", err, info.Mode().Perm())
	}
	pool, err := postgres.Open(ctx, first.URL("postgres"))
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

	second := startCluster(t, cfg)
	if second.DataDir() != placed {
		t.Errorf("second start placed the cluster at %s, the first at %s", second.DataDir(), placed)
	}
	pool, err = postgres.Open(ctx, second.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var body string
	if err := pool.QueryRow(ctx, `SELECT body FROM notes`).Scan(&body); err != nil {
		t.Fatalf("data of the first start: %v", err)
	}
}

// helperDataDirEnv makes the test binary a helper process that starts a cluster there,
// prints "ready", and waits to be killed.
const helperDataDirEnv = "CLICKSTREAM_TEST_HELPER_CLUSTER_DATA_DIR"

func TestHelperClusterProcess(t *testing.T) {
	dir := os.Getenv(helperDataDirEnv)
	if dir == "" {
		t.Skip("helper process of TestClusterRestartsAfterItsParentWasKilled")
	}
	c, err := postgres.StartCluster(context.Background(), postgres.ClusterConfig{DataDir: dir, Ephemeral: true})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready", c.Port())
	select {}
}

// TestClusterRestartsAfterItsParentWasKilled starts a cluster in a child process, kills
// the child with SIGKILL (its server gets a fast-shutdown signal and is orphaned) and
// starts a cluster on the same data directory right away.
func TestClusterRestartsAfterItsParentWasKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL twice")
	}
	if _, err := postgres.FindBinaries(); err != nil {
		t.Skip(err)
	}
	dataDir := newDataDir(t)
	child := exec.Command(os.Args[0], "-test.run=^TestHelperClusterProcess$", "-test.count=1")
	child.Env = append(os.Environ(), helperDataDirEnv+"="+dataDir)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "ready") {
		_ = child.Process.Kill()
		_ = child.Wait()
		t.Fatalf("helper process: %q, %v", line, err)
	}
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	serverPid, _, _ := strings.Cut(string(pidFile), "\n")
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	var logs bytes.Buffer
	cfg := postgres.ClusterConfig{DataDir: dataDir, Ephemeral: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	started := time.Now()
	c, err := postgres.StartCluster(t.Context(), cfg)
	if err != nil {
		t.Fatalf("StartCluster right after its earlier parent was killed: %v\nlogs:\n%s", err, &logs)
	}
	defer c.Stop(context.Background())
	t.Logf("server pid %s of the killed helper; StartCluster again took %v; logs:\n%s",
		serverPid, time.Since(started).Round(time.Millisecond), &logs)
	pool, err := postgres.Open(t.Context(), c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/internal/postgres"
)

// devRootStartTimeout bounds one start of the in-process dev stack until its banner.
const devRootStartTimeout = 40 * time.Second

var (
	postgresURLLine  = regexp.MustCompile(`^\s+postgres\s+(postgres://\S+)`)
	postgresDataLine = regexp.MustCompile(`^PostgreSQL data in (\S+)`)
)

// lockedBuffer is a bytes.Buffer that dev's logger and the test may use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// inProcessDev is `clickstream dev` run in this process by run.
type inProcessDev struct {
	urls        map[string]string
	key         string
	databaseURL string
	pgData      string // where the banner says PostgreSQL's data lives
	logs        *lockedBuffer
	cancel      context.CancelFunc
	done        chan error
}

// startDevInProcess runs dev on dataDir on free ports and returns once it printed its
// banner.
func startDevInProcess(t *testing.T, dataDir string) *inProcessDev {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, banner := io.Pipe()
	d := &inProcessDev{urls: map[string]string{}, logs: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := run(ctx, []string{"dev", "--data-dir", dataDir, "--registry-addr", "127.0.0.1:0", "--ingest-addr", "127.0.0.1:0",
			"--awards-addr", "127.0.0.1:0", "--nats-listen", "", "--postgres-port", "0", "--console-addr", "127.0.0.1:0"}, banner, d.logs)
		banner.Close()
		d.done <- err
	}()
	t.Cleanup(func() { d.stop(t) })

	printed := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			line := lines.Text()
			if m := endpointLine.FindStringSubmatch(line); m != nil {
				d.urls[m[1]] = m[2]
			}
			if m := keyLine.FindStringSubmatch(line); m != nil {
				d.key = m[1] // the file; read below
			}
			if postgresURLLine.MatchString(line) {
				// The banner's URL has no password; the credentials file has it.
				d.databaseURL = filepath.Join(dataDir, databaseURLFile)
			}
			if m := postgresDataLine.FindStringSubmatch(line); m != nil {
				d.pgData = m[1]
			}
			if strings.Contains(line, "Press Ctrl-C to stop") {
				close(printed)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-printed:
	case err := <-d.done:
		cancel()
		d.cancel = nil
		t.Fatalf("dev stopped before printing its endpoints: %v\nlogs:\n%s", err, d.logs)
	case <-time.After(devRootStartTimeout):
		t.Fatalf("dev printed no endpoints within %v\nlogs:\n%s", devRootStartTimeout, d.logs)
	}
	if d.key != "" && d.databaseURL != "" {
		d.key, d.databaseURL = readSecret(t, d.key), readSecret(t, d.databaseURL)
	}
	if len(d.urls) != 3 || d.key == "" || d.databaseURL == "" || d.pgData == "" {
		t.Fatalf("dev printed endpoints %v, API key %q, database URL %q, PostgreSQL data %q\nlogs:\n%s",
			d.urls, d.key, d.databaseURL, d.pgData, d.logs)
	}
	return d
}

// stop cancels dev, as Ctrl-C does, and waits for it to return. Calls after the first
// do nothing.
func (d *inProcessDev) stop(t *testing.T) {
	t.Helper()
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("dev returned %v on stop\nlogs:\n%s", err, d.logs)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("dev did not stop within 30 s\nlogs:\n%s", d.logs)
	}
}

// TestDevRootPrivateDataDirKeepsData runs dev as root with its data directory inside a
// private (0700) directory, which the postgres OS user that runs PostgreSQL cannot enter:
// every service comes up, and a second run on the same data directory finds the first
// run's data, in PostgreSQL too.
func TestDevRootPrivateDataDirKeepsData(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this test as root: it checks that `clickstream dev` works as root from a private directory")
		}
		t.Skip("runs only as root: PostgreSQL then runs as the postgres OS user")
	}
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CLICKSTREAM_DATABASE_URL", "")
	t.Setenv("CLICKSTREAM_LOG_LEVEL", "info")
	private, err := os.MkdirTemp("", "dev-root-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(private) })
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(private, "data")
	requestedPG := filepath.Join(dataDir, "postgres")
	started := time.Now()

	first := startDevInProcess(t, dataDir)
	placed := postgres.ClusterDataDir(requestedPG)
	if placed != requestedPG {
		t.Cleanup(func() { os.RemoveAll(placed) })
	}
	t.Logf("data dir %s (mode 0700); PostgreSQL data in %s; pointer file %s", dataDir, placed, filepath.Join(requestedPG, postgres.LocationFileName))
	if first.pgData != placed || filepath.Dir(placed) != "/var/lib/clickstream" {
		t.Errorf("banner says PostgreSQL data in %s, pointer file says %s; want a directory in /var/lib/clickstream", first.pgData, placed)
	}
	if !strings.Contains(first.logs.String(), "PostgreSQL data placed where the server's OS user can reach it") {
		t.Errorf("no log line says where PostgreSQL's data was placed:\n%s", first.logs)
	}
	for _, name := range []string{"registry", "ingest", "awards"} {
		if code, body := get(t, first.urls[name]+"/readyz"); code != http.StatusOK {
			t.Errorf("first run: %s /readyz: %d %s", name, code, body)
		}
	}
	event := `{"events":[{"idempotencyKey":"dev-root-1","json":{"eventId":2005,"version":1,"data":{"context":{"userId":"u"},"objectId":"o"}}}]}`
	if body := post(t, first.urls["ingest"]+"/v1/events:batch", first.key, event); !strings.Contains(body, "EVENT_STATUS_ACCEPTED") {
		t.Errorf("first run: send: %s", body)
	}
	pool, err := postgres.Open(t.Context(), first.databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `CREATE TABLE public.dev_root_test (note text); INSERT INTO public.dev_root_test VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	token, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	first.stop(t)
	t.Logf("first run up and stopped after %v", time.Since(started).Round(time.Millisecond))

	second := startDevInProcess(t, dataDir)
	if second.pgData != placed {
		t.Errorf("second run: PostgreSQL data in %s, first run's in %s", second.pgData, placed)
	}
	for _, name := range []string{"registry", "ingest", "awards"} {
		if code, body := get(t, second.urls[name]+"/readyz"); code != http.StatusOK {
			t.Errorf("second run: %s /readyz: %d %s", name, code, body)
		}
	}
	// dev keeps its key only while PostgreSQL still knows it, so the same key means the
	// key's row survived.
	if second.key != first.key {
		t.Errorf("ingest API key changed across runs: %q, then %q", first.key, second.key)
	}
	if code, body := postStatus(t, second.urls["ingest"]+"/v1/events:batch", first.key, event); code != http.StatusOK ||
		!strings.Contains(body, "EVENT_STATUS_") {
		t.Errorf("second run: send with the first run's key: %d %s", code, body)
	}
	if again, err := os.ReadFile(filepath.Join(dataDir, "admin-token")); err != nil || !bytes.Equal(again, token) {
		t.Errorf("admin token changed across runs (%v)", err)
	}
	pool, err = postgres.Open(t.Context(), second.databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var note string
	var keys int
	if err := pool.QueryRow(t.Context(), `SELECT note FROM public.dev_root_test`).Scan(&note); err != nil {
		t.Errorf("second run: the first run's row: %v", err)
	}
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM ingest.api_keys`).Scan(&keys); err != nil {
		t.Errorf("second run: count API keys: %v", err)
	}
	pool.Close()
	second.stop(t)
	t.Logf("second run found the row %q and %d API key(s); both runs took %v", note, keys, time.Since(started).Round(time.Millisecond))
}

package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/internal/postgres"
)

// TestPostgresDownIngestKeepsAccepting stops the PostgreSQL that
// `clickstream dev` uses while events keep coming: ingest needs only the bus,
// so it keeps accepting, and /readyz says the database is down; awards
// waits, and once PostgreSQL is back it counts every event once.
func TestPostgresDownIngestKeepsAccepting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and clickstream dev as child processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	pgDir, err := os.MkdirTemp("", "clickstream-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(pgDir)
	if err := os.Chmod(pgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pgConfig := postgres.ClusterConfig{DataDir: filepath.Join(pgDir, "data")}
	cluster, err := postgres.StartCluster(ctx, pgConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cluster.Stop(context.Background()) }()
	if err := cluster.CreateDatabase(ctx, "clickstream"); err != nil {
		t.Fatal(err)
	}
	pgConfig.Port = cluster.Port() // the same address after the restart

	// The header timeout is shortened through the environment, as an
	// operator would set it.
	d := newDev(t, "DATABASE_URL="+cluster.URL("clickstream"), "CLICKSTREAM_READ_HEADER_TIMEOUT=1s")
	d.start()
	checkSlowHeadersCut(t, d.ingestURL())
	apiKey, adminToken := d.secret("ingest-key"), d.secret("admin-token")
	awards := newAdminClient(d.awardsURL(), adminToken)

	before := workload{n: 2000, users: 7, prefix: "pg-up"}
	var v1 verdicts
	sendAll(ctx, t, d.ingestURL(), apiKey, before, 100, 2, &v1)
	awards.waitApplied(ctx, t, before.distances())

	if err := cluster.Stop(ctx); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	t.Logf("PostgreSQL stopped")

	during := workload{n: 2000, users: 7, prefix: "pg-down"}
	var v2 verdicts
	sendAll(ctx, t, d.ingestURL(), apiKey, during, 100, 2, &v2)
	accepted, duplicate, rejected := v2.count()
	t.Logf("with PostgreSQL down: sent %d events in %d batch attempts: %d ACCEPTED, %d DUPLICATE, %d REJECTED",
		during.n, v2.attempts.Load(), accepted, duplicate, rejected)
	if accepted != during.n*9/10 || rejected != during.n/10 {
		t.Errorf("with PostgreSQL down ingest accepted %d and rejected %d of %d, want %d and %d",
			accepted, rejected, during.n, during.n*9/10, during.n/10)
	}

	code, checks := readyz(ctx, t, d.ingestURL())
	t.Logf("ingest /readyz with PostgreSQL down: %d %v", code, checks)
	if code != http.StatusOK {
		t.Errorf("ingest /readyz answered %d with PostgreSQL down; it needs only the bus to accept events", code)
	}
	if c := checks["postgres"]; c.Status != "failing" || c.Error == "" {
		t.Errorf("ingest /readyz does not report the database down: %+v", checks)
	}
	code, checks = readyz(ctx, t, d.awardsURL())
	t.Logf("awards /readyz with PostgreSQL down: %d %v", code, checks)
	if code != http.StatusServiceUnavailable || checks["postgres"].Status != "failing" {
		t.Errorf("awards /readyz answered %d %+v with PostgreSQL down, want 503 with the postgres check failing", code, checks)
	}

	cluster, err = postgres.StartCluster(ctx, pgConfig)
	if err != nil {
		t.Fatalf("start PostgreSQL again: %v", err)
	}
	t.Logf("PostgreSQL started again on port %d", cluster.Port())

	want := before.distances()
	for u, m := range during.distances() {
		want[u] += m
	}
	sums := awards.waitApplied(ctx, t, want)
	drifts, err := awards.admin.Reconcile(ctx, &awardsv1.ReconcileRequest{})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	t.Logf("awards resumed: %d users' navigation counters equal the sums of both phases; reconcile reports %d drifts", len(sums), len(drifts.GetDrifts()))
	if len(drifts.GetDrifts()) > 0 {
		t.Errorf("drifts after the outage: %v", drifts.GetDrifts())
	}

	events := streamKeys(ctx, t, d.natsURL(), "EVENTS", "")
	dead := streamKeys(ctx, t, d.natsURL(), "DEADLETTER", "dl-")
	t.Logf("EVENTS holds %d messages, DEADLETTER %d: %d in all, %d sent", total(events), total(dead), total(events)+total(dead), before.n+during.n)
	if total(events)+total(dead) != before.n+during.n {
		t.Errorf("EVENTS + DEADLETTER = %d, want %d", total(events)+total(dead), before.n+during.n)
	}
	checkOnce(t, "EVENTS", events)
	checkOnce(t, "DEADLETTER", dead)
	for code, c := range map[string]string{d.ingestURL(): "ingest", d.awardsURL(): "awards", d.registryURL(): "registry"} {
		if status, checks := readyz(ctx, t, code); status != http.StatusOK {
			t.Errorf("%s /readyz after PostgreSQL returned: %d %v", c, status, checks)
		}
	}
}

// check is one readiness check as /readyz reports it.
type check struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

// readyz returns the status code and the checks of base/readyz.
func readyz(ctx context.Context, t *testing.T, base string) (int, map[string]check) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s/readyz: %v", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var parsed struct {
		Checks map[string]check `json:"checks"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil {
		t.Fatalf("GET %s/readyz: %v: %s", base, err, strings.TrimSpace(string(body)))
	}
	return resp.StatusCode, maps.Clone(parsed.Checks)
}

// checkSlowHeadersCut opens a connection to base, sends half a request and
// then nothing: the server must hang up instead of holding the connection.
func checkSlowHeadersCut(t *testing.T, base string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: faults\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(6 * time.Second)) // under the 10s default
	n, err := conn.Read(make([]byte, 512))
	var timeout net.Error
	if errors.As(err, &timeout) && timeout.Timeout() {
		t.Errorf("a client that never finished its headers still held its connection after 6s with --read-header-timeout 1s (the default is 10s)")
		return
	}
	t.Logf("a client that never finished its headers was disconnected (read %d bytes, %v)", n, err)
}

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

	"github.com/clickstream-dev/clickstream/e2e/harness"
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
	d := harness.NewDev(t, binary, "DATABASE_URL="+cluster.URL("clickstream"), "CLICKSTREAM_READ_HEADER_TIMEOUT=1s")
	d.Start()
	checkSlowHeadersCut(t, d.IngestURL())
	apiKey, adminToken := d.Secret("ingest-key"), d.Secret("admin-token")
	awards := newAdminClient(d.AwardsURL(), adminToken)

	before := harness.Workload{N: 2000, Users: 7, UserPrefix: "fault-user", Prefix: "pg-up", InvalidPercent: 10}
	if err := harness.NewSender(apiKey, harness.UntilAnswered(), d.IngestURL()).SendAll(ctx, before, 100, 2); err != nil {
		t.Fatalf("a batch was never answered: %v", err)
	}
	awards.waitApplied(ctx, t, before.Distances())

	if err := cluster.Stop(ctx); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	t.Logf("PostgreSQL stopped")

	during := harness.Workload{N: 2000, Users: 7, UserPrefix: "fault-user", Prefix: "pg-down", InvalidPercent: 10}
	v2 := harness.NewSender(apiKey, harness.UntilAnswered(), d.IngestURL())
	if err := v2.SendAll(ctx, during, 100, 2); err != nil {
		t.Fatalf("a batch was never answered: %v", err)
	}
	accepted, duplicate, rejected := v2.Count()
	t.Logf("with PostgreSQL down: sent %d events in %d batch attempts: %d ACCEPTED, %d DUPLICATE, %d REJECTED",
		during.N, v2.Attempts.Load(), accepted, duplicate, rejected)
	if accepted != during.N*9/10 || rejected != during.N/10 {
		t.Errorf("with PostgreSQL down ingest accepted %d and rejected %d of %d, want %d and %d",
			accepted, rejected, during.N, during.N*9/10, during.N/10)
	}

	code, checks := readyz(ctx, t, d.IngestURL())
	t.Logf("ingest /readyz with PostgreSQL down: %d %v", code, checks)
	if code != http.StatusOK {
		t.Errorf("ingest /readyz answered %d with PostgreSQL down; it needs only the bus to accept events", code)
	}
	if c := checks["postgres"]; c.Status != "failing" || c.Error == "" {
		t.Errorf("ingest /readyz does not report the database down: %+v", checks)
	}
	code, checks = readyz(ctx, t, d.AwardsURL())
	t.Logf("awards /readyz with PostgreSQL down: %d %v", code, checks)
	if code != http.StatusServiceUnavailable || checks["postgres"].Status != "failing" {
		t.Errorf("awards /readyz answered %d %+v with PostgreSQL down, want 503 with the postgres check failing", code, checks)
	}

	cluster, err = postgres.StartCluster(ctx, pgConfig)
	if err != nil {
		t.Fatalf("start PostgreSQL again: %v", err)
	}
	t.Logf("PostgreSQL started again on port %d", cluster.Port())

	want := before.Distances()
	for u, m := range during.Distances() {
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

	events := harness.StreamKeys(ctx, t, d.NATSURL(), "EVENTS", "")
	dead := harness.StreamKeys(ctx, t, d.NATSURL(), "DEADLETTER", "dl-")
	t.Logf("EVENTS holds %d messages, DEADLETTER %d: %d in all, %d sent", harness.Total(events), harness.Total(dead), harness.Total(events)+harness.Total(dead), before.N+during.N)
	if harness.Total(events)+harness.Total(dead) != before.N+during.N {
		t.Errorf("EVENTS + DEADLETTER = %d, want %d", harness.Total(events)+harness.Total(dead), before.N+during.N)
	}
	harness.CheckOnce(t, "EVENTS", events)
	harness.CheckOnce(t, "DEADLETTER", dead)
	for code, c := range map[string]string{d.IngestURL(): "ingest", d.AwardsURL(): "awards", d.RegistryURL(): "registry"} {
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

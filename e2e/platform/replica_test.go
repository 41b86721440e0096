package platform_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/platform"
)

// replicaUser is the user whose achievements the replica test follows.
const replicaUser = "u-replica"

// TestPublicReadsFromAReplica runs the platform on a primary with a
// streaming replica as DatabaseReadURL. With replay paused on the replica,
// an event awards counts and a registry change made on the primary are not
// visible through the public APIs, which read from the replica, while the
// lag shows in /readyz and /metrics; once replay resumes the reads catch up.
func TestPublicReadsFromAReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL clusters and NATS")
	}
	ctx := t.Context()
	dir := harness.DataDir(t)
	primary, err := postgres.StartCluster(ctx, postgres.ClusterConfig{DataDir: filepath.Join(dir, "primary"), Ephemeral: true, Password: "replica-test-password"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = primary.Stop(context.Background()) })
	if err := primary.CreateDatabase(ctx, "clickstream"); err != nil {
		t.Fatal(err)
	}
	replica, err := postgres.StartReplica(ctx, primary, postgres.ClusterConfig{DataDir: filepath.Join(dir, "replica"), Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.Stop(context.Background()) })

	cfg := harness.DevConfig(dir, testAdminToken, testPIISecret)
	cfg.DatabaseURL, cfg.DatabaseReadURL = primary.URL("clickstream"), replica.URL("clickstream")
	s := harness.StartStack(t, cfg)
	onPrimary, err := postgres.Open(ctx, primary.URL("clickstream"))
	if err != nil {
		t.Fatal(err)
	}
	defer onPrimary.Close()
	onReplica, err := postgres.Open(ctx, replica.URL("clickstream"))
	if err != nil {
		t.Fatal(err)
	}
	defer onReplica.Close()

	// The stack migrated the primary, and replication brought the schemas.
	// `clickstream migrate` against the standby says to migrate the primary;
	// a service started on it skips its migrations without error.
	if err := platform.Migrate(ctx, replica.URL("clickstream")); err == nil {
		t.Error("`clickstream migrate` against the replica succeeded; want an error naming the standby")
	} else {
		t.Logf("migrate against the replica: %v", err)
	}
	onStandby, err := platform.Start(ctx, platform.Config{DataDir: harness.DataDir(t), DatabaseURL: replica.URL("clickstream"),
		Services: []string{platform.Awards}, Addrs: map[string]string{platform.Awards: "127.0.0.1:0"}, RegistryURL: s.URL(platform.Registry)})
	if err != nil {
		t.Errorf("awards started on the standby: %v; want its migrations skipped", err)
	} else {
		onStandby.Close()
	}

	// Caught up: a photo counts, and the public API sees it from the replica.
	send(t, s, "replica-photo-1", 2001, 2, `{"context":{"userId":"u-replica"},"photoId":"p-1","objectId":"cafe-1","status":"CONTENT_STATUS_ACTIVE"}`)
	waitProgress(t, s, "local-guide", 1)
	regRead := registryv1connect.NewRegistryServiceClient(http.DefaultClient, s.URL(platform.Registry))
	regAdmin := registryv1connect.NewRegistryAdminServiceClient(harness.BearerClient(testAdminToken), s.URL(platform.Registry))
	ownerBefore := eventOwner(t, regRead, 2001)
	if ready, check := readiness(t, s.URL(platform.Awards)); ready != "ready" {
		t.Errorf("/readyz of awards on a caught-up replica = %s (postgres replica: %s), want ready", ready, check)
	}

	// Paused: the primary moves on, the replica's readers do not.
	if _, err := onReplica.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replay paused", func() bool {
		return harness.Scalar[string](t, onReplica, `SELECT pg_get_wal_replay_pause_state()`) == "paused"
	})
	send(t, s, "replica-trip-1", 2004, 1, `{"context":{"userId":"u-replica"},"tripId":"t-1","distanceM":"10000"}`)
	waitFor(t, "awards counts the trip on the primary", func() bool {
		return harness.Scalar[float64](t, onPrimary, `SELECT coalesce(max(progress), 0)::float8 FROM awards.user_achievements
			WHERE user_id = 'u-replica' AND achievement_id = 'navigator-10km'`) == 10
	})
	if _, err := regAdmin.SetOwner(ctx, &registryv1.SetOwnerRequest{EventId: 2001,
		Owner: &registryv1.Owner{Team: "replica-team", Contact: "#replica"}, Actor: "replica test"}); err != nil {
		t.Fatal(err)
	}
	if got := progressOf(t, s)["navigator-10km"]; got != 0 {
		t.Errorf("public API with replay paused: navigator-10km progress %v, want 0 (the replica has not replayed the trip)", got)
	}
	if got := eventOwner(t, regRead, 2001); got != ownerBefore {
		t.Errorf("registry GetEvent with replay paused: owner %q, want the replica's %q", got, ownerBefore)
	}
	// The primary's WAL reaches the replica asynchronously (the test cluster
	// commits without waiting for its WAL flush): wait until it is there.
	waitFor(t, "the replica receives the WAL it does not replay", func() bool {
		return metric(t, s.URL(platform.Awards), "clickstream_postgres_replica_lag_bytes") > 0
	})
	for _, name := range []string{platform.Awards, platform.Registry} {
		ready, check := readiness(t, s.URL(name))
		t.Logf("%s /readyz with replay paused: %s; postgres replica: %s", name, ready, check)
		if ready != "degraded" || !strings.Contains(check, "paused") || !strings.Contains(check, "behind the primary") {
			t.Errorf("%s /readyz = %s, postgres replica %q; want degraded with the lag and the pause", name, ready, check)
		}
	}
	lag := metric(t, s.URL(platform.Awards), "clickstream_postgres_replica_lag_seconds")
	lagBytes := metric(t, s.URL(platform.Awards), "clickstream_postgres_replica_lag_bytes")
	t.Logf("replica lag with replay paused: %.3f s, %.0f bytes of WAL", lag, lagBytes)
	if lag <= 0 || lagBytes <= 0 {
		t.Errorf("clickstream_postgres_replica_lag_seconds = %v, _bytes = %v while paused; want both above 0", lag, lagBytes)
	}

	// Resumed: the reads catch up.
	if _, err := onReplica.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, s, "navigator-10km", 10)
	waitFor(t, "the registry's reads see the new owner", func() bool { return eventOwner(t, regRead, 2001) == "replica-team" })
	if ready, check := readiness(t, s.URL(platform.Awards)); ready != "ready" {
		t.Errorf("/readyz of awards after resuming = %s (postgres replica: %s), want ready", ready, check)
	}
	// The primary keeps writing (workers, usage), so a sample may catch WAL
	// received and not yet replayed; once the replica has replayed all it
	// received the metric says 0.
	waitFor(t, "clickstream_postgres_replica_lag_seconds back to 0 after catching up", func() bool {
		lag = metric(t, s.URL(platform.Awards), "clickstream_postgres_replica_lag_seconds")
		return lag == 0
	})
	t.Logf("replica lag after resuming: %.3f s", lag)
}

// send sends one JSON event through ingest and fails unless it is accepted.
func send(t *testing.T, s *harness.Stack, key string, id, version uint32, data string) {
	t.Helper()
	resp, err := ingestClient(s.URL(platform.Ingest), s.IngestKey()).SendBatch(t.Context(), &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{
		{IdempotencyKey: key, Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{EventId: id, Version: version, Data: mustStruct(t, data)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccepted() != 1 {
		t.Fatalf("ingest did not accept %s: %v", key, resp.GetResults())
	}
}

// progressOf reads replicaUser's achievements through the public REST API.
func progressOf(t *testing.T, s *harness.Stack) map[string]float64 {
	t.Helper()
	return userProgress(t, s.URL(platform.Awards), replicaUser)
}

func waitProgress(t *testing.T, s *harness.Stack, achievement string, want float64) {
	t.Helper()
	waitFor(t, achievement+" progress "+strconv.FormatFloat(want, 'f', -1, 64)+" in the public API",
		func() bool { return progressOf(t, s)[achievement] == want })
}

func eventOwner(t *testing.T, c registryv1connect.RegistryServiceClient, id uint32) string {
	t.Helper()
	resp, err := c.GetEvent(t.Context(), &registryv1.GetEventRequest{EventId: id})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetEvent().GetOwner().GetTeam()
}

// readiness returns the status of /readyz and the "postgres replica"
// check's error (or status).
func readiness(t *testing.T, base string) (string, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	check, ok := body.Checks["postgres replica"]
	if !ok {
		t.Fatalf("/readyz of %s has no postgres replica check: %+v", base, body)
	}
	if check.Error != "" {
		return body.Status, check.Error
	}
	return body.Status, check.Status
}

// metric returns the value of an unlabelled metric on base's /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	v, found, err := harness.Metric(t.Context(), base, name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !found {
		t.Fatalf("%s/metrics has no %s", base, name)
	}
	return v
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

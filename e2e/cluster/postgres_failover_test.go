package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// failoverBound is how long each service may take to work again on the promoted replica.
const failoverBound = time.Minute

// failoverUser is the user whose achievements the failover test follows.
const failoverUser = "u-failover"

// TestPostgresFailover runs registry, ingest and awards on the PostgreSQL topology of
// `make cluster` — a primary and a streaming replica copied with pg_basebackup — given a
// multi-host URL with target_session_attrs=read-write, as docs/operations.md says. It
// stops the primary, promotes the replica (what Patroni or a managed service would do)
// and checks, without restarting anything, that within failoverBound the registry takes
// an owner change and shows it, ingest creates an API key and copies an event sent after
// the failover into its warehouse table, and awards counts that event in the public API;
// and that what was written before the failover is still there.
func TestPostgresFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL clusters, NATS and the three services")
	}
	ctx := t.Context()
	dir := harness.DataDir(t)
	primary, err := postgres.StartCluster(ctx, postgres.ClusterConfig{DataDir: filepath.Join(dir, "primary"), Ephemeral: true, Password: "failover-test-password"})
	if err != nil {
		t.Fatal(err)
	}
	primaryStopped := false
	t.Cleanup(func() {
		if !primaryStopped {
			_ = primary.Stop(context.Background())
		}
	})
	if err := primary.CreateDatabase(ctx, "clickstream"); err != nil {
		t.Fatal(err)
	}
	replica, err := postgres.StartReplica(ctx, primary, postgres.ClusterConfig{DataDir: filepath.Join(dir, "replica"), Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.Stop(context.Background()) })

	dbURL := multiHostURL(t, primary.URL("clickstream"), replica.Port())
	t.Logf("services use %s", postgres.Redact(dbURL))
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warnings and errors of the services (last 4 KiB):\n%s", logs.tail(4096))
		}
	})
	s := harness.StartStack(t, platform.Config{
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		DataDir:     dir,
		DatabaseURL: dbURL,
		Addrs:       map[string]string{platform.Registry: "127.0.0.1:0", platform.Ingest: "127.0.0.1:0", platform.Awards: "127.0.0.1:0"},
		Awards:      platform.AwardsConfig{Starter: true},
		AdminToken:  adminToken,
		Ingest:      ingest.Config{PIISecret: piiSecret},
	})
	registryAdmin := registryv1connect.NewRegistryAdminServiceClient(harness.BearerClient(adminToken), s.URL(platform.Registry))
	registryRead := registryv1connect.NewRegistryServiceClient(http.DefaultClient, s.URL(platform.Registry))
	ingestAdmin := ingestv1connect.NewIngestAdminServiceClient(harness.BearerClient(adminToken), s.URL(platform.Ingest))
	events := ingestv1connect.NewIngestServiceClient(harness.BearerClient(s.IngestKey()), s.URL(platform.Ingest))

	// Before: a photo counts, an owner is set, on the primary.
	sendJSON(t, events, "failover-photo-1", 2001, 2, `{"context":{"userId":"u-failover"},"photoId":"p-1","objectId":"cafe-1","status":"CONTENT_STATUS_ACTIVE"}`)
	waitUntil(t, "local-guide progress 1 before the failover", failoverBound, func() error {
		return wantProgress(s.URL(platform.Awards), "local-guide", 1)
	})
	setOwner := func(team string) error {
		_, err := registryAdmin.SetOwner(ctx, &registryv1.SetOwnerRequest{EventId: 2001,
			Owner: &registryv1.Owner{Team: team, Contact: "#" + team}, Actor: "failover test"})
		return err
	}
	if err := setOwner("before-failover"); err != nil {
		t.Fatal(err)
	}
	onReplica, err := postgres.Open(ctx, replica.URL("clickstream"))
	if err != nil {
		t.Fatal(err)
	}
	defer onReplica.Close()
	// Asynchronous replication: wait until the replica has what the primary wrote.
	waitUntil(t, "the replica replays the owner change", failoverBound, func() error {
		var team string
		if err := onReplica.QueryRow(ctx, `SELECT coalesce((SELECT team FROM registry.owners WHERE event_id = 2001), '')`).Scan(&team); err != nil {
			return err
		}
		if team != "before-failover" {
			return fmt.Errorf("owner %q on the replica", team)
		}
		return nil
	})
	// And the photo sent before the failover, loaded into its warehouse
	// table on the primary, is on the replica too.
	waitUntil(t, "the replica has the photo's warehouse row", failoverBound, func() error {
		var n int
		if err := onReplica.QueryRow(ctx, `SELECT count(*) FROM warehouse.photo_status_changed WHERE event_id = 'failover-photo-1'`).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})

	// The primary goes away; the replica is promoted.
	if err := primary.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	primaryStopped = true
	stopped := time.Now()
	// No primary: the replica is read-only, so no host of the URL qualifies and writes
	// fail (the test would prove nothing if they did not).
	waitUntil(t, "registry: a write fails while there is no primary", failoverBound, func() error {
		err := setOwner("no-primary")
		switch {
		case err == nil:
			return errors.New("an owner change succeeded with the primary stopped and the replica not promoted")
		case connect.CodeOf(err) != connect.CodeUnavailable || strings.Contains(err.Error(), "user="):
			// Clients retry Unavailable; the database's user and address
			// are not theirs to see.
			return fmt.Errorf("SetOwner with no primary answered %v; want Unavailable without the database's text", err)
		}
		t.Logf("registry SetOwner with no primary: %v", err)
		return nil
	})
	time.Sleep(2 * time.Second) // a failover tool takes a moment to decide
	if err := setOwner("no-primary"); err == nil {
		t.Fatal("an owner change succeeded with the primary stopped and the replica not promoted")
	}
	var promoted bool
	if err := onReplica.QueryRow(ctx, `SELECT pg_promote(true, 60)`).Scan(&promoted); err != nil || !promoted {
		t.Fatalf("pg_promote on the replica: %v (promoted %v)", err, promoted)
	}
	t.Logf("primary stopped; replica promoted %.1f s later", time.Since(stopped).Seconds())

	// After: every service works on the promoted replica, without a restart.
	waitUntil(t, "registry: an owner change on the promoted replica", failoverBound, func() error {
		return setOwner("after-failover")
	})
	resp, err := registryRead.GetEvent(ctx, &registryv1.GetEventRequest{EventId: 2001})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetEvent().GetOwner().GetTeam(); got != "after-failover" {
		t.Errorf("registry GetEvent after the failover: owner %q, want after-failover", got)
	}
	t.Logf("registry writes again %.1f s after the primary stopped", time.Since(stopped).Seconds())

	waitUntil(t, "ingest: an API key created on the promoted replica", failoverBound, func() error {
		_, err := ingestAdmin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: "dev", Description: "after the failover", Actor: "failover test"})
		return err
	})
	t.Logf("ingest writes again %.1f s after the primary stopped", time.Since(stopped).Seconds())

	sendJSON(t, events, "failover-trip-1", 2004, 1, `{"context":{"userId":"u-failover"},"tripId":"t-1","distanceM":"4000"}`)
	waitUntil(t, "awards: the trip sent after the failover counts", failoverBound, func() error {
		return wantProgress(s.URL(platform.Awards), "navigator-10km", 4)
	})
	t.Logf("awards counts again %.1f s after the primary stopped", time.Since(stopped).Seconds())
	if err := wantProgress(s.URL(platform.Awards), "local-guide", 5); err != nil {
		t.Errorf("local-guide after the failover (the photo from before and the trip from after): %v", err)
	}
	waitUntil(t, "ingest: the trip is in the warehouse table of the promoted replica", failoverBound, func() error {
		var n int
		if err := onReplica.QueryRow(ctx, `SELECT count(*) FROM warehouse.navigation_trip_finished WHERE event_id = 'failover-trip-1'`).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})
	for _, name := range []string{platform.Registry, platform.Ingest, platform.Awards} {
		waitUntil(t, name+" /readyz says ready", failoverBound, func() error { return wantReady(s.URL(name)) })
	}
	rows := scalarInt(t, onReplica, `SELECT (SELECT count(*) FROM warehouse.photo_status_changed WHERE event_id = 'failover-photo-1') +
		(SELECT count(*) FROM warehouse.navigation_trip_finished WHERE event_id = 'failover-trip-1')`)
	t.Logf("on the promoted replica: %d of 2 events in the warehouse, every service ready %.1f s after the primary stopped", rows, time.Since(stopped).Seconds())
	if rows != 2 {
		t.Errorf("warehouse rows of the photo (before) and the trip (after) on the promoted replica = %d, want 2", rows)
	}
}

// multiHostURL adds the replica on 127.0.0.1:replicaPort as a second host of primaryURL
// and asks for the host that takes writes.
func multiHostURL(t *testing.T, primaryURL string, replicaPort int) string {
	t.Helper()
	u, err := url.Parse(primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host += ",127.0.0.1:" + strconv.Itoa(replicaPort)
	q := u.Query()
	q.Set("target_session_attrs", "read-write")
	u.RawQuery = q.Encode()
	return u.String()
}

func sendJSON(t *testing.T, c ingestv1connect.IngestServiceClient, key string, id, version uint32, data string) {
	t.Helper()
	payload := &structpb.Struct{}
	if err := payload.UnmarshalJSON([]byte(data)); err != nil {
		t.Fatal(err)
	}
	resp, err := c.SendBatch(t.Context(), &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{
		{IdempotencyKey: key, Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{EventId: id, Version: version, Data: payload}}},
	}})
	if err != nil {
		t.Fatalf("send %s: %v", key, err)
	}
	if resp.GetAccepted() != 1 {
		t.Fatalf("ingest did not accept %s: %v", key, resp.GetResults())
	}
}

// wantProgress checks failoverUser's progress of achievement in the public REST API.
func wantProgress(awardsURL, achievement string, want float64) error {
	resp, err := http.Get(awardsURL + "/v1/users/" + failoverUser + "/achievements")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET achievements: %s", resp.Status)
	}
	var body struct {
		Achievements []struct {
			Achievement struct {
				ID string `json:"id"`
			} `json:"achievement"`
			Progress float64 `json:"progress"`
		} `json:"achievements"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	for _, a := range body.Achievements {
		if a.Achievement.ID == achievement {
			if a.Progress != want {
				return fmt.Errorf("%s progress %v, want %v", achievement, a.Progress, want)
			}
			return nil
		}
	}
	return fmt.Errorf("no achievement %s for %s", achievement, failoverUser)
}

func wantReady(base string) error {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || body.Status != "ready" {
		return fmt.Errorf("/readyz %d %q", resp.StatusCode, body.Status)
	}
	return nil
}

// waitUntil polls check until it returns nil, failing the test with the last error
// after bound.
func waitUntil(t *testing.T, what string, bound time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, bound, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func scalarInt(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

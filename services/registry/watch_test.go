package registry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// watchTimeout bounds every wait for a revision.
const watchTimeout = 20 * time.Second

// connectClients serves the registry's Connect handlers and returns clients
// of its read and admin APIs. Streams opened with t.Context() end before the
// server closes.
func connectClients(t *testing.T, store registry.Store) (registryv1connect.RegistryServiceClient, registryv1connect.RegistryAdminServiceClient) {
	t.Helper()
	mux := http.NewServeMux()
	registry.Routes(registry.Config{}, registry.New(store), registry.NewAdmin(store)).Connect(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return registryv1connect.NewRegistryServiceClient(srv.Client(), srv.URL),
		registryv1connect.NewRegistryAdminServiceClient(srv.Client(), srv.URL)
}

// watchStream opens a WatchSchemas stream that ends with cancel or the test.
func watchStream(t *testing.T, client registryv1connect.RegistryServiceClient, environment string) (*connect.ServerStreamForClient[registryv1.WatchSchemasResponse], context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	stream, err := client.WatchSchemas(ctx, &registryv1.WatchSchemasRequest{Environment: environment})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return stream, func() {
		cancel()
		_ = stream.Close()
	}
}

// nextRevision waits for the next revision on a stream, past heartbeats.
func nextRevision(t *testing.T, name string, stream *connect.ServerStreamForClient[registryv1.WatchSchemasResponse]) uint64 {
	t.Helper()
	for {
		if !stream.Receive() {
			t.Fatalf("watch %s ended: %v", name, stream.Err())
		}
		if !stream.Msg().GetHeartbeat() {
			return stream.Msg().GetRevision()
		}
	}
}

func wantRevision(t *testing.T, name string, stream *connect.ServerStreamForClient[registryv1.WatchSchemasResponse], want uint64) {
	t.Helper()
	if got := nextRevision(t, name, stream); got != want {
		t.Errorf("watch %s received revision %d, want %d", name, got, want)
	}
}

// TestWatchSchemas watches over Connect: the current revision first, then
// each push and metadata change, for every subscriber, whoever leaves.
func TestWatchSchemas(t *testing.T) {
	store, _ := registeredStore(t)
	client, admin := connectClients(t, store)
	ctx := t.Context()

	a, leaveA := watchStream(t, client, "")
	defer leaveA()
	wantRevision(t, "a", a, 1)

	// A push.
	set := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV2)})
	pushed, err := admin.PushSchemas(ctx, &registryv1.PushSchemasRequest{FileDescriptorSet: set.FileDescriptorSet(), Author: "alice", Message: "PlaceCardOpenedV2"})
	if err != nil {
		t.Fatal(err)
	}
	if pushed.GetRevision() != 2 {
		t.Fatalf("push: revision %d, want 2", pushed.GetRevision())
	}
	wantRevision(t, "a", a, 2)

	// Environments must exist to be watched.
	unknown, leaveUnknown := watchStream(t, client, "web")
	if unknown.Receive() || connect.CodeOf(unknown.Err()) != connect.CodeNotFound {
		t.Errorf("watching an unknown environment: %v (%v), want NotFound", unknown.Err(), connect.CodeOf(unknown.Err()))
	}
	leaveUnknown()

	// Metadata changes.
	if _, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	wantRevision(t, "a", a, 3)
	b, leaveB := watchStream(t, client, "web")
	wantRevision(t, "b", b, 3)
	if _, err := admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 2005, Allowed: true, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	wantRevision(t, "a", a, 4)
	wantRevision(t, "b", b, 4)

	// b leaves; the others go on.
	leaveB()
	if _, err := admin.SetLifecycle(ctx, &registryv1.SetLifecycleRequest{EventId: 2005, Version: 1, Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	wantRevision(t, "a", a, 5)
	c, leaveC := watchStream(t, client, "")
	wantRevision(t, "c", c, 5)

	// Everyone leaves; a new subscriber starts the watch again.
	leaveA()
	leaveC()
	d, leaveD := watchStream(t, client, "web")
	defer leaveD()
	wantRevision(t, "d", d, 5)
	if _, err := admin.SetOwner(ctx, &registryv1.SetOwnerRequest{EventId: 2005, Owner: &registryv1.Owner{Team: "maps"}, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	wantRevision(t, "d", d, 6)
}

// TestWatchSchemasUnavailable: without a database the watch fails at once
// with Unavailable rather than hanging.
func TestWatchSchemasUnavailable(t *testing.T) {
	store, pool := registeredStore(t)
	client, _ := connectClients(t, store)
	pool.Close()
	stream, leave := watchStream(t, client, "")
	defer leave()
	if stream.Receive() || connect.CodeOf(stream.Err()) != connect.CodeUnavailable {
		t.Errorf("watch without a database: %v (%v), want Unavailable", stream.Err(), connect.CodeOf(stream.Err()))
	}
}

// receiveRevision waits for the next revision on a subscription.
func receiveRevision(t *testing.T, name string, revisions <-chan uint64) uint64 {
	t.Helper()
	select {
	case rev, ok := <-revisions:
		if !ok {
			t.Fatalf("subscription %s closed", name)
		}
		return rev
	case <-time.After(watchTimeout):
		t.Fatalf("subscription %s: no revision in %v", name, watchTimeout)
	}
	return 0
}

// newEnvironment makes a metadata change.
func newEnvironment(t *testing.T, admin *registry.AdminService, name string) {
	t.Helper()
	if _, err := admin.CreateEnvironment(t.Context(), &registryv1.CreateEnvironmentRequest{Name: name, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
}

// TestRevisionSubscriberSkipsToLatest: a subscriber that does not read holds
// up nobody and then gets the latest revision, not the backlog.
func TestRevisionSubscriberSkipsToLatest(t *testing.T) {
	store, _ := registeredStore(t)
	admin := registry.NewAdmin(store)
	slowCtx, leaveSlow := context.WithCancel(t.Context())
	defer leaveSlow()
	slow, err := store.SubscribeRevisions(slowCtx)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := store.SubscribeRevisions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := receiveRevision(t, "fast", fast); got != 1 {
		t.Fatalf("fast: first revision %d, want 1", got)
	}
	for i := range 5 {
		newEnvironment(t, admin, fmt.Sprintf("env-%d", i))
		if got := receiveRevision(t, "fast", fast); got != uint64(i+2) {
			t.Fatalf("fast: revision %d, want %d", got, i+2)
		}
	}
	var got []uint64
	for len(got) == 0 || got[len(got)-1] < 6 {
		got = append(got, receiveRevision(t, "slow", slow))
	}
	if len(got) > 2 || got[len(got)-1] != 6 {
		t.Errorf("slow subscriber received %v, want the latest, 6, after at most one older revision", got)
	}

	// Leaving closes the subscription; the others go on.
	leaveSlow()
	for range slow {
	}
	newEnvironment(t, admin, "after")
	if got := receiveRevision(t, "fast", fast); got != 7 {
		t.Errorf("fast: revision %d after slow left, want 7", got)
	}
}

// TestRevisionWatcherReconnects: when the listening connection drops, the
// watcher listens again and catches up.
func TestRevisionWatcherReconnects(t *testing.T) {
	store, pool := registeredStore(t)
	admin := registry.NewAdmin(store)
	revisions, err := store.SubscribeRevisions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := receiveRevision(t, "watch", revisions); got != 1 {
		t.Fatalf("first revision %d, want 1", got)
	}
	// Terminate the listening session and wait until it is gone.
	terminated := count(t, pool, `
		SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))
		FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'clickstream-registry-watch'`)
	if terminated != 1 {
		t.Fatalf("terminated %d listening sessions, want 1", terminated)
	}
	newEnvironment(t, admin, "web")
	if got := receiveRevision(t, "watch", revisions); got != 2 {
		t.Errorf("revision %d after the connection dropped, want 2", got)
	}
	newEnvironment(t, admin, "ios")
	if got := receiveRevision(t, "watch", revisions); got != 3 {
		t.Errorf("revision %d on the new connection, want 3", got)
	}
}

// TestWatchSchemasHeartbeats: while nothing changes the watch hears
// heartbeats carrying the current revision and the interval; a new
// revision still arrives as a revision.
func TestWatchSchemasHeartbeats(t *testing.T) {
	store, _ := registeredStore(t)
	mux := http.NewServeMux()
	registry.Routes(registry.Config{WatchHeartbeat: 20 * time.Millisecond}, registry.New(store), registry.NewAdmin(store)).Connect(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := registryv1connect.NewRegistryServiceClient(srv.Client(), srv.URL)
	stream, leave := watchStream(t, client, "")
	defer leave()

	wantRevision(t, "watch", stream, 1)
	for range 3 {
		if !stream.Receive() {
			t.Fatalf("watch ended: %v", stream.Err())
		}
		msg := stream.Msg()
		if !msg.GetHeartbeat() || msg.GetRevision() != 1 || msg.GetHeartbeatIntervalSeconds() != 1 {
			t.Fatalf("while nothing changes the watch received %v, want heartbeats of revision 1 announcing a 1 s interval", msg)
		}
	}
	newEnvironment(t, registry.NewAdmin(store), "web")
	wantRevision(t, "watch", stream, 2)
}

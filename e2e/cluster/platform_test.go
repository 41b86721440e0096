package cluster_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

const (
	adminToken  = "cluster-admin-token"
	piiSecret   = "cluster-pii-secret"
	environment = "cluster"
	// navigationTripFinished is the event id of NavigationTripFinished in the starter
	// catalogue.
	navigationTripFinished = 2004
	replicas               = 3
)

// testbed is what the tests run on: a 3-node JetStream cluster, a registry with its own
// private PostgreSQL, and ingest instances on that database and the cluster.
type testbed struct {
	nats     *bus.LocalCluster
	registry *harness.Stack
	ingests  []*harness.Stack
	apiKey   string
	logs     *syncBuffer
}

// startPlatform starts the cluster, the registry and n ingest instances, creates the
// environment the tests send in and an API key for it, and stops everything at cleanup.
func startPlatform(t testing.TB, n int) *testbed {
	t.Helper()
	p := &testbed{nats: bustest.NewCluster(t, 3), logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warnings and errors of the services (last 4 KiB):\n%s", p.logs.tail(4096))
		}
	})

	p.registry = harness.StartStack(t, platform.Config{
		DataDir:    harness.DataDir(t),
		NATSURL:    p.nats.URL(), // the registry needs no bus; this keeps an embedded one from starting
		Services:   []string{platform.Registry},
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0"},
		AdminToken: adminToken,
		Logger:     logger,
	})
	ctx := context.Background()
	registryAdmin := registryv1connect.NewRegistryAdminServiceClient(harness.BearerClient(adminToken), p.registry.URL(platform.Registry))
	if _, err := registryAdmin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{
		Name: environment, Description: "scale-out tests", Actor: "cluster test"}); err != nil {
		t.Fatalf("create environment %s: %v", environment, err)
	}
	if _, err := registryAdmin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{
		Environment: environment, EventId: navigationTripFinished, Allowed: true, Actor: "cluster test"}); err != nil {
		t.Fatalf("allow NavigationTripFinished in %s: %v", environment, err)
	}

	for range n {
		p.ingests = append(p.ingests, harness.StartStack(t, platform.Config{
			DataDir:     harness.DataDir(t),
			DatabaseURL: p.registry.DatabaseURL(),
			NATSURL:     p.nats.URL(),
			Streams:     bus.StreamsConfig{Replicas: replicas},
			// A batch caught by a leader election answers Unavailable after
			// a second rather than the default five.
			BusAckTimeout: time.Second,
			RegistryURL:   p.registry.URL(platform.Registry),
			Services:      []string{platform.Ingest},
			Addrs:         map[string]string{platform.Ingest: "127.0.0.1:0"},
			AdminToken:    adminToken,
			Ingest:        ingest.Config{PIISecret: piiSecret},
			Logger:        logger,
		}))
	}
	ingestAdmin := ingestv1connect.NewIngestAdminServiceClient(harness.BearerClient(adminToken), p.ingestURL(0))
	key, err := ingestAdmin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: environment, Description: "cluster test", Actor: "cluster test"})
	if err != nil {
		t.Fatalf("create an API key: %v", err)
	}
	p.apiKey = key.GetSecret()
	return p
}

func (p *testbed) ingestURL(i int) string { return p.ingests[i].URL(platform.Ingest) }

// ingestURLs are the addresses of the first n ingest instances.
func (p *testbed) ingestURLs(n int) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = p.ingestURL(i)
	}
	return urls
}

// workload is the events a run sends: NavigationTripFinishedV1 of 20 users, every tenth
// one without its required trip id (so it is rejected and dead-lettered), with keys
// unique in the run.
func workload(n int, prefix string) harness.Workload {
	return harness.Workload{N: n, Prefix: prefix, Users: 20, UserPrefix: "cluster-user", InvalidPercent: 10}
}

// syncBuffer is a buffer the services' loggers write to concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	data := b.buf.Bytes()
	return string(data[max(0, len(data)-n):])
}

package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
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
	registry *platform.Stack
	ingests  []*platform.Stack
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

	p.registry = run(t, platform.Config{
		DataDir:    dataDir(t),
		NATSURL:    p.nats.URL(), // the registry needs no bus; this keeps an embedded one from starting
		Services:   []string{platform.Registry},
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0"},
		AdminToken: adminToken,
		Logger:     logger,
	})
	ctx := context.Background()
	registryAdmin := registryv1connect.NewRegistryAdminServiceClient(bearerClient(adminToken), p.registry.URL(platform.Registry))
	if _, err := registryAdmin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{
		Name: environment, Description: "scale-out tests", Actor: "cluster test"}); err != nil {
		t.Fatalf("create environment %s: %v", environment, err)
	}
	if _, err := registryAdmin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{
		Environment: environment, EventId: navigationTripFinished, Allowed: true, Actor: "cluster test"}); err != nil {
		t.Fatalf("allow NavigationTripFinished in %s: %v", environment, err)
	}

	for range n {
		p.ingests = append(p.ingests, run(t, platform.Config{
			DataDir:     dataDir(t),
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
	ingestAdmin := ingestv1connect.NewIngestAdminServiceClient(bearerClient(adminToken), p.ingestURL(0))
	key, err := ingestAdmin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: environment, Description: "cluster test", Actor: "cluster test"})
	if err != nil {
		t.Fatalf("create an API key: %v", err)
	}
	p.apiKey = key.GetSecret()
	return p
}

func (p *testbed) ingestURL(i int) string { return p.ingests[i].URL(platform.Ingest) }

// run starts a stack, serves it until cleanup and waits until it is ready.
func run(t testing.TB, cfg platform.Config) *platform.Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	startCtx, cancelStart := context.WithTimeout(ctx, time.Minute)
	defer cancelStart()
	s, err := platform.Start(startCtx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start %v: %v", cfg.Services, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%v stopped with error: %v", cfg.Services, err)
		}
	})
	if err := s.WaitReady(startCtx); err != nil {
		t.Fatalf("%v not ready: %v", cfg.Services, err)
	}
	return s
}

// dataDir returns a directory the postgres OS user can enter when the tests run as root.
func dataDir(t testing.TB) string {
	t.Helper()
	return pgtest.DataDir(t)
}

// workload is the events a run sends: NavigationTripFinishedV1 of a few users, every
// tenth one without its required trip id (so it is rejected and dead-lettered). The key
// of event i is unique in the run.
type workload struct {
	n      int
	prefix string
}

func (w workload) key(i int) string { return fmt.Sprintf("%s-%06d", w.prefix, i) }
func (w workload) valid(i int) bool { return i%10 != 7 }

func (w workload) event(i int) *ingestv1.Event {
	trip := &eventsv1.NavigationTripFinishedV1{
		Context:   &eventsv1.Context{UserId: fmt.Sprintf("cluster-user-%02d", i%20)},
		DistanceM: int64(100 + i%900),
		Arrived:   true,
	}
	if w.valid(i) {
		trip.TripId = fmt.Sprintf("trip-%d", i)
	}
	payload, err := anypb.New(trip)
	if err != nil {
		panic(err)
	}
	return &ingestv1.Event{IdempotencyKey: w.key(i), Payload: &ingestv1.Event_Typed{Typed: payload}}
}

func (w workload) batch(start, size int) *ingestv1.SendBatchRequest {
	req := &ingestv1.SendBatchRequest{}
	for i := start; i < min(start+size, w.n); i++ {
		req.Events = append(req.Events, w.event(i))
	}
	return req
}

// streamKeys reads every message of stream and returns how often each Nats-Msg-Id
// occurs, with prefix removed. A read that fails (a node just restarted) starts over.
func streamKeys(ctx context.Context, t testing.TB, natsURL, stream, prefix string) map[string]int {
	t.Helper()
	var err error
	for attempt := 1; attempt <= 10; attempt++ {
		var keys map[string]int
		if keys, err = readStreamKeys(ctx, natsURL, stream, prefix); err == nil {
			return keys
		}
		t.Logf("read %s (attempt %d): %v", stream, attempt, err)
		time.Sleep(time.Second)
	}
	t.Fatalf("read %s: %v", stream, err)
	return nil
}

func readStreamKeys(ctx context.Context, natsURL, stream, prefix string) (map[string]int, error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	keys := map[string]int{}
	if info.State.Msgs == 0 {
		return keys, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	for read := uint64(0); read < info.State.Msgs; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			keys[strings.TrimPrefix(m.Headers().Get(jetstream.MsgIDHeader), prefix)]++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if got == 0 {
			return nil, fmt.Errorf("%d of %d messages, then nothing", read, info.State.Msgs)
		}
		read += uint64(got)
	}
	return keys, nil
}

// bearerClient is an HTTP client sending "Authorization: Bearer <token>".
func bearerClient(token string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: bearer{token: token, next: http.DefaultTransport}}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// ingestClients are one Connect client per ingest instance, with the API key.
func (p *testbed) ingestClients(n int) []ingestv1connect.IngestServiceClient {
	hc := bearerClient(p.apiKey)
	clients := make([]ingestv1connect.IngestServiceClient, n)
	for i := range clients {
		clients[i] = ingestv1connect.NewIngestServiceClient(hc, p.ingestURL(i))
	}
	return clients
}

// codeOf names the error a batch got, for the tallies ("unknown" for a connection that
// failed).
func codeOf(err error) string { return connect.CodeOf(err).String() }

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

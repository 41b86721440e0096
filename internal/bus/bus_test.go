package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
)

// open opens a bus with cfg and closes it at cleanup.
func open(t testing.TB, cfg bus.Config) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(b.Close)
	return b
}

// eventMessages returns n messages on one event subject with MsgIDs "<prefix>-<i>".
func eventMessages(n int, prefix string) []bus.Message {
	msgs := make([]bus.Message, n)
	for i := range msgs {
		msgs[i] = bus.Message{
			Subject: "events.test.photo_uploaded.v1",
			MsgID:   fmt.Sprintf("%s-%d", prefix, i),
			Data:    fmt.Appendf(nil, "payload %d", i),
		}
	}
	return msgs
}

// streamMsgs returns how many messages stream name holds.
func streamMsgs(t testing.TB, b *bus.Bus, name string) uint64 {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s info: %v", name, err)
	}
	return info.State.Msgs
}

// mustPublishAll publishes msgs and fails the test unless every message was stored.
func mustPublishAll(t testing.TB, b *bus.Bus, msgs []bus.Message) []bus.PublishResult {
	t.Helper()
	results, err := b.PublishAll(context.Background(), msgs)
	if err != nil {
		t.Fatalf("PublishAll: %v", err)
	}
	if len(results) != len(msgs) {
		t.Fatalf("PublishAll returned %d results for %d messages", len(results), len(msgs))
	}
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("results[%d].Err = %v", i, r.Err)
		}
	}
	return results
}

func TestRestartKeepsMessages(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	msgs := eventMessages(50, "restart")

	first, err := bus.Open(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	stored := mustPublishAll(t, first, msgs)
	first.Close()
	first.Close() // idempotent

	second := open(t, bus.Config{DataDir: dir, DuplicateWindow: time.Hour})
	if got := streamMsgs(t, second, bus.StreamEvents); got != uint64(len(msgs)) {
		t.Fatalf("after restart stream %s holds %d messages, want %d", bus.StreamEvents, got, len(msgs))
	}
	// The dedupe window survives the restart, so a client retrying a batch stored before
	// the restart does not store it twice.
	again := mustPublishAll(t, second, msgs)
	for i, r := range again {
		if !r.Duplicate || r.Sequence != stored[i].Sequence {
			t.Errorf("after restart results[%d] = %+v, want duplicate of sequence %d", i, r, stored[i].Sequence)
		}
	}
	if got := streamMsgs(t, second, bus.StreamEvents); got != uint64(len(msgs)) {
		t.Errorf("after republishing stream %s holds %d messages, want %d", bus.StreamEvents, got, len(msgs))
	}
	// EnsureStreams on Open applied the new configuration to the existing stream.
	s, err := second.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := s.CachedInfo().Config.Duplicates; got != time.Hour {
		t.Errorf("duplicate window after reopening with 1h = %s", got)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  bus.Config
		want string
	}{
		{"no data dir", bus.Config{}, "DataDir is required"},
		{"replicas on embedded", bus.Config{DataDir: t.TempDir(), Streams: bus.StreamsConfig{Replicas: 3}}, "3 replicas need an external NATS cluster"},
		{"negative replicas", bus.Config{DataDir: t.TempDir(), Streams: bus.StreamsConfig{Replicas: -1}}, "replicas -1"},
		{"bad listen addr", bus.Config{DataDir: t.TempDir(), ListenAddr: "localhost"}, `listen address "localhost"`},
		{"bad listen port", bus.Config{DataDir: t.TempDir(), ListenAddr: "localhost:http"}, `port "http"`},
		{"data dir with url", bus.Config{URL: "nats://127.0.0.1:1", DataDir: t.TempDir()}, "embedded server only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bus.Open(context.Background(), tt.cfg)
			if err == nil {
				b.Close()
				t.Fatalf("Open(%+v) succeeded, want error containing %q", tt.cfg, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%+v) error = %q, want it to contain %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func TestOpenReportsListenFailure(t *testing.T) {
	first := open(t, bus.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0"})
	addr := strings.TrimPrefix(first.ClientURL(), "nats://")
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), ListenAddr: addr})
	if err == nil {
		b.Close()
		t.Fatalf("Open on the busy address %s succeeded", addr)
	}
	if !strings.Contains(err.Error(), "failed to start") {
		t.Errorf("Open on a busy address: error = %q, want the listen failure", err)
	}
}

func TestListenAddrServesNetworkClients(t *testing.T) {
	b := open(t, bus.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0"})
	url := b.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("ClientURL() = %q, want nats://127.0.0.1:<port>", url)
	}

	// A separate process would connect like this and see the stream the bus wrote to.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	ack, err := js.Publish(context.Background(), "deadletter.test.unknown_event", []byte("raw"))
	if err != nil {
		t.Fatalf("publish over the network: %v", err)
	}
	if ack.Stream != bus.StreamDeadLetter {
		t.Errorf("network publish stored in %q, want %q", ack.Stream, bus.StreamDeadLetter)
	}
	if got := streamMsgs(t, b, bus.StreamDeadLetter); got != 1 {
		t.Errorf("stream %s holds %d messages, want 1", bus.StreamDeadLetter, got)
	}
}

func TestReady(t *testing.T) {
	b := open(t, bus.Config{DataDir: t.TempDir()})
	if err := b.Ready(context.Background()); err != nil {
		t.Fatalf("Ready on a running bus: %v", err)
	}
	bus.ShutdownServer(b)
	waitDisconnected(t, b)
	if err := b.Ready(context.Background()); err == nil {
		t.Fatal("Ready after the server shut down = nil, want error")
	}
}

func TestClosedBusRefusesBatches(t *testing.T) {
	b := bustest.New(t)
	b.Close()
	results, err := b.PublishAll(context.Background(), eventMessages(3, "closed"))
	if !errors.Is(err, bus.ErrClosed) {
		t.Errorf("PublishAll after Close: error = %v, want ErrClosed", err)
	}
	for i, r := range results {
		if r.Err == nil {
			t.Errorf("results[%d].Err = nil after Close", i)
		}
	}
}

func TestOpenExternalURL(t *testing.T) {
	server := open(t, bus.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0"})
	client := open(t, bus.Config{URL: server.ClientURL()})
	if got := client.ClientURL(); got != server.ClientURL() {
		t.Errorf("ClientURL() = %q, want the configured URL %q", got, server.ClientURL())
	}
	if err := client.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	mustPublishAll(t, client, eventMessages(10, "external"))
	if got := streamMsgs(t, server, bus.StreamEvents); got != 10 {
		t.Errorf("stream %s holds %d messages, want 10", bus.StreamEvents, got)
	}
}

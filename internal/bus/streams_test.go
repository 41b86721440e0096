package bus_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
)

func TestEnsureStreams(t *testing.T) {
	b := bustest.New(t)
	ctx := context.Background()
	// Open already ensured them once; twice more must change nothing.
	for range 2 {
		if err := b.EnsureStreams(ctx); err != nil {
			t.Fatalf("EnsureStreams: %v", err)
		}
	}

	want := map[string]string{
		bus.StreamEvents:     "events.>",
		bus.StreamDeadLetter: "deadletter.>",
		bus.StreamAwards:     "awards.>",
	}
	var names []string
	for name := range b.JetStream().StreamNames(ctx).Name() {
		names = append(names, name)
	}
	slices.Sort(names)
	if wantNames := []string{bus.StreamAwards, bus.StreamDeadLetter, bus.StreamEvents}; !slices.Equal(names, wantNames) {
		t.Errorf("streams = %v, want %v", names, wantNames)
	}
	for name, subject := range want {
		s, err := b.JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		cfg := s.CachedInfo().Config
		if !slices.Equal(cfg.Subjects, []string{subject}) {
			t.Errorf("stream %s subjects = %v, want [%s]", name, cfg.Subjects, subject)
		}
		if cfg.Storage != jetstream.FileStorage {
			t.Errorf("stream %s storage = %v, want file", name, cfg.Storage)
		}
		if cfg.Duplicates != 24*time.Hour {
			t.Errorf("stream %s duplicate window = %s, want 24h", name, cfg.Duplicates)
		}
		if cfg.Replicas != 1 {
			t.Errorf("stream %s replicas = %d, want 1", name, cfg.Replicas)
		}
	}
}

// streamConfig returns the configuration stream name has now.
func streamConfig(t testing.TB, b *bus.Bus, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s info: %v", name, err)
	}
	return info.Config
}

// logBuffer is a slog logger writing text into a buffer the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// TestStreamReplicasOnACluster raises the replicas of the streams on a 3-node cluster and
// shows that a bus configured with fewer never lowers them.
func TestStreamReplicasOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	c := bustest.NewCluster(t, 3)
	names := []string{bus.StreamEvents, bus.StreamDeadLetter, bus.StreamAwards}

	first := open(t, bus.Config{URL: c.URL()})
	for _, name := range names {
		if got := streamConfig(t, first, name).Replicas; got != 1 {
			t.Errorf("stream %s created with %d replicas, want 1", name, got)
		}
	}
	mustPublishAll(t, first, eventMessages(20, "before-r3"))

	raised := open(t, bus.Config{URL: c.URL(), Streams: bus.StreamsConfig{Replicas: 3}})
	for _, name := range names {
		if got := streamConfig(t, raised, name).Replicas; got != 3 {
			t.Errorf("stream %s has %d replicas after opening with 3, want 3", name, got)
		}
	}
	if got := streamMsgs(t, raised, bus.StreamEvents); got != 20 {
		t.Errorf("stream %s holds %d messages after raising its replicas, want 20", bus.StreamEvents, got)
	}

	var logs logBuffer
	lower := open(t, bus.Config{URL: c.URL(), Streams: bus.StreamsConfig{Replicas: 1}, Logger: logs.logger()})
	for _, name := range names {
		if got := streamConfig(t, lower, name).Replicas; got != 3 {
			t.Errorf("stream %s has %d replicas after opening with 1, want the 3 it had", name, got)
		}
	}
	if !strings.Contains(logs.String(), "keeps the replicas it has") {
		t.Errorf("opening with fewer replicas logged no word of keeping them:\n%s", logs.String())
	}

	// Replicas beyond the cluster's size fail with the stream's name.
	_, err := bus.Open(context.Background(), bus.Config{URL: c.URL(), Streams: bus.StreamsConfig{Replicas: 5}})
	if err == nil || !strings.Contains(err.Error(), "replicas 3 → 5") {
		t.Errorf("Open with 5 replicas on 3 nodes: error = %v, want one naming the change", err)
	}
}

// TestStreamLimits shows that limits are applied to new streams, loosened on existing
// ones, and tightened only when the config says so.
func TestStreamLimits(t *testing.T) {
	dir := t.TempDir()
	reopen := func(streams bus.StreamsConfig, logger *slog.Logger) *bus.Bus {
		t.Helper()
		b, err := bus.Open(context.Background(), bus.Config{DataDir: dir, Streams: streams, Logger: logger})
		if err != nil {
			t.Fatalf("Open with %+v: %v", streams, err)
		}
		t.Cleanup(b.Close)
		return b
	}
	check := func(b *bus.Bus, step string, age time.Duration, bytes int64) {
		t.Helper()
		for _, name := range []string{bus.StreamEvents, bus.StreamDeadLetter} {
			cfg := streamConfig(t, b, name)
			if cfg.MaxAge != age || cfg.MaxBytes != bytes {
				t.Errorf("%s: stream %s max age %s, max bytes %d; want %s, %d", step, name, cfg.MaxAge, cfg.MaxBytes, age, bytes)
			}
		}
		if cfg := streamConfig(t, b, bus.StreamAwards); cfg.MaxAge != 0 || cfg.MaxBytes != -1 {
			t.Errorf("%s: stream %s max age %s, max bytes %d; want no limits", step, bus.StreamAwards, cfg.MaxAge, cfg.MaxBytes)
		}
	}
	const mb = 1 << 20

	b := reopen(bus.StreamsConfig{MaxAge: 48 * time.Hour, MaxBytes: 64 * mb}, nil)
	check(b, "created", 48*time.Hour, 64*mb)
	mustPublishAll(t, b, eventMessages(10, "limits"))
	b.Close()

	var logs logBuffer
	b = reopen(bus.StreamsConfig{MaxAge: 24 * time.Hour, MaxBytes: 32 * mb}, logs.logger())
	check(b, "tighter limits without shrink", 48*time.Hour, 64*mb)
	for _, want := range []string{"keeps its longer max age", "keeps its larger max bytes"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("keeping looser limits logged no %q:\n%s", want, logs.String())
		}
	}
	b.Close()

	b = reopen(bus.StreamsConfig{MaxAge: 24 * time.Hour, MaxBytes: 32 * mb, ShrinkMaxAge: true}, nil)
	check(b, "shrink max age only", 24*time.Hour, 64*mb)
	b.Close()

	b = reopen(bus.StreamsConfig{MaxAge: 24 * time.Hour, MaxBytes: 32 * mb, ShrinkMaxBytes: true}, nil)
	check(b, "shrink max bytes", 24*time.Hour, 32*mb)
	b.Close()

	// Looser limits are applied without being asked: 0 is no limit.
	b = reopen(bus.StreamsConfig{}, nil)
	check(b, "no limits", 0, -1)
	if got := streamMsgs(t, b, bus.StreamEvents); got != 10 {
		t.Errorf("stream %s holds %d messages after the limit changes, want 10", bus.StreamEvents, got)
	}
	b.Close()

	// No limit on an existing stream is looser than any: a limit is then a shrink.
	logs = logBuffer{}
	b = reopen(bus.StreamsConfig{MaxAge: 7 * 24 * time.Hour}, logs.logger())
	check(b, "limit on an unlimited stream", 0, -1)
	if strings.Contains(logs.String(), "stream updated") {
		t.Errorf("an unchanged stream was updated:\n%s", logs.String())
	}
}

// TestEnsureStreamsKeepsOperatorSettings shows that settings the bus does not own stay as
// the operator set them, and that a stream needing no change is not updated.
func TestEnsureStreamsKeepsOperatorSettings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, bus.Config{DataDir: dir})
	s, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgs = 1000
	cfg.Subjects = append(cfg.Subjects, "replay.>")
	if _, err := b.JetStream().UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("operator's update: %v", err)
	}
	b.Close()

	var logs logBuffer
	b = open(t, bus.Config{DataDir: dir, Logger: logs.logger()})
	got := streamConfig(t, b, bus.StreamEvents)
	if got.MaxMsgs != 1000 || !slices.Equal(got.Subjects, []string{"events.>", "replay.>"}) {
		t.Errorf("after reopening: max msgs %d, subjects %v; want the operator's 1000 and [events.> replay.>]", got.MaxMsgs, got.Subjects)
	}
	if strings.Contains(logs.String(), "stream updated") {
		t.Errorf("reopening with the same config updated a stream:\n%s", logs.String())
	}
}

// TestOperatorManagedStreams checks streams without touching them: missing streams and
// wrong subjects fail with what to do.
func TestOperatorManagedStreams(t *testing.T) {
	ctx := context.Background()
	server := open(t, bus.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0"})
	js := server.JetStream()
	if err := js.DeleteStream(ctx, bus.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	managedOff := bus.Config{URL: server.ClientURL(), Streams: bus.StreamsConfig{OperatorManaged: true}}

	_, err := bus.Open(ctx, managedOff)
	if err == nil || !strings.Contains(err.Error(), "stream DEADLETTER does not exist") || !strings.Contains(err.Error(), "nats stream add DEADLETTER") {
		t.Fatalf("Open with a missing stream: error = %v, want one naming the stream and how to create it", err)
	}
	if _, err := js.Stream(ctx, bus.StreamDeadLetter); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("the check created the stream: %v", err)
	}

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: bus.StreamDeadLetter, Subjects: []string{"rejected.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err = bus.Open(ctx, managedOff)
	if err == nil || !strings.Contains(err.Error(), "add deadletter.> to its subjects") {
		t.Fatalf("Open with wrong subjects: error = %v, want one naming the subject to add", err)
	}

	if err := js.DeleteStream(ctx, bus.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: bus.StreamDeadLetter, Subjects: []string{"deadletter.>"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	managedOff.Logger = logs.logger()
	client := open(t, managedOff)
	if got := streamConfig(t, client, bus.StreamDeadLetter).Duplicates; got != time.Minute {
		t.Errorf("operator-managed stream's duplicate window = %s, want the operator's 1m", got)
	}
	if !strings.Contains(logs.String(), "dedupes retries for less time") {
		t.Errorf("a short duplicate window logged no warning:\n%s", logs.String())
	}
}

func TestStreamsConfigRejected(t *testing.T) {
	tests := []struct {
		name    string
		streams bus.StreamsConfig
		want    string
	}{
		{"negative max age", bus.StreamsConfig{MaxAge: -time.Hour}, "max age -1h0m0s"},
		{"max age within the duplicate window", bus.StreamsConfig{MaxAge: time.Hour}, "shorter than the duplicate window 24h0m0s"},
		{"negative max bytes", bus.StreamsConfig{MaxBytes: -1}, "max bytes -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Streams: tt.streams})
			if err == nil {
				b.Close()
				t.Fatalf("Open with %+v succeeded", tt.streams)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open with %+v: error %q, want it to contain %q", tt.streams, err, tt.want)
			}
		})
	}
}

// TestOpenWaitsForAMetaLeader opens a bus on a cluster that has no JetStream meta leader
// (one of three nodes up): Open waits, and succeeds once a second node is back.
func TestOpenWaitsForAMetaLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	c := bustest.NewCluster(t, 3)
	for i := range 3 {
		c.ShutdownNode(i)
	}
	if err := c.StartNode(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	opened := make(chan error, 1)
	go func() {
		b, err := bus.Open(ctx, bus.Config{URL: c.URLs()[0]})
		if err == nil {
			b.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned without a meta leader: %v", err)
	case <-time.After(time.Second):
	}
	if err := c.StartNode(1); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("Open once the cluster had a quorum: %v", err)
	}
}

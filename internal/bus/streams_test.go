package bus_test

import (
	"context"
	"slices"
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

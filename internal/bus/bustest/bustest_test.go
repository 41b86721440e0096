package bustest_test

import (
	"context"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
)

func TestNew(t *testing.T) {
	b := bustest.New(t)
	ctx := context.Background()
	if err := b.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if got := b.ClientURL(); got != "" {
		t.Errorf("ClientURL() = %q, want \"\" for an in-process bus", got)
	}
	for _, name := range []string{bus.StreamEvents, bus.StreamDeadLetter, bus.StreamAwards} {
		if _, err := b.JetStream().Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
}

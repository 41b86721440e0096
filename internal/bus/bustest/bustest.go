package bustest

import (
	"context"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/bus"
)

// New starts an embedded in-process bus in t.TempDir() with the streams created and closes
// it at cleanup.
func New(t testing.TB) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("bustest: open embedded bus: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

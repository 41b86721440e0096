package bustest

import (
	"context"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/bus"
)

// NewCluster starts a NATS JetStream cluster of n in-process servers on loopback (free
// ports, a store directory each in t.TempDir()), as tests need for streams with more than
// one replica. It returns once the cluster has a meta leader and every server is current,
// and shuts the cluster down at cleanup. Nodes can be shut down and started again on the
// same ports and store (ShutdownNode, StartNode, RestartNode).
func NewCluster(t testing.TB, n int) *bus.LocalCluster {
	t.Helper()
	c, err := bus.StartLocalCluster(context.Background(), bus.LocalClusterConfig{
		Name:  "clickstream-test",
		Dir:   t.TempDir(),
		Nodes: n,
	})
	if err != nil {
		t.Fatalf("bustest: start a NATS cluster of %d nodes: %v", n, err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

package platform_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/platform"
)

// The usage counts of the last interval reach the registry when the stack
// stops cleanly: ingest stops taking events, its usage reporter sends what
// it counted, and only then the registry stops. Events sent and the stack
// stopped well within the report interval (10s), then the counts read back
// from a restarted registry.
func TestUsageCountsFlushedOnStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS twice")
	}
	dir := harness.DataDir(t)
	const n = 7
	from := time.Now().Add(-time.Hour)
	first := start(t, dir)
	events := make([]*ingestv1.Event, n)
	for i := range events {
		events[i] = &ingestv1.Event{IdempotencyKey: fmt.Sprintf("usage-stop-%d", i), Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{
			EventId: 2005, Version: 1, Data: mustStruct(t, `{"context":{"userId":"u-1"},"objectId":"o-1"}`),
		}}}
	}
	resp, err := ingestClient(first.URL(platform.Ingest), first.IngestKey()).SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: events})
	if err != nil || resp.GetAccepted() != n {
		t.Fatalf("SendBatch: %v (accepted %d of %d)", err, resp.GetAccepted(), n)
	}
	stopped := time.Now()
	first.Shutdown()
	t.Logf("stack stopped in %s", time.Since(stopped).Round(time.Millisecond))

	second := harness.StartStack(t, platform.Config{
		DataDir:    dir,
		Services:   []string{platform.Registry},
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0"},
		AdminToken: testAdminToken,
	})
	stats, err := registryv1connect.NewRegistryServiceClient(http.DefaultClient, second.URL(platform.Registry)).GetEventStats(context.Background(),
		&registryv1.GetEventStatsRequest{EventId: 2005, From: timestamppb.New(from), To: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatalf("GetEventStats: %v", err)
	}
	t.Logf("usage of event 2005 after the stop: accepted %d, rejected %d (sent %d)", stats.GetAccepted(), stats.GetRejected(), n)
	if stats.GetAccepted() != n {
		t.Errorf("the registry counted %d accepted events of 2005, want %d: the last interval's counts were lost on stop", stats.GetAccepted(), n)
	}
}

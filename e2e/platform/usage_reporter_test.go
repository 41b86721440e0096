package platform_test

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

const registryToken = "usage-test-token"

// startRegistry runs the registry alone in-process, with the starter
// catalogue, and returns its URL.
func startRegistry(t *testing.T) string {
	t.Helper()
	s := harness.StartStack(t, platform.Config{
		DataDir:    harness.DataDir(t),
		Services:   []string{platform.Registry},
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0"},
		AdminToken: registryToken,
	})
	return s.URL(platform.Registry)
}

func TestUsageReporter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and the registry")
	}
	url := startRegistry(t)
	r, err := ingest.NewUsageReporter(ingest.UsageReporterConfig{RegistryURL: url, AdminToken: registryToken})
	if err != nil {
		t.Fatal(err)
	}
	minute := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	use := func(at time.Time, status, reason string, n int) {
		for range n {
			r.Record(ingest.Usage{At: at, Environment: "web", EventID: 1001, Version: 2, AppVersion: "7.12.0", Status: status, Reason: reason})
		}
	}
	use(minute.Add(5*time.Second), "accepted", "", 3)
	use(minute.Add(50*time.Second), "accepted", "", 2)
	use(minute.Add(time.Minute), "rejected", "REJECT_REASON_MISSING_REQUIRED_FIELD", 4)
	// Unresolved versions are not counted; an unregistered one is refused
	// by the registry and dropped without losing the others.
	r.Record(ingest.Usage{At: minute, Environment: "web", Status: "rejected", Reason: "REJECT_REASON_UNKNOWN_EVENT"})
	r.Record(ingest.Usage{At: minute, Environment: "web", EventID: 4242, Version: 1, Status: "accepted"})
	if got := r.Pending(); got != 3 {
		t.Errorf("%d pending counts, want 3 (one per minute, status and reason, plus the unregistered one)", got)
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := r.Pending(); got != 0 {
		t.Errorf("%d counts pending after a report, want 0", got)
	}

	stats := func() *registryv1.GetEventStatsResponse {
		t.Helper()
		client := registryv1connect.NewRegistryServiceClient(http.DefaultClient, url)
		resp, err := client.GetEventStats(t.Context(), &registryv1.GetEventStatsRequest{
			EventId: 1001, Environment: "web",
			From: timestamppb.New(minute.Add(-time.Hour)), To: timestamppb.New(minute.Add(time.Hour)),
		})
		if err != nil {
			t.Fatalf("GetEventStats: %v", err)
		}
		return resp
	}
	got := stats()
	if got.GetAccepted() != 5 || got.GetRejected() != 4 || got.GetRejectionsByReason()["REJECT_REASON_MISSING_REQUIRED_FIELD"] != 4 {
		t.Errorf("stats: accepted %d, rejected %d, by reason %v; want 5, 4, 4 missing required", got.GetAccepted(), got.GetRejected(), got.GetRejectionsByReason())
	}

	// Close reports what was recorded since.
	use(minute.Add(2*time.Minute), "accepted", "", 1)
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := stats(); got.GetAccepted() != 6 {
		t.Errorf("after Close: accepted %d, want 6", got.GetAccepted())
	}
}

func TestUsageReporterKeepsCountsWhileTheRegistryIsDown(t *testing.T) {
	r, err := ingest.NewUsageReporter(ingest.UsageReporterConfig{RegistryURL: "http://127.0.0.1:1", MaxMinutes: 2})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 6, 2, 14, 0, 0, 0, time.UTC)
	for m := range 3 {
		r.Record(ingest.Usage{At: base.Add(time.Duration(m) * time.Minute), Environment: "web", EventID: 1001, Version: 2, Status: "accepted"})
	}
	if err := r.Flush(t.Context()); err == nil {
		t.Fatal("Flush to a registry that is down succeeded")
	}
	// Three minutes, two kept: the oldest is dropped.
	if got := r.Pending(); got != 2 {
		t.Errorf("%d counts kept, want 2", got)
	}
	r.Record(ingest.Usage{At: base.Add(2 * time.Minute), Environment: "web", EventID: 1001, Version: 2, Status: "accepted"})
	if got := r.Pending(); got != 2 {
		t.Errorf("%d counts kept after recording into a kept minute, want 2", got)
	}
}

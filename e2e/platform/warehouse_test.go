package platform_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/platform"
)

// Accepted events reach the warehouse, and the admin report counts them per
// hour, event version and environment.
func TestWarehouseReportCountsAcceptedEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	s := start(t, harness.DataDir(t))
	url := s.URL(platform.Ingest)
	const sent = 5
	for i := range sent {
		ev := harness.TypedEvent("warehouse-"+string(rune('a'+i)), &eventsv1.PlaceCardOpenedV1{Context: &eventsv1.Context{UserId: "u"}, ObjectId: "o"})
		if got := sendOne(t, url, s.IngestKey(), ev).GetStatus(); got != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("event %d: %v", i, got)
		}
	}
	admin := ingestv1connect.NewIngestAdminServiceClient(harness.BearerClient(testAdminToken), url)
	req := &ingestv1.GetHourlyCountsRequest{
		From:    timestamppb.New(time.Now().Add(-time.Hour)),
		To:      timestamppb.New(time.Now().Add(time.Hour)),
		EventId: 2005,
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := admin.GetHourlyCounts(context.Background(), req)
		if err != nil {
			t.Fatalf("GetHourlyCounts: %v", err)
		}
		var total int64
		for _, c := range resp.GetCounts() {
			if c.GetVersion() != 1 || c.GetEnvironment() == "" {
				t.Errorf("unexpected row %v", c)
			}
			total += c.GetCount()
		}
		if total == sent {
			return
		}
		if total > sent || time.Now().After(deadline) {
			t.Fatalf("warehouse counts %d PlaceCardOpenedV1 events, want %d", total, sent)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

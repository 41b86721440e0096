package ingest_test

import (
	"context"
	"fmt"
	"testing"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// BenchmarkSendBatch measures SendBatch of 100 typed ItemViewV2 events
// against the embedded bus: validation, records, publishing and acks.
// `clickstream bench ingest` measures the same end to end.
func BenchmarkSendBatch(b *testing.B) {
	svc := ingest.New(ingest.Config{Environment: env}, realCatalogue(b), bustest.New(b))
	ev := typed(b, "", itemView())
	const batch = 100
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		events := make([]*ingestv1.Event, batch)
		for i := range events {
			events[i] = &ingestv1.Event{IdempotencyKey: fmt.Sprintf("bench-%d", n), Payload: ev.GetPayload()}
			n++
		}
		resp, err := svc.SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: events})
		if err != nil {
			b.Fatal(err)
		}
		if resp.GetAccepted() != batch {
			b.Fatalf("accepted %d of %d", resp.GetAccepted(), batch)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

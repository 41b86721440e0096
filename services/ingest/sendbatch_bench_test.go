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

// benchJSONBatch is a REST batch of n ItemViewV2 events in the JSON form,
// as `clickstream bench ingest` sends it.
func benchJSONBatch(run, n int) []byte {
	body := []byte(`{"events":[`)
	for i := range n {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"idempotencyKey":"bench-json-%d-%d","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"userId":"u-%d","platform":"PLATFORM_ANDROID"},"itemId":"%d","categoryId":24,"referrer":"search"}}}`,
			run, i, i%1000, 4815162342+i)
	}
	return append(body, "]}"...)
}

// BenchmarkSendBatchJSON measures what the REST route does with a JSON
// batch of 100 ItemViewV2 events once the gateway has its body: the split
// into events (DecodeBatchJSON), each event's decoding against the
// catalogue, validation, records, publishing and acks.
func BenchmarkSendBatchJSON(b *testing.B) {
	svc := ingest.New(ingest.Config{Environment: env}, realCatalogue(b), bustest.New(b))
	const batch = 100
	run := 0
	b.ReportAllocs()
	for b.Loop() {
		body := benchJSONBatch(run, batch)
		run++
		req := &ingestv1.SendBatchRequest{}
		if err := ingest.DecodeBatchJSON(body, req); err != nil {
			b.Fatal(err)
		}
		resp, err := svc.SendBatch(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.GetAccepted() != batch {
			b.Fatalf("accepted %d of %d: %v", resp.GetAccepted(), batch, resp.GetResults()[0])
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

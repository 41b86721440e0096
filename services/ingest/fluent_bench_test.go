package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/vmihailenco/msgpack/v5"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// BenchmarkFluentVsGRPC sends the same ItemViewV2 events, 100 at a time,
// over gRPC (SendBatch of map-form events, HTTP/2 on loopback) and over the
// Fluent Forward input (a PackedForward chunk with an ack, TCP on
// loopback), alternating, against one embedded bus. It reports each
// path's events/s and the ratio fluent/grpc measured in the same run.
func BenchmarkFluentVsGRPC(b *testing.B) {
	svc := ingest.New(ingest.Config{Environment: env}, realCatalogue(b), bustest.New(b))

	srv := httptest.NewUnstartedServer(handler(svc))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	b.Cleanup(srv.Close)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	rpc := ingestv1connect.NewIngestServiceClient(&http.Client{Transport: &http.Transport{Protocols: &p}}, srv.URL, connect.WithGRPC())

	in := startFluent(b, svc, ingest.FluentConfig{})
	conn, err := net.Dial("tcp", in.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	dec := msgpack.NewDecoder(conn)

	const batch = 100
	params := itemViewParams()
	record := map[string]any{}
	for k, v := range params {
		record[k] = v
	}
	var grpcTime, fluentTime time.Duration
	n := 0
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		events := make([]*ingestv1.Event, batch)
		for i := range events {
			events[i] = mobile(fmt.Sprintf("grpc-%d", n+i), 1001, 2, params)
		}
		start := time.Now()
		resp, err := rpc.SendBatch(ctx, &ingestv1.SendBatchRequest{Events: events})
		grpcTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if resp.GetAccepted() != batch {
			b.Fatalf("gRPC: accepted %d of %d", resp.GetAccepted(), batch)
		}

		start = time.Now()
		var entries bytes.Buffer
		enc := msgpack.NewEncoder(&entries)
		for i := range batch {
			record[ingest.FluentIdempotencyKeyField] = fmt.Sprintf("fluent-%d", n+i)
			if err := enc.Encode([]any{eventTime(occurred), record}); err != nil {
				b.Fatal(err)
			}
		}
		chunk := fmt.Sprint("c-", n)
		msg, err := msgpack.Marshal([]any{"clickstream.item_view.v2", entries.Bytes(), map[string]any{"chunk": chunk, "size": batch}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		ack, err := dec.DecodeMap()
		fluentTime += time.Since(start)
		if err != nil || ack["ack"] != chunk {
			b.Fatalf("fluent: answer %v, %v; want ack %s", ack, err, chunk)
		}
		n += batch
	}
	grpcRate := float64(n) / grpcTime.Seconds()
	fluentRate := float64(n) / fluentTime.Seconds()
	b.ReportMetric(grpcRate, "grpc-events/s")
	b.ReportMetric(fluentRate, "fluent-events/s")
	b.ReportMetric(fluentRate/grpcRate, "fluent/grpc")
}

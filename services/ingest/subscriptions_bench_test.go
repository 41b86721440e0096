package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// BenchmarkSubscriptionDelivery delivers the same PhotoStatusChanged events
// from environment web (1,000 a round, stored among as many ItemViews and
// ios events the filter leaves out) to a bare JetStream pull consumer with
// the subscription's filter (Fetch up to 256, acking the last of each
// batch) and to a pull subscription's Subscribe stream (Connect over
// HTTP/1.1 on loopback; a subscriber that connects, catches up with the
// round and acks in the background the last event it has), alternating,
// against one embedded bus. It reports each path's events/s and the ratio
// subscribe/bare measured in the same run.
func BenchmarkSubscriptionDelivery(b *testing.B) {
	for _, format := range []ingestv1.SubscriptionFormat{ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_BINARY, ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON} {
		b.Run(formatLabel(format), func(b *testing.B) { benchmarkSubscriptionDelivery(b, format) })
	}
}

func formatLabel(f ingestv1.SubscriptionFormat) string {
	if f == ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON {
		return "json"
	}
	return "binary"
}

func benchmarkSubscriptionDelivery(b *testing.B, format ingestv1.SubscriptionFormat) {
	e := newSubsEnv(b, ingest.SubscriptionsConfig{})
	e.create(b, "bench", ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL, format, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bare, err := e.bus.JetStream().CreateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "bare", FilterSubject: "events.web.photo_status_changed.*", DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy: jetstream.AckAllPolicy, AckWait: 5 * time.Minute, MaxAckPending: 10000,
	})
	if err != nil {
		b.Fatal(err)
	}

	const round = 1000
	var bareTime, subTime time.Duration
	n, responses := 0, 0
	for b.Loop() {
		b.StopTimer()
		e.sendMix(b, n, round)
		b.StartTimer()

		start := time.Now()
		for got := 0; got < round; {
			batch, err := bare.Fetch(min(256, round-got), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			var last jetstream.Msg
			for msg := range batch.Messages() {
				last = msg
				got++
			}
			if last == nil {
				b.Fatalf("bare consumer: %d of %d events", got, round)
			}
			if err := last.DoubleAck(ctx); err != nil {
				b.Fatal(err)
			}
		}
		bareTime += time.Since(start)

		// A subscriber connects and catches up with the round's events.
		start = time.Now()
		streamCtx, closeStream := context.WithCancel(ctx)
		stream, err := e.client.Subscribe(streamCtx, &ingestv1.SubscribeRequest{Subscription: "bench", MaxBatch: 256})
		if err != nil {
			b.Fatal(err)
		}
		// It acks in the background, the latest event it has.
		tokens := make(chan string, 1)
		acked := make(chan error, 1)
		go func() {
			var err error
			for token := range tokens {
				if err == nil {
					_, err = e.client.AckEvents(ctx, &ingestv1.AckEventsRequest{Subscription: "bench", AckTokens: []string{token}})
				}
			}
			acked <- err
		}()
		for got := 0; got < round; {
			if !stream.Receive() {
				b.Fatalf("subscribe stream ended after %d of %d events: %v", got, round, stream.Err())
			}
			events := stream.Msg().GetEvents()
			if len(events) == 0 {
				continue
			}
			got += len(events)
			responses++
			token := events[len(events)-1].GetAckToken()
			for sent := false; !sent; {
				select {
				case tokens <- token:
					sent = true
				case <-tokens: // an older one not acked yet: the latest covers it
				}
			}
		}
		close(tokens)
		if err := <-acked; err != nil {
			b.Fatal(err)
		}
		subTime += time.Since(start)
		closeStream()
		stream.Close()
		b.StopTimer()
		e.quiet(b, "bench") // the stream's last fetch expired
		b.StartTimer()
		n += round
	}
	bareRate := float64(n) / bareTime.Seconds()
	subRate := float64(n) / subTime.Seconds()
	b.ReportMetric(bareRate, "bare-events/s")
	b.ReportMetric(subRate, "subscribe-events/s")
	b.ReportMetric(subRate/bareRate, "subscribe/bare")
	b.Logf("%s: %d events; bare JetStream consumer %.0f events/s, Subscribe stream %.0f events/s (%.0f events a response), ratio %.2f",
		formatLabel(format), n, bareRate, subRate, float64(n)/float64(max(responses, 1)), subRate/bareRate)

}

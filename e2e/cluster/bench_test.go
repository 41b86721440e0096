package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// BenchmarkIngestInstances measures the ingest throughput of one and of two instances on
// the 3-node cluster (streams at R3), in the same run, and reports both and their ratio.
// Each iteration sends benchEvents events (10% invalid) through one instance, then as many
// through two; the same client goroutines send in both cases.
//
//	go test ./e2e/cluster/ -run '^$' -bench IngestInstances -benchtime 3x
func BenchmarkIngestInstances(b *testing.B) {
	const (
		benchEvents = 10_000
		batchSize   = 100
		workers     = 8
	)
	p := startPlatform(b, 2)
	// One attempt per batch: no node goes down here, so any error fails the benchmark.
	once := ingestclient.RetryPolicy{MaxAttempts: 1}
	oneInstance, twoInstances := harness.NewSender(p.apiKey, once, p.ingestURLs(1)...), harness.NewSender(p.apiKey, once, p.ingestURLs(2)...)
	ctx := context.Background()

	var (
		one, two time.Duration
		rounds   int
	)
	for b.Loop() {
		one += sendThrough(ctx, b, oneInstance, 1, workload(benchEvents, fmt.Sprintf("bench-1-%d", rounds)), batchSize, workers)
		two += sendThrough(ctx, b, twoInstances, 2, workload(benchEvents, fmt.Sprintf("bench-2-%d", rounds)), batchSize, workers)
		rounds++
	}
	perSecond := func(d time.Duration) float64 { return float64(rounds*benchEvents) / d.Seconds() }
	b.ReportMetric(perSecond(one), "events/s-1-instance")
	b.ReportMetric(perSecond(two), "events/s-2-instances")
	b.ReportMetric(perSecond(two)/perSecond(one), "ratio-2:1")
	b.Logf("%d rounds of %d events: 1 instance %.0f events/s, 2 instances %.0f events/s, ratio 2:1 = %.2f",
		rounds, benchEvents, perSecond(one), perSecond(two), perSecond(two)/perSecond(one))
}

// sendThrough sends w's events in batches from workers goroutines through sender, which
// spreads the batches over its instances, and returns how long that took. Any failed
// batch fails the benchmark: no node goes down here.
func sendThrough(ctx context.Context, b *testing.B, sender *harness.Sender, instances int, w harness.Workload, batchSize, workers int) time.Duration {
	b.Helper()
	// Build the events first: the measurement is ingest's, not the client's encoding.
	var batches [][]*ingestv1.Event
	for start := 0; start < w.N; start += batchSize {
		batches = append(batches, w.Events(start, batchSize))
	}
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	began := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := sender.Send(ctx, i, batches[i]); err != nil {
					select {
					case errs <- fmt.Errorf("batch %s through %d instance(s): %w", w.Key(i*batchSize), instances, err):
					default:
					}
				}
			}
		}()
	}
	for i := range batches {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(began)
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	return took
}

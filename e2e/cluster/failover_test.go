package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
)

// TestEventsLeaderFailover sends 20,000 events (10% invalid) through two ingest instances
// on a 3-node cluster with the streams at R3, and shuts down the node leading EVENTS under
// the load, then restarts it on the same ports and store. Clients retry every failed batch
// with the same keys, on either instance. At the end EVENTS holds every accepted event
// once and DEADLETTER every rejected one: nothing lost, nothing twice, and no ACCEPTED
// that the stream does not hold.
func TestEventsLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster, PostgreSQL, a registry and two ingest instances")
	}
	p := startPlatform(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	js := p.ingests[0].Bus().JetStream()
	for _, name := range []string{bus.StreamEvents, bus.StreamDeadLetter, bus.StreamAwards} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if got := s.CachedInfo().Config.Replicas; got != replicas {
			t.Fatalf("stream %s has %d replicas, want %d", name, got, replicas)
		}
	}

	const (
		events    = 20_000
		batchSize = 100
		workers   = 4
	)
	w := workload(events, "failover")
	// Batch b goes to instance b mod 2 and each retry to the other one.
	sender := harness.NewSender(p.apiKey, harness.UntilAnswered(), p.ingestURLs(2)...)
	answered := &sender.Answered // events with a final answer

	started := time.Now()
	// The failover: shut down the EVENTS leader once a fifth of the events are answered,
	// restart it once another node leads and half are answered (or 5 s passed).
	type event struct {
		at       time.Duration
		answered int64
	}
	var (
		leaderName, newLeaderName string
		shutdown, elected, back   event
		failoverErr               error
	)
	failoverDone := make(chan struct{})
	go func() {
		defer close(failoverDone)
		waitFor := func(cond func() bool) bool {
			for !cond() {
				select {
				case <-ctx.Done():
					return false
				case <-time.After(5 * time.Millisecond):
				}
			}
			return true
		}
		now := func() event { return event{at: time.Since(started), answered: answered.Load()} }
		if !waitFor(func() bool { return answered.Load() >= events/5 }) {
			failoverErr = fmt.Errorf("a fifth of the events were never answered: %w", ctx.Err())
			return
		}
		leader := p.nats.StreamLeader(bus.StreamEvents)
		if leader < 0 {
			failoverErr = fmt.Errorf("no node leads %s", bus.StreamEvents)
			return
		}
		leaderName = p.nats.Name(leader)
		shutdown = now()
		p.nats.ShutdownNode(leader)
		if !waitFor(func() bool { return p.nats.StreamLeader(bus.StreamEvents) >= 0 }) {
			failoverErr = fmt.Errorf("no new leader of %s after %s went down: %w", bus.StreamEvents, leaderName, ctx.Err())
			return
		}
		elected = now()
		newLeaderName = p.nats.Name(p.nats.StreamLeader(bus.StreamEvents))
		deadline := time.Now().Add(5 * time.Second)
		waitFor(func() bool { return answered.Load() >= events/2 || time.Now().After(deadline) })
		back = now()
		if err := p.nats.StartNode(leader); err != nil {
			failoverErr = fmt.Errorf("restart %s: %w", leaderName, err)
			return
		}
		if err := p.nats.WaitReady(ctx); err != nil {
			failoverErr = fmt.Errorf("restart %s: %w", leaderName, err)
		}
	}()

	sendErr := sender.SendAll(ctx, w, batchSize, workers)
	loadTime := time.Since(started)
	<-failoverDone
	if sendErr != nil {
		t.Fatalf("a batch was not answered: %v", sendErr)
	}
	if failoverErr != nil {
		t.Fatal(failoverErr)
	}

	// What the clients were told.
	var accepted, duplicate, rejected int
	stored := map[string]bool{}
	for i := range events {
		key := w.Key(i)
		switch s := sender.Status(key); s {
		case ingestv1.EventStatus_EVENT_STATUS_ACCEPTED, ingestv1.EventStatus_EVENT_STATUS_DUPLICATE:
			if s == ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
				accepted++
			} else {
				duplicate++
			}
			stored[key] = true
			if !w.Valid(i) {
				t.Errorf("event %s lacks its trip id but was answered %s", key, s)
			}
		case ingestv1.EventStatus_EVENT_STATUS_REJECTED:
			rejected++
			if w.Valid(i) {
				t.Errorf("valid event %s was rejected", key)
			}
		default:
			t.Errorf("event %s has no final answer (%s)", key, s)
		}
	}

	// What the streams hold, read through the cluster once the restarted node is back.
	onEvents := harness.StreamKeys(ctx, t, p.nats.URL(), bus.StreamEvents, "")
	inDeadLetter := harness.StreamKeys(ctx, t, p.nats.URL(), bus.StreamDeadLetter, "dl-")
	var eventsTotal, deadTotal int
	for key, n := range onEvents {
		eventsTotal += n
		if n != 1 {
			t.Errorf("event %s is on %s %d times", key, bus.StreamEvents, n)
		}
		if !stored[key] {
			t.Errorf("event %s is on %s but was answered %s", key, bus.StreamEvents, sender.Status(key))
		}
	}
	for key := range stored {
		if onEvents[key] == 0 {
			t.Errorf("event %s was answered %s but is not on %s (a false acknowledgement)", key, sender.Status(key), bus.StreamEvents)
		}
	}
	for key, n := range inDeadLetter {
		deadTotal += n
		if n != 1 {
			t.Errorf("dead letter %s is on %s %d times", key, bus.StreamDeadLetter, n)
		}
		if sender.Status(key) != ingestv1.EventStatus_EVENT_STATUS_REJECTED {
			t.Errorf("dead letter %s was answered %s", key, sender.Status(key))
		}
	}
	if deadTotal != rejected {
		t.Errorf("%s holds %d dead letters, want the %d rejected events", bus.StreamDeadLetter, deadTotal, rejected)
	}
	if eventsTotal+deadTotal != events {
		t.Errorf("%s (%d) + %s (%d) = %d, want the %d events sent", bus.StreamEvents, eventsTotal, bus.StreamDeadLetter, deadTotal, eventsTotal+deadTotal, events)
	}

	// Ingest stays up: what it answers while the bus has no leader is Unavailable.
	errCodes := sender.ErrorCodes()
	codes := make([]string, 0, len(errCodes))
	for code, n := range errCodes {
		codes = append(codes, fmt.Sprintf("%s×%d", code, n))
		if code != connect.CodeUnavailable.String() {
			t.Errorf("ingest answered %d batches with %s during the failover, want Unavailable", n, code)
		}
	}
	slices.Sort(codes)
	t.Logf("sent %d events in batches of %d from %d goroutines to 2 ingest instances in %s (%.0f events/s)",
		events, batchSize, workers, loadTime.Round(time.Millisecond), float64(events)/loadTime.Seconds())
	t.Logf("answers: ACCEPTED %d, DUPLICATE %d, REJECTED %d; batches sent %d, retried %d (errors: %v)",
		accepted, duplicate, rejected, sender.Attempts.Load(), sender.Retries.Load(), codes)
	t.Logf("streams: %d on %s, %d in %s, total %d", eventsTotal, bus.StreamEvents, deadTotal, bus.StreamDeadLetter, eventsTotal+deadTotal)
	t.Logf("failover: %s led %s and was shut down at %s (%d events answered); %s led from %s (%d answered); %s restarted at %s (%d answered)",
		leaderName, bus.StreamEvents, shutdown.at.Round(time.Millisecond), shutdown.answered,
		newLeaderName, elected.at.Round(time.Millisecond), elected.answered,
		leaderName, back.at.Round(time.Millisecond), back.answered)
}

package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
)

func TestPublishAllStoresAndDedupes(t *testing.T) {
	b := bustest.New(t)
	msgs := eventMessages(1000, "evt")

	first := mustPublishAll(t, b, msgs)
	seen := make(map[uint64]int, len(first))
	for i, r := range first {
		if r.Duplicate {
			t.Errorf("first publish: results[%d] is a duplicate", i)
		}
		if j, ok := seen[r.Sequence]; ok {
			t.Errorf("results[%d] and results[%d] share sequence %d", j, i, r.Sequence)
		}
		seen[r.Sequence] = i
	}
	if got := streamMsgs(t, b, bus.StreamEvents); got != 1000 {
		t.Fatalf("stream %s holds %d messages, want 1000", bus.StreamEvents, got)
	}

	// A client retrying the whole batch: every message is a duplicate of the stored one.
	again := mustPublishAll(t, b, msgs)
	for i, r := range again {
		if !r.Duplicate {
			t.Errorf("republish: results[%d] = %+v, want Duplicate", i, r)
		}
		if r.Sequence != first[i].Sequence {
			t.Errorf("republish: results[%d].Sequence = %d, want the original %d", i, r.Sequence, first[i].Sequence)
		}
	}
	if got := streamMsgs(t, b, bus.StreamEvents); got != 1000 {
		t.Errorf("after republishing stream %s holds %d messages, want 1000", bus.StreamEvents, got)
	}
}

func TestPublishAllSmallWindow(t *testing.T) {
	b := open(t, bus.Config{DataDir: t.TempDir(), Window: 1})
	results := mustPublishAll(t, b, eventMessages(20, "w1"))
	for i := 1; i < len(results); i++ {
		// With one message in flight at a time the stream keeps the batch order.
		if results[i].Sequence != results[i-1].Sequence+1 {
			t.Errorf("window 1: sequences %d then %d, want consecutive", results[i-1].Sequence, results[i].Sequence)
		}
	}
}

func TestPublishAllSendsHeaders(t *testing.T) {
	b := bustest.New(t)
	ctx := context.Background()
	results := mustPublishAll(t, b, []bus.Message{{
		Subject: "awards.granted.first_photo",
		MsgID:   "grant-1",
		Data:    []byte("granted"),
		Header:  map[string]string{"Clickstream-User": "u-42"},
	}})
	s, err := b.JetStream().Stream(ctx, bus.StreamAwards)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	msg, err := s.GetMsg(ctx, results[0].Sequence)
	if err != nil {
		t.Fatalf("get message %d: %v", results[0].Sequence, err)
	}
	if got := msg.Header.Get(jetstream.MsgIDHeader); got != "grant-1" {
		t.Errorf("stored %s = %q, want grant-1", jetstream.MsgIDHeader, got)
	}
	if got := msg.Header.Get("Clickstream-User"); got != "u-42" {
		t.Errorf("stored Clickstream-User = %q, want u-42", got)
	}
	if string(msg.Data) != "granted" {
		t.Errorf("stored data = %q", msg.Data)
	}
}

func TestPublishAllEmptyBatch(t *testing.T) {
	b := bustest.New(t)
	results, err := b.PublishAll(context.Background(), nil)
	if err != nil || len(results) != 0 {
		t.Errorf("PublishAll(nil) = %v, %v; want no results and no error", results, err)
	}
}

// A message no stream takes is never reported stored; the rest of the batch is.
func TestPublishAllSubjectWithoutStream(t *testing.T) {
	b := bustest.New(t)
	msgs := eventMessages(10, "mixed")
	for i := 0; i < len(msgs); i += 3 {
		msgs[i].Subject = "nowhere.test.photo_uploaded.v1"
	}
	results, err := b.PublishAll(context.Background(), msgs)
	if err != nil {
		t.Fatalf("PublishAll: %v (a per-message failure must not fail the batch)", err)
	}
	for i, r := range results {
		if i%3 == 0 {
			if r.Err == nil {
				t.Errorf("results[%d] on %s: Err = nil, want an error", i, msgs[i].Subject)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("results[%d]: %v", i, r.Err)
		}
	}
	if got := streamMsgs(t, b, bus.StreamEvents); got != 6 {
		t.Errorf("stream %s holds %d messages, want 6", bus.StreamEvents, got)
	}
}

func TestPublishAllContextDone(t *testing.T) {
	b := bustest.New(t)

	t.Run("before the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		results, err := b.PublishAll(ctx, eventMessages(5, "cancelled"))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		assertNoneStored(t, results)
	})

	t.Run("while waiting for acks", func(t *testing.T) {
		// No stream takes these, so the client keeps retrying until the deadline.
		msgs := eventMessages(5, "deadline")
		for i := range msgs {
			msgs[i].Subject = "nowhere.x"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		results, err := b.PublishAll(ctx, msgs)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want context.DeadlineExceeded", err)
		}
		assertNoneStored(t, results)
	})
}

func TestPublishAllServerDown(t *testing.T) {
	b := open(t, bus.Config{DataDir: t.TempDir(), AckTimeout: time.Second})
	mustPublishAll(t, b, eventMessages(5, "before"))
	bus.ShutdownServer(b)

	// Before the client noticed: the batch may still be sent, but nothing is acknowledged.
	results, _ := b.PublishAll(context.Background(), eventMessages(50, "racing"))
	assertNoneStored(t, results)

	// Once the client knows, the bus refuses the batch as a whole.
	waitDisconnected(t, b)
	results, err := b.PublishAll(context.Background(), eventMessages(50, "after"))
	if err == nil {
		t.Error("PublishAll on a disconnected bus: error = nil")
	}
	assertNoneStored(t, results)
}

// waitDisconnected waits until the bus connection has noticed its server went away.
func waitDisconnected(t *testing.T, b *bus.Bus) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.Conn().IsConnected(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection still reports connected 5s after the server shut down")
		}
	}
}

func assertNoneStored(t *testing.T, results []bus.PublishResult) {
	t.Helper()
	for i, r := range results {
		if r.Err == nil {
			t.Errorf("results[%d] = %+v: Err is nil for a message that was not acknowledged", i, r)
		}
	}
}

// BenchmarkPublishAll publishes batches of 100 events through PublishAll, then the same
// batches one synchronous Publish at a time, and reports how many times faster the
// windowed batch is.
func BenchmarkPublishAll(b *testing.B) {
	const batch = 100
	bs := bustest.New(b)
	ctx := context.Background()

	var n int
	nextBatch := func() []bus.Message {
		n++
		return eventMessages(batch, fmt.Sprintf("bench-%d", n))
	}

	start := time.Now()
	for b.Loop() {
		results, err := bs.PublishAll(ctx, nextBatch())
		if err != nil {
			b.Fatalf("PublishAll: %v", err)
		}
		for i, r := range results {
			if r.Err != nil {
				b.Fatalf("results[%d]: %v", i, r.Err)
			}
		}
	}
	perBatch := time.Since(start) / time.Duration(b.N)

	// Baseline in the same run: enough batches for a stable mean, not b.N of them.
	js := bs.JetStream()
	baseline := min(b.N, 100)
	start = time.Now()
	for range baseline {
		for _, m := range nextBatch() {
			msg := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{jetstream.MsgIDHeader: {m.MsgID}}}
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				b.Fatalf("sync publish: %v", err)
			}
		}
	}
	syncPerBatch := time.Since(start) / time.Duration(baseline)

	b.ReportMetric(float64(batch)/perBatch.Seconds(), "msgs/s")
	b.ReportMetric(float64(batch)/syncPerBatch.Seconds(), "sync-msgs/s")
	b.ReportMetric(float64(syncPerBatch)/float64(perBatch), "x-vs-sync")
}

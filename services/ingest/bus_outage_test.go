package ingest_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// natsServer runs NATS as its own server on addr with its store in dir, as
// a separate NATS deployment would.
func natsServer(t *testing.T, dir, addr string) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: dir, ListenAddr: addr})
	if err != nil {
		t.Fatalf("start NATS on %s: %v", addr, err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestBusOutage stops NATS under a running ingest: every batch sent while
// it is down fails Unavailable (never a success), and once it is back,
// retrying every batch with the same idempotency keys leaves exactly one
// copy of each accepted event on EVENTS and of each rejected one in
// DEADLETTER.
func TestBusOutage(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	server := natsServer(t, dir, addr)
	// Ingest reaches NATS over the network, as in production.
	conn, err := bus.Open(context.Background(), bus.Config{URL: server.ClientURL(), AckTimeout: time.Second})
	if err != nil {
		t.Fatalf("connect to NATS at %s: %v", server.ClientURL(), err)
	}
	t.Cleanup(conn.Close)
	svc := ingest.New(ingest.Config{Environment: env}, realCatalogue(t), conn)
	srv := httptest.NewServer(handler(svc))
	t.Cleanup(srv.Close)
	rpc := ingestv1connect.NewIngestServiceClient(http.DefaultClient, srv.URL)
	ctx := context.Background()

	// Ten batches of valid and invalid events with fixed keys.
	const batches, size = 10, 50
	valid := map[string]bool{}
	reqs := make([]*ingestv1.SendBatchRequest, batches)
	for i := range reqs {
		reqs[i] = &ingestv1.SendBatchRequest{}
		for j := range size {
			key := fmt.Sprintf("outage-%d-%d", i, j)
			var ev *ingestv1.Event
			switch j % 3 {
			case 0:
				m := itemView()
				m.ItemId = int64(i*size + j + 1)
				ev = typed(t, key, m)
			case 1:
				ev = mobile(key, 1001, 2, withParams(itemViewParams(), "item_id", strconv.Itoa(i*size+j+1)))
			default:
				ev = mobile(key, 1001, 2, withParams(itemViewParams(), "item_id", "not a number"))
			}
			valid[key] = j%3 != 2
			reqs[i].Events = append(reqs[i].Events, ev)
		}
	}

	// sentOK records the batches ingest answered before the outage.
	sentOK := map[int]bool{}
	for i := range 3 {
		if _, err := rpc.SendBatch(ctx, reqs[i]); err != nil {
			t.Fatalf("batch %d with NATS up: %v", i, err)
		}
		sentOK[i] = true
	}

	// Stop NATS while batch 3 is in flight: it may or may not make it.
	inflight := make(chan error, 1)
	go func() {
		_, err := rpc.SendBatch(ctx, reqs[3])
		inflight <- err
	}()
	server.Close()
	if err := <-inflight; err == nil {
		sentOK[3] = true
	} else if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("batch 3 while NATS stopped: %v (%v), want success or Unavailable", err, connect.CodeOf(err))
	}

	// NATS is down: nothing may be answered as a success.
	for i := 4; i < batches; i++ {
		resp, err := rpc.SendBatch(ctx, reqs[i])
		if connect.CodeOf(err) != connect.CodeUnavailable || resp != nil {
			t.Errorf("batch %d with NATS down: response %v, error %v (%v); want Unavailable and no response", i, resp, err, connect.CodeOf(err))
		}
	}

	// NATS comes back on the same store and port; ingest's connection
	// reconnects by itself.
	server = natsServer(t, dir, addr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		readyCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := conn.Ready(readyCtx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest's bus connection is not back 30s after NATS restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The client retries every batch with the same keys.
	client := ingestclient.New(srv.URL, ingestclient.WithRetryPolicy(ingestclient.RetryPolicy{
		MaxAttempts: 20, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, AttemptTimeout: 10 * time.Second}))
	for i, req := range reqs {
		results, err := client.Send(ctx, req.Events...)
		if err != nil {
			t.Fatalf("retry of batch %d with NATS back: %v", i, err)
		}
		for _, r := range results {
			want := []ingestv1.EventStatus{rejected}
			switch {
			case valid[r.Key] && sentOK[i]:
				want = []ingestv1.EventStatus{duplicate}
			case valid[r.Key]:
				// An event stored just before the stop, its
				// acknowledgement lost, comes back DUPLICATE.
				want = []ingestv1.EventStatus{accepted, duplicate}
			}
			if !slices.Contains(want, r.Status) {
				t.Errorf("retry of %s (valid %v, batch answered before the outage %v): %v, want one of %v", r.Key, valid[r.Key], sentOK[i], r.Status, want)
			}
		}
	}

	onEvents := countByMsgID(t, server, bus.StreamEvents)
	onDead := countByMsgID(t, server, bus.StreamDeadLetter)
	nValid := 0
	for key, ok := range valid {
		wantEvents, wantDead := 0, 1
		if ok {
			nValid++
			wantEvents, wantDead = 1, 0
		}
		if onEvents[key] != wantEvents || onDead["dl-"+key] != wantDead {
			t.Errorf("%s (valid %v): %d on EVENTS, %d in DEADLETTER; want %d and %d", key, ok, onEvents[key], onDead["dl-"+key], wantEvents, wantDead)
		}
	}
	if len(onEvents) != nValid || len(onDead) != len(valid)-nValid {
		t.Errorf("%d distinct ids on EVENTS and %d in DEADLETTER, want %d and %d", len(onEvents), len(onDead), nValid, len(valid)-nValid)
	}
}

func handler(svc *ingest.Service) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(ingestv1connect.NewIngestServiceHandler(svc))
	return mux
}

// countByMsgID counts the stored messages of a stream by Nats-Msg-Id.
func countByMsgID(t *testing.T, b *bus.Bus, stream string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range storedMsgs(t, b, stream) {
		out[m.Header.Get(jetstream.MsgIDHeader)]++
	}
	return out
}

package ingestclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/platform"
)

// dataDir returns a directory the postgres OS user can enter when the
// tests run as root.
func dataDir(t *testing.T) string {
	t.Helper()
	return pgtest.DataDir(t)
}

// devStack runs registry and ingest in-process on free ports for one test.
func devStack(t *testing.T) *platform.Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := platform.Start(ctx, platform.Config{
		DataDir:  dataDir(t),
		Addrs:    map[string]string{platform.Registry: "127.0.0.1:0", platform.Ingest: "127.0.0.1:0"},
		Services: []string{platform.Registry, platform.Ingest},
	})
	if err != nil {
		cancel()
		t.Fatalf("start the dev stack: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stack stopped with error: %v", err)
		}
	})
	ready, readyCancel := context.WithTimeout(ctx, 30*time.Second)
	defer readyCancel()
	if err := s.WaitReady(ready); err != nil {
		t.Fatalf("the dev stack did not get ready: %v", err)
	}
	return s
}

func itemView(user string, item int64) *eventsv1.ItemViewV2 {
	return &eventsv1.ItemViewV2{Context: &eventsv1.Context{UserId: user}, ItemId: item, Referrer: "search"}
}

func typedEvent(t *testing.T, m proto.Message) *ingestv1.Event {
	t.Helper()
	ev, err := ingestclient.Typed(m)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// eventCopies counts the EventRecords on the EVENTS stream by id.
func eventCopies(t *testing.T, b *bus.Bus) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"events.>"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			var rec busv1.EventRecord
			if err := proto.Unmarshal(msg.Data(), &rec); err != nil {
				t.Fatalf("decode EventRecord: %v", err)
			}
			out[rec.GetId()]++
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}

// flakyProxy forwards to upstream; the first `lose` calls reach ingest but
// their answers are lost: the client gets Unavailable instead.
type flakyProxy struct {
	upstream *url.URL
	h2c      *http.Client
	proxy    *httputil.ReverseProxy
	lose     atomic.Int32
	calls    atomic.Int32
}

func newFlakyProxy(t *testing.T, upstream string) (*flakyProxy, string) {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols}
	p := &flakyProxy{upstream: u, h2c: &http.Client{Transport: tr}, proxy: httputil.NewSingleHostReverseProxy(u)}
	p.proxy.Transport = tr
	srv := httptest.NewUnstartedServer(p)
	var serverProtocols http.Protocols
	serverProtocols.SetHTTP1(true)
	serverProtocols.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &serverProtocols
	srv.Start()
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	if p.lose.Add(-1) < 0 {
		p.lose.Store(0)
		p.proxy.ServeHTTP(w, r)
		return
	}
	// Deliver the call, drop the answer.
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream.String()+r.URL.RequestURI(), r.Body)
	if err == nil {
		req.Header = r.Header.Clone()
		var resp *http.Response
		if resp, err = p.h2c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_ = connect.NewErrorWriter().Write(w, r, connect.NewError(connect.CodeUnavailable, errors.New("proxy: the answer was lost")))
}

func fastRetries() ingestclient.Option {
	return ingestclient.WithRetryPolicy(ingestclient.RetryPolicy{MaxAttempts: 4, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
}

func TestClientAgainstDevStack(t *testing.T) {
	s := devStack(t)
	ctx := context.Background()
	base := s.URL(platform.Ingest)
	key := s.IngestKey()
	protocols := []struct {
		name string
		opt  ingestclient.Option
	}{
		{"grpc", ingestclient.WithGRPC()},
		{"connect", ingestclient.WithConnect()},
		{"grpc-web", ingestclient.WithGRPCWeb()},
	}

	t.Run("three forms over three protocols", func(t *testing.T) {
		for _, p := range protocols {
			t.Run(p.name, func(t *testing.T) {
				c := ingestclient.New(base, p.opt, ingestclient.WithAPIKey(key))
				jsonEv, err := ingestclient.JSON("clickstream.events.v1.ItemViewV2", map[string]any{
					"context": map[string]any{"userId": "u-" + p.name}, "itemId": 8, "referrer": "feed",
				})
				if err != nil {
					t.Fatal(err)
				}
				bad, err := ingestclient.JSON("clickstream.events.v1.NoSuchEventV1", map[string]any{})
				if err != nil {
					t.Fatal(err)
				}
				events := []*ingestv1.Event{
					typedEvent(t, itemView("u-"+p.name, 7)),
					jsonEv,
					ingestclient.Mobile(1001, 2, map[string]string{"context.user_id": "u-" + p.name, "item_id": "9"}),
					bad,
				}
				results, err := c.Send(ctx, events...)
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if len(results) != len(events) {
					t.Fatalf("%d results for %d events", len(results), len(events))
				}
				for i, r := range results[:3] {
					if r.Status != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED || r.Err != nil {
						t.Errorf("event %d: %v %v %v, want ACCEPTED", i, r.Status, r.Rejection, r.Err)
					}
					if r.Key == "" || r.Key != events[i].GetIdempotencyKey() {
						t.Errorf("event %d: key %q, event carries %q", i, r.Key, events[i].GetIdempotencyKey())
					}
				}
				if r := results[3]; r.Status != ingestv1.EventStatus_EVENT_STATUS_REJECTED ||
					r.Rejection.GetReason() != ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT {
					t.Errorf("unknown event: %v %v, want REJECTED UNKNOWN_EVENT", r.Status, r.Rejection)
				}
			})
		}
	})

	t.Run("a lost answer is retried with the same keys and stored once", func(t *testing.T) {
		for _, p := range protocols {
			t.Run(p.name, func(t *testing.T) {
				proxy, proxyURL := newFlakyProxy(t, base)
				proxy.lose.Store(1)
				c := ingestclient.New(proxyURL, p.opt, ingestclient.WithAPIKey(key), fastRetries())
				var events []*ingestv1.Event
				for i := range 50 {
					events = append(events, typedEvent(t, itemView("u-retry", int64(i+1))))
				}
				results, err := c.Send(ctx, events...)
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if n := proxy.calls.Load(); n != 2 {
					t.Errorf("%d calls reached the proxy, want 2 (one lost answer, one retry)", n)
				}
				copies := eventCopies(t, s.Bus())
				for i, r := range results {
					// The first attempt stored every event: the retry is told so.
					if r.Status != ingestv1.EventStatus_EVENT_STATUS_DUPLICATE {
						t.Errorf("event %d: %v %v, want DUPLICATE", i, r.Status, r.Rejection)
					}
					if n := copies[r.Key]; n != 1 {
						t.Errorf("event %d (key %s) is %d times on EVENTS, want once", i, r.Key, n)
					}
				}
			})
		}
	})

	t.Run("InvalidArgument is not retried", func(t *testing.T) {
		proxy, proxyURL := newFlakyProxy(t, base)
		c := ingestclient.New(proxyURL, ingestclient.WithAPIKey(key), fastRetries())
		events := make([]*ingestv1.Event, 1001) // over the batch limit
		for i := range events {
			events[i] = typedEvent(t, itemView("u-big", 1))
		}
		_, err := c.Send(ctx, events...)
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("Send of 1001 events: %v, want InvalidArgument", err)
		}
		if n := proxy.calls.Load(); n != 1 {
			t.Errorf("%d calls, want 1: InvalidArgument was retried", n)
		}
	})

	t.Run("Unauthenticated is not retried", func(t *testing.T) {
		proxy, proxyURL := newFlakyProxy(t, base)
		c := ingestclient.New(proxyURL, ingestclient.WithAPIKey("not-a-key"), fastRetries())
		_, err := c.Send(ctx, typedEvent(t, itemView("u-auth", 1)))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("Send with a wrong key: %v, want Unauthenticated", err)
		}
		if n := proxy.calls.Load(); n != 1 {
			t.Errorf("%d calls, want 1: Unauthenticated was retried", n)
		}
	})

	t.Run("batcher sends full batches and flushes the rest on Close", func(t *testing.T) {
		proxy, proxyURL := newFlakyProxy(t, base)
		proxy.lose.Store(1) // the first batch's answer is lost and retried
		b := ingestclient.New(proxyURL, ingestclient.WithGRPC(), ingestclient.WithAPIKey(key), fastRetries()).
			NewBatcher(ingestclient.WithBatchSize(100), ingestclient.WithFlushInterval(0))
		keys := map[string]bool{}
		for i := range 250 {
			ev := typedEvent(t, itemView("u-batch", int64(i+1)))
			if err := b.Add(ctx, ev); err != nil {
				t.Fatal(err)
			}
			keys[ev.GetIdempotencyKey()] = true
		}
		results, err := b.Close(ctx)
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
		if len(results) != 250 {
			t.Fatalf("%d results, want 250", len(results))
		}
		if n := proxy.calls.Load(); n != 4 {
			t.Errorf("%d calls, want 4 (3 batches, one retried)", n)
		}
		copies := eventCopies(t, s.Bus())
		for _, r := range results {
			if !r.Stored() || !keys[r.Key] || copies[r.Key] != 1 {
				t.Errorf("event %s: %v %v stored %d times", r.Key, r.Status, r.Err, copies[r.Key])
			}
		}
		if err := b.Add(ctx, typedEvent(t, itemView("u-batch", 1))); !errors.Is(err, ingestclient.ErrClosed) {
			t.Errorf("Add after Close: %v, want ErrClosed", err)
		}
	})

	t.Run("batcher flushes on its interval and hands results to the callback", func(t *testing.T) {
		got := make(chan []ingestclient.Result, 1)
		b := ingestclient.New(base, ingestclient.WithAPIKey(key)).NewBatcher(
			ingestclient.WithFlushInterval(20*time.Millisecond),
			ingestclient.WithResults(func(r []ingestclient.Result) { got <- r }))
		defer b.Close(ctx)
		if err := b.Add(ctx, typedEvent(t, itemView("u-tick", 1)), typedEvent(t, itemView("u-tick", 2))); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if len(r) != 2 || r[0].Status != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
				t.Errorf("callback got %v", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the buffered events were not sent on the interval")
		}
	})

	t.Run("a failed batch reaches the callback with Err on every event", func(t *testing.T) {
		var mu sync.Mutex
		var failed []ingestclient.Result
		c := ingestclient.New("http://127.0.0.1:1", ingestclient.WithRetryPolicy(ingestclient.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}))
		b := c.NewBatcher(ingestclient.WithResults(func(r []ingestclient.Result) {
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, r...)
		}))
		if err := b.Add(ctx, typedEvent(t, itemView("u-down", 1))); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Close(ctx); connect.CodeOf(err) != connect.CodeUnavailable {
			t.Errorf("Close with ingest unreachable: %v, want Unavailable", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(failed) != 1 || failed[0].Err == nil || failed[0].Stored() || failed[0].Key == "" {
			t.Errorf("callback got %+v, want the event with Err and its key", failed)
		}
	})
}

func TestRetryable(t *testing.T) {
	for code, want := range map[connect.Code]bool{
		connect.CodeUnavailable:       true,
		connect.CodeResourceExhausted: true,
		connect.CodeDeadlineExceeded:  true,
		connect.CodeAborted:           true,
		connect.CodeInvalidArgument:   false,
		connect.CodeUnauthenticated:   false,
		connect.CodePermissionDenied:  false,
		connect.CodeInternal:          false,
	} {
		err := fmt.Errorf("send: %w", connect.NewError(code, errors.New("x")))
		if got := ingestclient.Retryable(err); got != want {
			t.Errorf("Retryable(%v) = %v, want %v", code, got, want)
		}
	}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{connect.NewError(connect.CodeCanceled, reset), true},
		{connect.NewError(connect.CodeUnknown, io.ErrUnexpectedEOF), true},
		{connect.NewError(connect.CodeCanceled, context.Canceled), false},
		{connect.NewError(connect.CodeInternal, errors.New("ingest failed")), false},
	} {
		if got := ingestclient.Retryable(c.err); got != c.want {
			t.Errorf("Retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestRetriesAfterConnectionReset: the server dies mid-request (the
// connection is reset before an answer, as after a SIGKILL); the client
// sends the batch again with the same key and gets its verdict.
func TestRetriesAfterConnectionReset(t *testing.T) {
	var calls atomic.Int32
	_, answer := ingestv1connect.NewIngestServiceHandler(acceptAll{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_ = conn.(*net.TCPConn).SetLinger(0) // close with RST
			conn.Close()
			return
		}
		answer.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := ingestclient.New(srv.URL, fastRetries())
	ev, err := ingestclient.Typed(itemView("u-reset", 1))
	if err != nil {
		t.Fatal(err)
	}
	results, err := c.Send(context.Background(), ev)
	if err != nil {
		t.Fatalf("Send after a connection reset: %v (code %v)", err, connect.CodeOf(err))
	}
	if calls.Load() != 2 || !results[0].Stored() || results[0].Key != ev.GetIdempotencyKey() {
		t.Errorf("%d calls, result %+v; want 2 calls and the event accepted under its key %s", calls.Load(), results[0], ev.GetIdempotencyKey())
	}
	t.Logf("reset on attempt 1, %s on attempt %d", results[0].Status, calls.Load())
}

// acceptAll answers every event ACCEPTED: a stand-in server for the
// client's retry tests, not for ingest's behaviour.
type acceptAll struct {
	ingestv1connect.UnimplementedIngestServiceHandler
}

func (acceptAll) SendBatch(_ context.Context, req *ingestv1.SendBatchRequest) (*ingestv1.SendBatchResponse, error) {
	resp := &ingestv1.SendBatchResponse{}
	for i, ev := range req.GetEvents() {
		resp.Results = append(resp.Results, &ingestv1.EventResult{Index: int32(i), Id: ev.GetIdempotencyKey(), Status: ingestv1.EventStatus_EVENT_STATUS_ACCEPTED})
	}
	return resp, nil
}

func TestParseProtocol(t *testing.T) {
	for _, name := range []string{"connect", "grpc", "grpc-web"} {
		p, err := ingestclient.ParseProtocol(name)
		if err != nil || p.String() != name {
			t.Errorf("ParseProtocol(%q) = %v, %v", name, p, err)
		}
	}
	if _, err := ingestclient.ParseProtocol("rest"); err == nil || !strings.Contains(err.Error(), "grpc-web") {
		t.Errorf("ParseProtocol(rest): %v, want an error naming the choices", err)
	}
}

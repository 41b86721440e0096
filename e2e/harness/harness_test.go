package harness

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"connectrpc.com/connect"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
)

// TestWorkloadInvalidShare: the share of invalid events is the one chosen,
// spread evenly, and 10% is the workload the tests have always sent.
func TestWorkloadInvalidShare(t *testing.T) {
	for _, p := range []int{0, 1, 10, 25, 100} {
		w := Workload{N: 1000, InvalidPercent: p}
		if got := w.Invalid(); got != 10*p {
			t.Errorf("%d%% of 1000 events: %d invalid, want %d", p, got, 10*p)
		}
		for start := 0; start+100 <= w.N; start += 100 {
			n := 0
			for i := start; i < start+100; i++ {
				if !w.Valid(i) {
					n++
				}
			}
			if n != p {
				t.Errorf("%d%%: events %d to %d hold %d invalid, want %d", p, start, start+99, n, p)
			}
		}
	}
	w := Workload{N: 100, Prefix: "k", InvalidPercent: 10}
	for i := range w.N {
		if w.Valid(i) != (i%10 != 7) {
			t.Errorf("event %d valid %v, want only those ending in 7 invalid", i, w.Valid(i))
		}
		if ev := w.Event(i); ev.GetIdempotencyKey() != w.Key(i) {
			t.Errorf("event %d has key %q, want %q", i, ev.GetIdempotencyKey(), w.Key(i))
		}
	}
}

// fakeIngest answers SendBatch with Unavailable for the first attempt of
// each key it has not failed yet when fail is set, and ACCEPTED otherwise,
// noting which instance got each attempt. It is a stand-in for ingest only
// to test the harness's routing, not the platform.
type fakeIngest struct {
	ingestv1connect.UnimplementedIngestServiceHandler
	name string
	mu   *sync.Mutex
	seen map[string][]string // first key of the batch → instances, in order
	fail bool
}

func (f fakeIngest) SendBatch(_ context.Context, req *ingestv1.SendBatchRequest) (*ingestv1.SendBatchResponse, error) {
	key := req.GetEvents()[0].GetIdempotencyKey()
	f.mu.Lock()
	f.seen[key] = append(f.seen[key], f.name)
	first := len(f.seen[key]) == 1
	f.mu.Unlock()
	if f.fail && first {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("no stream leader"))
	}
	resp := &ingestv1.SendBatchResponse{}
	for i, ev := range req.GetEvents() {
		resp.Results = append(resp.Results, &ingestv1.EventResult{Index: int32(i), Id: ev.GetIdempotencyKey(), Status: ingestv1.EventStatus_EVENT_STATUS_ACCEPTED})
	}
	return resp, nil
}

// TestSenderSpreadsBatchesAndRetries: batch b goes to instance b mod 2 and
// its retry (after Unavailable) to the other one, with the same keys; the
// sender counts the attempts, the retries and the codes.
func TestSenderSpreadsBatchesAndRetries(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]string{}
	var urls []string
	for _, name := range []string{"a", "b"} {
		path, h := ingestv1connect.NewIngestServiceHandler(fakeIngest{name: name, mu: &mu, seen: seen, fail: true})
		mux := http.NewServeMux()
		mux.Handle(path, h)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	s := NewSender("key", UntilAnswered(), urls...)
	w := Workload{N: 40, Prefix: "spread", Users: 2, UserPrefix: "u", InvalidPercent: 10}
	if err := s.SendAll(t.Context(), w, 10, 2); err != nil {
		t.Fatal(err)
	}
	for b := range 4 {
		got := seen[w.Key(10*b)]
		want := []string{"a", "b"}
		if b%2 == 1 {
			want = []string{"b", "a"}
		}
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("batch %d went to %v, want %v", b, got, want)
		}
	}
	accepted, _, _ := s.Count()
	if accepted != w.N || s.Attempts.Load() != 8 || s.Retries.Load() != 4 || s.ErrorCodes()["unavailable"] != 4 {
		t.Errorf("accepted %d, attempts %d, retries %d, codes %v; want %d, 8, 4, unavailable×4",
			accepted, s.Attempts.Load(), s.Retries.Load(), s.ErrorCodes(), w.N)
	}
}

package faults_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/anypb"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
)

// workload is the events a test sends: NavigationTripFinishedV1 of a few
// users, every tenth one without its required trip id (so it is rejected
// and dead-lettered). The key of event i is unique in the run.
type workload struct {
	n, users int
	prefix   string
}

func (w workload) key(i int) string     { return fmt.Sprintf("%s-%06d", w.prefix, i) }
func (w workload) user(i int) string    { return fmt.Sprintf("fault-user-%02d", i%w.users) }
func (w workload) valid(i int) bool     { return i%10 != 7 }
func (w workload) distance(i int) int64 { return int64(100 + i%900) }

func (w workload) event(i int) *ingestv1.Event {
	trip := &eventsv1.NavigationTripFinishedV1{
		Context:   &eventsv1.Context{UserId: w.user(i)},
		DistanceM: w.distance(i),
		Arrived:   true,
	}
	if w.valid(i) {
		trip.TripId = fmt.Sprintf("trip-%d", i)
	}
	payload, err := anypb.New(trip)
	if err != nil {
		panic(err)
	}
	return &ingestv1.Event{IdempotencyKey: w.key(i), Payload: &ingestv1.Event_Typed{Typed: payload}}
}

// distances is what the navigation objective of every user must sum to
// once the valid events of [0, n) are counted.
func (w workload) distances() map[string]float64 {
	sum := map[string]float64{}
	for i := range w.n {
		if w.valid(i) {
			sum[w.user(i)] += float64(w.distance(i))
		}
	}
	return sum
}

// verdicts are the final answers the client got, by key.
type verdicts struct {
	mu       sync.Mutex
	status   map[string]ingestv1.EventStatus
	attempts atomic.Int64 // batches sent, retries included
	retries  atomic.Int64 // batches sent again after an error
	done     atomic.Int64 // events with a final answer
}

// sendAll sends events [0, w.n) in batches of batch over the Connect
// protocol from workers goroutines, retrying each failed batch with the
// same keys until it is answered (the documented client rule), and returns
// the final verdict of every event. ctx bounds the whole run.
func sendAll(ctx context.Context, t *testing.T, ingestURL, apiKey string, w workload, batch, workers int, v *verdicts) {
	t.Helper()
	v.status = make(map[string]ingestv1.EventStatus, w.n)
	client := ingestv1connect.NewIngestServiceClient(bearerClient(apiKey), ingestURL)
	next := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range next {
				end := min(start+batch, w.n)
				req := &ingestv1.SendBatchRequest{}
				for i := start; i < end; i++ {
					req.Events = append(req.Events, w.event(i))
				}
				resp, err := sendWithRetries(ctx, client, req, v)
				if err != nil {
					failed.CompareAndSwap(nil, err)
					continue
				}
				v.mu.Lock()
				for _, r := range resp.GetResults() {
					v.status[r.GetId()] = r.GetStatus()
				}
				v.mu.Unlock()
				v.done.Add(int64(len(resp.GetResults())))
			}
		}()
	}
	for start := 0; start < w.n; start += batch {
		select {
		case next <- start:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("a batch was never answered: %v", err)
	}
}

func sendWithRetries(ctx context.Context, client ingestv1connect.IngestServiceClient, req *ingestv1.SendBatchRequest, v *verdicts) (*ingestv1.SendBatchResponse, error) {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		v.attempts.Add(1)
		resp, err := client.SendBatch(ctx, req)
		if err == nil {
			if got, want := len(resp.GetResults()), len(req.GetEvents()); got != want {
				return nil, fmt.Errorf("%d results for %d events", got, want)
			}
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("batch of %s after %d attempts: %w (last error: %v)", req.Events[0].GetIdempotencyKey(), attempt, ctx.Err(), err)
		}
		// Only errors a retry can fix: the process is down, restarting, or
		// not ready (the catalogue not loaded yet).
		switch connect.CodeOf(err) {
		case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeDeadlineExceeded, connect.CodeInternal,
			connect.CodeFailedPrecondition, connect.CodeResourceExhausted, connect.CodeCanceled:
		default:
			return nil, fmt.Errorf("batch of %s: %w", req.Events[0].GetIdempotencyKey(), err)
		}
		v.retries.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// count tallies the verdicts.
func (v *verdicts) count() (accepted, duplicate, rejected int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range v.status {
		switch s {
		case ingestv1.EventStatus_EVENT_STATUS_ACCEPTED:
			accepted++
		case ingestv1.EventStatus_EVENT_STATUS_DUPLICATE:
			duplicate++
		case ingestv1.EventStatus_EVENT_STATUS_REJECTED:
			rejected++
		}
	}
	return
}

// streamKeys reads every message of stream through a NATS client and
// returns how often each idempotency key occurs (the Nats-Msg-Id, with
// prefix removed).
func streamKeys(ctx context.Context, t *testing.T, natsURL, stream, prefix string) map[string]int {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatalf("connect to NATS at %s: %v", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	if info.State.Msgs == 0 {
		return keys
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for read := uint64(0); read < info.State.Msgs; {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			id := strings.TrimPrefix(m.Headers().Get(jetstream.MsgIDHeader), prefix)
			keys[id]++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Fatalf("read %s: %v", stream, err)
		}
		if got == 0 {
			t.Fatalf("read %s: %d of %d messages, then nothing", stream, read, info.State.Msgs)
		}
		read += uint64(got)
	}
	return keys
}

// bearerClient is an HTTP client sending "Authorization: Bearer <token>".
func bearerClient(token string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: bearer{token: token, next: http.DefaultTransport}}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// adminClient is the awards admin and public APIs with the dev stack's
// admin token.
type adminClient struct {
	admin  awardsv1connect.AwardsAdminServiceClient
	public awardsv1connect.AwardsServiceClient
}

func newAdminClient(url, token string) adminClient {
	hc := bearerClient(token)
	return adminClient{admin: awardsv1connect.NewAwardsAdminServiceClient(hc, url), public: awardsv1connect.NewAwardsServiceClient(hc, url)}
}

// navigationPending is how many navigation events the awards consumer has
// not applied yet.
func (a adminClient) navigationPending(ctx context.Context) (uint64, error) {
	resp, err := a.admin.ListSources(ctx, &awardsv1.ListSourcesRequest{})
	if err != nil {
		return 0, err
	}
	for _, s := range resp.GetSources() {
		if s.GetName() == "NavigationTripFinished" {
			return s.GetPending(), nil
		}
	}
	return 0, errors.New("awards lists no NavigationTripFinished source")
}

// navigationSums is the "sum" counter of the navigation objective of
// navigator-10km for each user, and the achievement's progress.
func (a adminClient) navigationSums(ctx context.Context, users []string) (sums, progress map[string]float64, err error) {
	sums, progress = map[string]float64{}, map[string]float64{}
	for _, u := range users {
		resp, err := a.public.ListUserAchievements(ctx, &awardsv1.ListUserAchievementsRequest{UserId: u, PageSize: 200})
		if err != nil {
			return nil, nil, fmt.Errorf("achievements of %s: %w", u, err)
		}
		for _, ua := range resp.GetAchievements() {
			if ua.GetAchievement().GetId() != "navigator-10km" {
				continue
			}
			progress[u] = ua.GetProgress()
			for _, o := range ua.GetObjectives() {
				if o.GetKey() == "navi" {
					sums[u] = o.GetCounters()["sum"]
				}
			}
		}
	}
	return sums, progress, nil
}

// waitApplied waits until the awards consumer has applied every navigation
// event on the bus and the counters equal want.
func (a adminClient) waitApplied(ctx context.Context, t *testing.T, want map[string]float64) map[string]float64 {
	t.Helper()
	users := make([]string, 0, len(want))
	for u := range want {
		users = append(users, u)
	}
	var last string
	for {
		pending, err := a.navigationPending(ctx)
		if err == nil && pending == 0 {
			sums, _, err := a.navigationSums(ctx, users)
			if err == nil && equalSums(sums, want) {
				return sums
			}
			if err != nil {
				last = err.Error()
			} else {
				last = fmt.Sprintf("nothing pending, counters %v", diffSums(sums, want))
			}
		} else if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d navigation events pending", pending)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("awards did not catch up: %v (last: %s)", ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func equalSums(got, want map[string]float64) bool {
	return len(diffSums(got, want)) == 0
}

func diffSums(got, want map[string]float64) []string {
	var out []string
	for u, w := range want {
		if got[u] != w {
			out = append(out, fmt.Sprintf("%s: %v, want %v", u, got[u], w))
		}
	}
	return out
}

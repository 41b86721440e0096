package harness

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// UntilAnswered is the retry policy of the end-to-end senders:
// ingestclient's (the same retryable codes, full-jitter backoff, the same
// keys on every attempt), with waits from 50ms up to 1s and attempts bounded
// only by the caller's context, so a batch sent while a process restarts is
// answered once it is back.
func UntilAnswered() ingestclient.RetryPolicy {
	return ingestclient.RetryPolicy{
		MaxAttempts:    math.MaxInt,
		InitialBackoff: 50 * time.Millisecond,
		MaxBackoff:     time.Second,
		AttemptTimeout: 30 * time.Second,
	}
}

// Sender sends events to ingest as a partner's Go backend does: through
// client/ingestclient, with an API key and a retry policy of that client.
// It keeps the final verdict of every event by key and tallies the attempts
// it took. It is safe for concurrent use.
type Sender struct {
	client *ingestclient.Client

	// Attempts counts batches sent, retries included; Retries the attempts
	// that failed with an error the policy retries; Answered the events with
	// a final answer.
	Attempts, Retries, Answered atomic.Int64

	mu       sync.Mutex
	status   map[string]ingestv1.EventStatus
	errCodes map[string]int
}

// NewSender returns a sender with apiKey to the ingest instances at
// ingestURLs: with more than one, batch b goes first to instance b mod n
// and each retry to the next instance.
func NewSender(apiKey string, policy ingestclient.RetryPolicy, ingestURLs ...string) *Sender {
	s := &Sender{status: map[string]ingestv1.EventStatus{}, errCodes: map[string]int{}}
	hc := ingestclient.NewHTTPClient(ingestclient.Connect)
	if len(ingestURLs) > 1 {
		sp := spread{next: hc.Transport}
		for _, u := range ingestURLs {
			parsed, err := url.Parse(u)
			if err != nil {
				panic(fmt.Sprintf("ingest URL %q: %v", u, err))
			}
			sp.hosts = append(sp.hosts, parsed)
		}
		hc.Transport = sp
	}
	count := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			s.Attempts.Add(1)
			resp, err := next(ctx, req)
			if err != nil {
				s.mu.Lock()
				s.errCodes[connect.CodeOf(err).String()]++
				s.mu.Unlock()
				if ingestclient.Retryable(err) && ctx.Err() == nil {
					s.Retries.Add(1)
				}
			}
			return resp, err
		}
	})
	s.client = ingestclient.New(ingestURLs[0],
		ingestclient.WithAPIKey(apiKey),
		ingestclient.WithHTTPClient(hc),
		ingestclient.WithRetryPolicy(policy),
		ingestclient.WithConnectOptions(connect.WithInterceptors(count)))
	return s
}

// Send sends events as batch number batch (which picks the instance) and
// records their verdicts. The error is the batch's after the policy's
// retries, or a missing verdict.
func (s *Sender) Send(ctx context.Context, batch int, events []*ingestv1.Event) ([]ingestclient.Result, error) {
	results, err := s.client.Send(withBatch(ctx, batch), events...)
	if err != nil {
		return nil, fmt.Errorf("batch of %s: %w", events[0].GetIdempotencyKey(), err)
	}
	s.mu.Lock()
	for _, r := range results {
		if r.Err == nil {
			s.status[r.Key] = r.Status
		}
	}
	s.mu.Unlock()
	for _, r := range results {
		if r.Err != nil {
			return nil, fmt.Errorf("batch of %s: %w", events[0].GetIdempotencyKey(), r.Err)
		}
	}
	s.Answered.Add(int64(len(results)))
	return results, nil
}

// SendAll sends the events of w in batches of size from workers goroutines
// and returns the first batch that was never answered (ctx bounds the run).
func (s *Sender) SendAll(ctx context.Context, w Workload, size, workers int) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range next {
				if _, err := s.Send(ctx, start/size, w.Events(start, size)); err != nil {
					failed.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for start := 0; start < w.N; start += size {
		select {
		case next <- start:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	return ctx.Err()
}

// Status is the final answer to the event with key (UNSPECIFIED for none).
func (s *Sender) Status(key string) ingestv1.EventStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status[key]
}

// Count tallies the final answers.
func (s *Sender) Count() (accepted, duplicate, rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.status {
		switch st {
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

// ErrorCodes counts the failed attempts by code ("unavailable", ...).
func (s *Sender) ErrorCodes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.errCodes)
}

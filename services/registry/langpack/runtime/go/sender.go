package sender

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// SendBatchProcedure is the ingest RPC the sender calls.
const SendBatchProcedure = "/clickstream.ingest.v1.IngestService/SendBatch"

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("clickstream sender: closed")

// RetryPolicy says how often and how patiently a batch is retried. Retries
// send the same events with the same idempotency keys, so ingest stores
// each event once.
type RetryPolicy struct {
	MaxAttempts    int           // attempts per batch, at least 1 (default 5)
	InitialBackoff time.Duration // bound of the first wait (default 100ms); doubles per attempt
	MaxBackoff     time.Duration // cap of the wait bound (default 5s)
	AttemptTimeout time.Duration // deadline of one attempt (default 30s; 0 for none)
}

// DefaultRetryPolicy is the policy a Sender starts with.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second, AttemptTimeout: 30 * time.Second}
}

// backoff is the wait before attempt n+1: full jitter under an exponential bound.
func (p RetryPolicy) backoff(n int) time.Duration {
	bound := p.InitialBackoff
	for i := 1; i < n && bound < p.MaxBackoff; i++ {
		bound *= 2
	}
	bound = min(bound, p.MaxBackoff)
	if bound <= 0 {
		return 0
	}
	return rand.N(bound)
}

// Result is the verdict on one event.
type Result struct {
	Key       string        // the idempotency key the event was sent with
	Message   proto.Message // the event
	Status    ingestv1.EventStatus
	Rejection *ingestv1.Rejection // why ingest rejected the event, if it did
	Err       error               // the batch could not be delivered
}

// Stored reports whether ingest has the event: accepted now or earlier.
func (r Result) Stored() bool {
	return r.Err == nil && (r.Status == ingestv1.EventStatus_EVENT_STATUS_ACCEPTED || r.Status == ingestv1.EventStatus_EVENT_STATUS_DUPLICATE)
}

// Option configures a Sender.
type Option func(*Sender)

// WithAPIKey sends "Authorization: Bearer <key>"; the key is bound to this environment.
func WithAPIKey(key string) Option { return func(s *Sender) { s.apiKey = key } }

// WithHTTPClient sets the HTTP client (default: HTTP/1.1 and HTTP/2; h2c for gRPC).
func WithHTTPClient(c connect.HTTPClient) Option { return func(s *Sender) { s.httpClient = c } }

// WithGRPC speaks gRPC instead of the Connect protocol.
func WithGRPC() Option { return func(s *Sender) { s.protocol = "grpc" } }

// WithGRPCWeb speaks gRPC-Web instead of the Connect protocol.
func WithGRPCWeb() Option { return func(s *Sender) { s.protocol = "grpc-web" } }

// WithBatchSize sends a batch once this many events wait (default 100).
func WithBatchSize(n int) Option {
	return func(s *Sender) {
		if n > 0 {
			s.batchSize = n
		}
	}
}

// WithFlushInterval sends waiting events at least this often (default 1s; 0 turns timed flushes off).
func WithFlushInterval(d time.Duration) Option { return func(s *Sender) { s.interval = d } }

// WithRetryPolicy sets the retry policy; zero fields keep their defaults.
func WithRetryPolicy(p RetryPolicy) Option { return func(s *Sender) { s.retry = p } }

// WithResults receives the results of batches sent by Add and by timed
// flushes; without it they are kept for Flush and Close.
func WithResults(fn func([]Result)) Option { return func(s *Sender) { s.onResults = fn } }

type pending struct {
	key string
	msg proto.Message
}

// Sender delivers events of this langpack to ingest. Add queues an event
// and sends full batches; waiting events go out every flush interval and on
// Flush and Close. Send sends at once. It is safe for concurrent use.
type Sender struct {
	apiKey     string
	httpClient connect.HTTPClient
	protocol   string
	batchSize  int
	interval   time.Duration
	retry      RetryPolicy
	onResults  func([]Result)
	rpc        *connect.Client[ingestv1.SendBatchRequest, ingestv1.SendBatchResponse]

	mu      sync.Mutex
	queue   []pending
	results []Result
	errs    []error
	closed  bool
	sending sync.WaitGroup
	stop    chan struct{}
	ticker  sync.WaitGroup
}

// NewSender returns a Sender for the ingest service at baseURL, e.g.
// "http://127.0.0.1:8082".
func NewSender(baseURL string, opts ...Option) *Sender {
	s := &Sender{batchSize: 100, interval: time.Second, retry: DefaultRetryPolicy(), stop: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	def := DefaultRetryPolicy()
	if s.retry.MaxAttempts <= 0 {
		s.retry.MaxAttempts = def.MaxAttempts
	}
	if s.retry.InitialBackoff <= 0 {
		s.retry.InitialBackoff = def.InitialBackoff
	}
	if s.retry.MaxBackoff <= 0 {
		s.retry.MaxBackoff = def.MaxBackoff
	}
	if s.httpClient == nil {
		s.httpClient = newHTTPClient(s.protocol == "grpc")
	}
	var copts []connect.ClientOption
	switch s.protocol {
	case "grpc":
		copts = append(copts, connect.WithGRPC())
	case "grpc-web":
		copts = append(copts, connect.WithGRPCWeb())
	}
	if s.apiKey != "" {
		bearer := "Bearer " + s.apiKey
		copts = append(copts, connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", bearer)
				return next(ctx, req)
			}
		})))
	}
	s.rpc = connect.NewClient[ingestv1.SendBatchRequest, ingestv1.SendBatchResponse](s.httpClient, strings.TrimRight(baseURL, "/")+SendBatchProcedure, copts...)
	if s.interval > 0 {
		s.ticker.Add(1)
		go s.tick()
	}
	return s
}

func newHTTPClient(h2c bool) *http.Client {
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	if h2c {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           &protocols,
	}}
}

// NewKey returns a fresh idempotency key.
func NewKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// check validates m as an event of this langpack.
func check(m proto.Message) error {
	info, ok := Lookup(m)
	if !ok {
		name := "<nil>"
		if m != nil {
			name = string(m.ProtoReflect().Descriptor().FullName())
		}
		return fmt.Errorf("%s is not an event the %q environment may send (this langpack, catalogue revision %d)", name, Environment, CatalogueRevision)
	}
	return info.Validate(m)
}

// Add validates m, queues it under a new idempotency key and sends a batch
// when enough events wait. It returns the key.
func (s *Sender) Add(ctx context.Context, m proto.Message) (string, error) {
	key := NewKey()
	return key, s.AddWithKey(ctx, key, m)
}

// AddWithKey is Add with the caller's idempotency key.
func (s *Sender) AddWithKey(ctx context.Context, key string, m proto.Message) error {
	if err := check(m); err != nil {
		return err
	}
	if key == "" {
		key = NewKey()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.queue = append(s.queue, pending{key: key, msg: m})
	s.mu.Unlock()
	for {
		batch := s.take(s.batchSize)
		if batch == nil {
			return nil
		}
		s.deliver(ctx, batch)
	}
}

// Send validates every event, then sends them at once (in batches of the
// batch size) and returns one result per event, in order. Nothing is sent
// when an event is invalid.
func (s *Sender) Send(ctx context.Context, events ...proto.Message) ([]Result, error) {
	batch := make([]pending, len(events))
	for i, m := range events {
		if err := check(m); err != nil {
			return nil, err
		}
		batch[i] = pending{key: NewKey(), msg: m}
	}
	var out []Result
	var errs []error
	for len(batch) > 0 {
		n := min(len(batch), s.batchSize)
		results, err := s.sendBatch(ctx, batch[:n])
		out = append(out, results...)
		if err != nil {
			errs = append(errs, err)
		}
		batch = batch[n:]
	}
	return out, errors.Join(errs...)
}

// Flush sends every waiting event and returns the results gathered since
// the last Flush (unless WithResults receives them) and the batch errors.
func (s *Sender) Flush(ctx context.Context) ([]Result, error) {
	for {
		batch := s.take(0)
		if batch == nil {
			break
		}
		s.deliver(ctx, batch)
	}
	s.sending.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	results, errs := s.results, s.errs
	s.results, s.errs = nil, nil
	return results, errors.Join(errs...)
}

// Close stops timed flushes, sends what waits and returns like Flush.
func (s *Sender) Close(ctx context.Context) ([]Result, error) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.ticker.Wait()
	return s.Flush(ctx)
}

func (s *Sender) tick() {
	defer s.ticker.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if batch := s.take(0); batch != nil {
				s.deliver(context.Background(), batch)
			}
		}
	}
}

// take removes up to a batch from the queue when at least atLeast events wait.
func (s *Sender) take(atLeast int) []pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 || len(s.queue) < atLeast {
		return nil
	}
	n := min(len(s.queue), s.batchSize)
	batch := s.queue[:n:n]
	s.queue = s.queue[n:]
	s.sending.Add(1)
	return batch
}

func (s *Sender) deliver(ctx context.Context, batch []pending) {
	defer s.sending.Done()
	results, err := s.sendBatch(ctx, batch)
	s.mu.Lock()
	if err != nil {
		s.errs = append(s.errs, err)
	}
	if s.onResults == nil {
		s.results = append(s.results, results...)
	}
	s.mu.Unlock()
	if s.onResults != nil {
		s.onResults(results)
	}
}

// sendBatch sends one batch with retries; the request, and so every
// idempotency key, is the same on every attempt.
func (s *Sender) sendBatch(ctx context.Context, batch []pending) ([]Result, error) {
	results := make([]Result, len(batch))
	req := &ingestv1.SendBatchRequest{Events: make([]*ingestv1.Event, len(batch))}
	for i, p := range batch {
		results[i] = Result{Key: p.key, Message: p.msg}
		payload, err := anypb.New(p.msg)
		if err != nil {
			return nil, fmt.Errorf("encode event %d (key %s): %w", i, p.key, err)
		}
		req.Events[i] = &ingestv1.Event{IdempotencyKey: p.key, Payload: &ingestv1.Event_Typed{Typed: payload}}
	}
	var resp *connect.Response[ingestv1.SendBatchResponse]
	var err error
	attempt := 1
	for ; ; attempt++ {
		resp, err = s.attempt(ctx, req)
		if err == nil || attempt >= s.retry.MaxAttempts || !retryable(err) || ctx.Err() != nil {
			break
		}
		wait := time.NewTimer(s.retry.backoff(attempt))
		select {
		case <-ctx.Done():
			wait.Stop()
			err = fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-wait.C:
			continue
		}
		break
	}
	if err != nil {
		err = fmt.Errorf("send batch of %d events (%d attempts): %w", len(batch), attempt, err)
		for i := range results {
			results[i].Err = err
		}
		return results, err
	}
	for _, r := range resp.Msg.GetResults() {
		if i := int(r.GetIndex()); i >= 0 && i < len(results) {
			results[i].Status = r.GetStatus()
			results[i].Rejection = r.GetRejection()
		}
	}
	for i := range results {
		if results[i].Status == ingestv1.EventStatus_EVENT_STATUS_UNSPECIFIED {
			results[i].Err = fmt.Errorf("ingest answered no verdict for event %d (key %s)", i, results[i].Key)
		}
	}
	return results, nil
}

func (s *Sender) attempt(ctx context.Context, req *ingestv1.SendBatchRequest) (*connect.Response[ingestv1.SendBatchResponse], error) {
	if s.retry.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.retry.AttemptTimeout)
		defer cancel()
	}
	return s.rpc.CallUnary(ctx, connect.NewRequest(req))
}

// retryable reports whether a failed batch may succeed when sent again.
func retryable(err error) bool {
	// The codes are client/ingestclient's RetryableCodes and TransportCodes
	// (TestRetryCodesAreTheClients keeps them equal), so the Go client and
	// the Go langpack retry after the same errors.
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeResourceExhausted, connect.CodeDeadlineExceeded, connect.CodeAborted:
		return true
	case connect.CodeUnknown, connect.CodeInternal, connect.CodeCanceled:
		var netErr net.Error
		return errors.As(err, &netErr) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
	}
	return false
}

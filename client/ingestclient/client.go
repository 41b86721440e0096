package ingestclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
)

// Protocol is the wire protocol the client speaks.
type Protocol int

const (
	// Connect is the Connect protocol over HTTP/1.1 or HTTP/2 (the default).
	Connect Protocol = iota
	// GRPC is gRPC over HTTP/2 (cleartext HTTP/2 for http:// URLs).
	GRPC
	// GRPCWeb is gRPC-Web over HTTP/1.1 or HTTP/2.
	GRPCWeb
)

// String is the protocol's name: "connect", "grpc" or "grpc-web".
func (p Protocol) String() string {
	switch p {
	case GRPC:
		return "grpc"
	case GRPCWeb:
		return "grpc-web"
	}
	return "connect"
}

// ParseProtocol reads a protocol name as String writes it.
func ParseProtocol(name string) (Protocol, error) {
	switch strings.ToLower(name) {
	case "connect":
		return Connect, nil
	case "grpc":
		return GRPC, nil
	case "grpc-web", "grpcweb":
		return GRPCWeb, nil
	}
	return Connect, fmt.Errorf("unknown protocol %q: use connect, grpc or grpc-web", name)
}

// RetryPolicy says how often and how patiently a failed batch is sent again.
// Only errors a retry can fix are retried (see RetryableCodes): Unavailable,
// ResourceExhausted, DeadlineExceeded of one attempt, Aborted, and transport
// errors. InvalidArgument, Unauthenticated, PermissionDenied and the rest are
// returned at once.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts per batch, the first included; 1
	// disables retries. Default 5.
	MaxAttempts int
	// InitialBackoff is the upper bound of the first wait; each further wait
	// doubles it, up to MaxBackoff. The wait is drawn uniformly below the
	// bound (full jitter). Default 100ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the bound. Default 5s.
	MaxBackoff time.Duration
	// AttemptTimeout bounds one attempt; 0 leaves it to the caller's
	// context. Default 30s.
	AttemptTimeout time.Duration
}

// DefaultRetryPolicy is the policy of a client without WithRetryPolicy.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second, AttemptTimeout: 30 * time.Second}
}

// backoff is the wait before attempt n+1 (n ≥ 1 attempts made).
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

type config struct {
	protocol    Protocol
	apiKey      string
	httpClient  connect.HTTPClient
	retry       RetryPolicy
	connectOpts []connect.ClientOption
}

// Option configures a Client.
type Option func(*config)

// WithConnect makes the client speak the Connect protocol (the default).
func WithConnect() Option { return func(c *config) { c.protocol = Connect } }

// WithGRPC makes the client speak gRPC.
func WithGRPC() Option { return func(c *config) { c.protocol = GRPC } }

// WithGRPCWeb makes the client speak gRPC-Web.
func WithGRPCWeb() Option { return func(c *config) { c.protocol = GRPCWeb } }

// WithProtocol makes the client speak p.
func WithProtocol(p Protocol) Option { return func(c *config) { c.protocol = p } }

// WithAPIKey sends key as "Authorization: Bearer <key>" with every call.
// An empty key sends none.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithHTTPClient replaces the HTTP client. gRPC needs one that speaks
// HTTP/2, over cleartext for http:// URLs (see NewHTTPClient).
func WithHTTPClient(h connect.HTTPClient) Option { return func(c *config) { c.httpClient = h } }

// WithRetryPolicy replaces DefaultRetryPolicy; zero fields keep its values.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithConnectOptions passes options to the generated Connect client, e.g.
// connect.WithSendGzip().
func WithConnectOptions(opts ...connect.ClientOption) Option {
	return func(c *config) { c.connectOpts = append(c.connectOpts, opts...) }
}

// NewHTTPClient returns an HTTP client for p: HTTP/2 for gRPC (cleartext,
// with prior knowledge, for http:// URLs; negotiated over TLS for https://),
// HTTP/1.1 or HTTP/2 otherwise, with enough idle connections for concurrent
// batches.
func NewHTTPClient(p Protocol) *http.Client {
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	if p == GRPC {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           &protocols,
		ForceAttemptHTTP2:   true,
	}}
}

// Client sends events to ingest. It is safe for concurrent use.
type Client struct {
	rpc   ingestv1connect.IngestServiceClient
	retry RetryPolicy
}

// New returns a client of the ingest service at baseURL, e.g.
// "http://127.0.0.1:8082".
func New(baseURL string, opts ...Option) *Client {
	cfg := config{retry: DefaultRetryPolicy()}
	for _, o := range opts {
		o(&cfg)
	}
	def := DefaultRetryPolicy()
	if cfg.retry.MaxAttempts <= 0 {
		cfg.retry.MaxAttempts = def.MaxAttempts
	}
	if cfg.retry.InitialBackoff <= 0 {
		cfg.retry.InitialBackoff = def.InitialBackoff
	}
	if cfg.retry.MaxBackoff <= 0 {
		cfg.retry.MaxBackoff = def.MaxBackoff
	}
	if cfg.retry.AttemptTimeout < 0 {
		cfg.retry.AttemptTimeout = 0
	}
	if cfg.httpClient == nil {
		cfg.httpClient = NewHTTPClient(cfg.protocol)
	}
	var copts []connect.ClientOption
	switch cfg.protocol {
	case GRPC:
		copts = append(copts, connect.WithGRPC())
	case GRPCWeb:
		copts = append(copts, connect.WithGRPCWeb())
	}
	if cfg.apiKey != "" {
		copts = append(copts, connect.WithInterceptors(apiKeyInterceptor(cfg.apiKey)))
	}
	copts = append(copts, cfg.connectOpts...)
	return &Client{
		rpc:   ingestv1connect.NewIngestServiceClient(cfg.httpClient, strings.TrimRight(baseURL, "/"), copts...),
		retry: cfg.retry,
	}
}

func apiKeyInterceptor(key string) connect.UnaryInterceptorFunc {
	bearer := "Bearer " + key
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", bearer)
			return next(ctx, req)
		}
	}
}

// Result is the verdict on one event.
type Result struct {
	// Event is the event as sent, with its idempotency key.
	Event *ingestv1.Event
	// Key is the event's idempotency key.
	Key string
	// Status is ACCEPTED, DUPLICATE or REJECTED; UNSPECIFIED when Err is set.
	Status ingestv1.EventStatus
	// Rejection says why a REJECTED event was rejected.
	Rejection *ingestv1.Rejection
	// Err is set when the batch holding the event failed (after retries):
	// the event may or may not be stored; send it again with the same key.
	Err error
}

// Stored reports whether the event is on the bus: accepted now or earlier.
func (r Result) Stored() bool {
	return r.Err == nil && (r.Status == ingestv1.EventStatus_EVENT_STATUS_ACCEPTED || r.Status == ingestv1.EventStatus_EVENT_STATUS_DUPLICATE)
}

// Send sends events as one batch and returns one result per event, in
// order. Every event without an idempotency key gets one (a UUIDv7, set on
// the event) before the first attempt, and every retry sends the same keys:
// an event stored by an attempt whose answer was lost comes back DUPLICATE
// and is stored once. The error is the batch's, after retries: then no
// results are returned.
func (c *Client) Send(ctx context.Context, events ...*ingestv1.Event) ([]Result, error) {
	if len(events) == 0 {
		return nil, nil
	}
	AssignKeys(events)
	req := &ingestv1.SendBatchRequest{Events: events}
	var resp *ingestv1.SendBatchResponse
	var err error
	for attempt := 1; ; attempt++ {
		resp, err = c.attempt(ctx, req)
		if err == nil || attempt >= c.retry.MaxAttempts || !Retryable(err) || ctx.Err() != nil {
			break
		}
		wait := time.NewTimer(c.retry.backoff(attempt))
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil, fmt.Errorf("send batch of %d events: %w (after %d attempts, last error: %w)", len(events), ctx.Err(), attempt, err)
		case <-wait.C:
		}
	}
	if err != nil {
		return nil, fmt.Errorf("send batch of %d events: %w", len(events), err)
	}
	results := make([]Result, len(events))
	for i, ev := range events {
		results[i] = Result{Event: ev, Key: ev.GetIdempotencyKey()}
	}
	for _, r := range resp.GetResults() {
		i := int(r.GetIndex())
		if i < 0 || i >= len(results) {
			continue
		}
		results[i].Status = r.GetStatus()
		results[i].Rejection = r.GetRejection()
		if r.GetId() != "" {
			results[i].Key = r.GetId()
		}
	}
	for i := range results {
		if results[i].Status == ingestv1.EventStatus_EVENT_STATUS_UNSPECIFIED {
			results[i].Err = fmt.Errorf("ingest answered no verdict for event %d (key %s)", i, results[i].Key)
		}
	}
	return results, nil
}

func (c *Client) attempt(ctx context.Context, req *ingestv1.SendBatchRequest) (*ingestv1.SendBatchResponse, error) {
	if c.retry.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.retry.AttemptTimeout)
		defer cancel()
	}
	return c.rpc.SendBatch(ctx, req)
}

// AssignKeys gives every event without an idempotency key a new one (a
// UUIDv7).
func AssignKeys(events []*ingestv1.Event) {
	for _, ev := range events {
		if ev.GetIdempotencyKey() == "" {
			ev.IdempotencyKey = uuid.Must(uuid.NewV7()).String()
		}
	}
}

// RetryableCodes are the codes after which a batch is sent again, with the
// same keys: ingest answers Unavailable while its bus or catalogue is not
// ready and ResourceExhausted when it sheds load; DeadlineExceeded is one
// attempt's timeout and Aborted a conflict the next attempt may not meet.
// This is the one list of the retry policy: the Go langpack's sender is
// generated from it (services/registry/langpack), and the end-to-end tests
// send through this client.
func RetryableCodes() []connect.Code {
	return []connect.Code{connect.CodeUnavailable, connect.CodeResourceExhausted, connect.CodeDeadlineExceeded, connect.CodeAborted}
}

// TransportCodes are the codes after which a batch is sent again only when
// the error comes from the transport: a cut-off answer surfaces as Unknown or
// Internal, and a connection reset by a server that died mid-request as
// Canceled (connect-go maps ECONNRESET and EPIPE to it). A Canceled of the
// caller's own context is not retried.
func TransportCodes() []connect.Code {
	return []connect.Code{connect.CodeUnknown, connect.CodeInternal, connect.CodeCanceled}
}

// Retryable reports whether sending the same batch again may succeed: an
// error with one of RetryableCodes, or one of TransportCodes caused by the
// transport.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	code := connect.CodeOf(err)
	switch {
	case slices.Contains(RetryableCodes(), code):
		return true
	case slices.Contains(TransportCodes(), code):
		var netErr net.Error
		return errors.As(err, &netErr) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
	}
	return false
}

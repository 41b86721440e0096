package server

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

func TestRequestID(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string // request ids the handler saw in its context
	)
	double := &registryDouble{getEvent: func(ctx context.Context, req *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, requestID(ctx))
		return &registryv1.GetEventResponse{}, nil
	}}
	srv := start(t, Config{}, double.routes())
	client := http1Client(t)

	first, _ := get(t, client, srv.URL()+"/healthz")
	second, _ := get(t, client, srv.URL()+"/healthz")
	a, b := first.Header.Get(RequestIDHeader), second.Header.Get(RequestIDHeader)
	if _, err := hex.DecodeString(a); err != nil || len(a) != 16 {
		t.Errorf("generated request id %q, want 16 hex digits", a)
	}
	if a == b {
		t.Errorf("two requests got the same generated id %q", a)
	}

	resp, _ := get(t, client, srv.URL()+"/healthz", RequestIDHeader, "req-from-the-edge-42")
	if got := resp.Header.Get(RequestIDHeader); got != "req-from-the-edge-42" {
		t.Errorf("given request id came back as %q, want it echoed", got)
	}
	long := strings.Repeat("x", 200)
	resp, _ = get(t, client, srv.URL()+"/healthz", RequestIDHeader, long)
	if got := resp.Header.Get(RequestIDHeader); got == long || got == "" {
		t.Errorf("an over-long request id came back as %q, want a fresh one", got)
	}

	// Every protocol gets the id, and the handler sees it in its context.
	resp, _ = get(t, client, srv.URL()+"/v1/events/7", RequestIDHeader, "rest-1")
	if got := resp.Header.Get(RequestIDHeader); got != "rest-1" {
		t.Errorf("REST: request id came back as %q, want rest-1", got)
	}
	req, err := http.NewRequestWithContext(callContext(t), http.MethodPost,
		srv.URL()+registryv1connect.RegistryServiceGetEventProcedure, strings.NewReader(`{"eventId": 7}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(RequestIDHeader, "connect-1")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(RequestIDHeader) != "connect-1" {
		t.Errorf("Connect: %d, request id %q; want 200, connect-1", resp.StatusCode, resp.Header.Get(RequestIDHeader))
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != "[rest-1 connect-1]" {
		t.Errorf("handlers saw request ids %q, want [rest-1 connect-1]", seen)
	}
}

func TestPanicRecovery(t *testing.T) {
	var logs syncBuffer
	double := &registryDouble{getEvent: func(_ context.Context, req *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error) {
		if req.GetEventId() == 13 {
			panic("unlucky event")
		}
		return &registryv1.GetEventResponse{Event: &registryv1.Event{Id: req.GetEventId()}}, nil
	}}
	srv := start(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, double.routes())
	client := http1Client(t)

	resp, body := get(t, client, srv.URL()+"/v1/events/13", RequestIDHeader, "panic-1")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("REST: panicking handler answered %d %s, want 500", resp.StatusCode, body)
	}
	if resp, body := get(t, client, srv.URL()+"/v1/events/7"); resp.StatusCode != http.StatusOK {
		t.Errorf("REST after a panic: %d %s, want 200", resp.StatusCode, body)
	}

	connectClient := registryv1connect.NewRegistryServiceClient(client, srv.URL())
	if _, err := connectClient.GetEvent(callContext(t), &registryv1.GetEventRequest{EventId: 13}); connect.CodeOf(err) != connect.CodeInternal {
		t.Errorf("Connect: panicking handler returned %v, want Internal", err)
	}
	grpcClient := registryv1.NewRegistryServiceClient(grpcConn(t, srv))
	if _, err := grpcClient.GetEvent(callContext(t), &registryv1.GetEventRequest{EventId: 13}); status.Code(err) != codes.Internal {
		t.Errorf("gRPC: panicking handler returned %v, want Internal", err)
	}
	if _, err := grpcClient.GetEvent(callContext(t), &registryv1.GetEventRequest{EventId: 7}); err != nil {
		t.Errorf("gRPC after a panic: %v", err)
	}
	if out := logs.String(); !strings.Contains(out, "unlucky event") || !strings.Contains(out, `"request_id":"panic-1"`) {
		t.Errorf("the panic was not logged with its request id:\n%s", out)
	}
}

// TestPanicAfterPartialResponse checks that a response cut short by a panic
// reaches the client as a failure, not as a complete-looking body.
func TestPanicAfterPartialResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"events": [`)
		http.NewResponseController(w).Flush()
		panic("store went away mid-response")
	})
	metrics := newHTTPMetrics(prometheus.NewRegistry(), "test")
	ts := httptest.NewServer(withMiddleware(h, slog.New(slog.DiscardHandler), metrics))
	defer ts.Close()
	ts.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)

	resp, err := ts.Client().Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("read %q with no error, want the response aborted", body)
	}
}

func TestRecorderForwardsFlush(t *testing.T) {
	under := httptest.NewRecorder()
	rec := &recorder{ResponseWriter: under, code: http.StatusOK}
	var w http.ResponseWriter = rec
	f, ok := w.(http.Flusher)
	if !ok {
		t.Fatal("recorder is not an http.Flusher")
	}
	f.Flush()
	if !under.Flushed {
		t.Error("Flush did not reach the underlying writer")
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Errorf("ResponseController.Flush: %v", err)
	}
}

// TestStreamingThroughMiddleware streams a response through the real server
// and reads its first part while the handler is still running.
func TestStreamingThroughMiddleware(t *testing.T) {
	firstRead := make(chan struct{})
	routes := (&registryDouble{}).routes()
	routes.Connect = func(mux *http.ServeMux, _ ...connect.HandlerOption) {
		mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			select {
			case <-firstRead:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, "second\n")
		})
	}
	srv := start(t, Config{}, routes)
	for name, client := range map[string]*http.Client{"HTTP/1.1": http1Client(t), "h2c": h2cClient(t)} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(callContext(t), http.MethodGet, srv.URL()+"/stream", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			lines := bufio.NewReader(resp.Body)
			if line, err := lines.ReadString('\n'); line != "first\n" {
				t.Fatalf("first line %q, %v", line, err)
			}
			firstRead <- struct{}{}
			if line, err := lines.ReadString('\n'); line != "second\n" {
				t.Fatalf("second line %q, %v", line, err)
			}
		})
	}
}

func TestRequestMetrics(t *testing.T) {
	double := &registryDouble{getEvent: func(_ context.Context, req *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error) {
		if req.GetEventId() == 404 {
			return nil, connect.NewError(connect.CodeNotFound, errors.New("event 404 is not registered"))
		}
		return &registryv1.GetEventResponse{Event: &registryv1.Event{Id: req.GetEventId()}}, nil
	}}
	srv := start(t, Config{}, double.routes())
	client := http1Client(t)

	get(t, client, srv.URL()+"/v1/events/7")
	get(t, client, srv.URL()+"/v1/events/8")
	get(t, client, srv.URL()+"/v1/events/404")
	get(t, client, srv.URL()+"/v1/no-such-route")
	if _, err := registryv1connect.NewRegistryServiceClient(client, srv.URL()).
		GetEvent(callContext(t), &registryv1.GetEventRequest{EventId: 7}); err != nil {
		t.Fatal(err)
	}
	conn := grpcConn(t, srv)
	if _, err := registryv1.NewRegistryServiceClient(conn).GetEvent(callContext(t), &registryv1.GetEventRequest{EventId: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := healthv1.NewHealthClient(conn).Check(callContext(t), &healthv1.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	// Paths no handler serves must not become labels of their own.
	for _, path := range []string{
		registryv1connect.RegistryServiceName + "/NoSuchMethod",
		"clickstream.made.up.v1.Service/Method",
	} {
		resp, err := client.Post(srv.URL()+"/"+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}

	resp, body := get(t, client, srv.URL()+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	counts := requestCounts(t, string(body))
	for _, want := range []struct {
		route, code string
		n           float64
	}{
		{"/v1/events/{event_id}", "200", 2},
		{"/v1/events/{event_id}", "404", 1},
		{"/v1/", "404", 1},
		{registryv1connect.RegistryServiceGetEventProcedure, "200", 2}, // Connect and gRPC
		{"/grpc.health.v1.Health/Check", "200", 1},
		{"/" + registryv1connect.RegistryServiceName + "/", "404", 1},
		{"unmatched", "404", 1},
	} {
		if got := counts[[2]string{want.route, want.code}]; got != want.n {
			t.Errorf("clickstream_http_requests_total{route=%q,code=%q} = %v, want %v", want.route, want.code, got, want.n)
		}
	}
	for key := range counts {
		if strings.Contains(key[0], "NoSuchMethod") || strings.Contains(key[0], "made.up") || strings.Contains(key[0], "no-such-route") {
			t.Errorf("an unserved path became a route label: %q", key[0])
		}
	}
}

// requestCounts reads clickstream_http_requests_total from a Prometheus text
// exposition, by route and code, checking the service label on the way.
func requestCounts(t *testing.T, exposition string) map[[2]string]float64 {
	t.Helper()
	const name = "clickstream_http_requests_total{"
	counts := make(map[[2]string]float64)
	for line := range strings.Lines(exposition) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		labels := make(map[string]string)
		for {
			key, after, ok := strings.Cut(rest, `="`)
			if !ok {
				t.Fatalf("cannot parse %q", line)
			}
			var value strings.Builder
			i := 0
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				value.WriteByte(after[i])
			}
			labels[key] = value.String()
			rest = after[i+1:]
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			rest = strings.TrimPrefix(rest, ",")
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			t.Fatalf("cannot parse the value of %q: %v", line, err)
		}
		if labels["service"] != "registry" {
			t.Errorf("%q: service label %q, want registry", line, labels["service"])
		}
		counts[[2]string{labels["route"], labels["code"]}] += n
	}
	if len(counts) == 0 {
		t.Fatalf("no clickstream_http_requests_total in\n%s", exposition)
	}
	return counts
}

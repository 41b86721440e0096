package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// readyBody is what /readyz answers.
type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]result `json:"checks"`
}

func readyz(t *testing.T, srv *Server) (int, readyBody) {
	t.Helper()
	resp, body := get(t, http1Client(t), srv.URL()+"/readyz")
	var got readyBody
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("/readyz body %s is not JSON: %v", body, err)
	}
	return resp.StatusCode, got
}

func healthOf(t *testing.T, srv *Server, service string) (healthv1.HealthCheckResponse_ServingStatus, error) {
	t.Helper()
	resp, err := healthv1.NewHealthClient(grpcConn(t, srv)).Check(callContext(t), &healthv1.HealthCheckRequest{Service: service})
	return resp.GetStatus(), err
}

func ok(context.Context) error { return nil }

func TestReadyWhenEveryCheckPasses(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes(Check{Name: "postgres", Func: ok}, Check{Name: "bus", Func: ok}))
	code, body := readyz(t, srv)
	if code != http.StatusOK || body.Status != "ready" {
		t.Errorf("/readyz = %d %q, want 200 ready", code, body.Status)
	}
	for _, name := range []string{"postgres", "bus"} {
		if body.Checks[name] != (result{Status: "ok"}) {
			t.Errorf("/readyz check %s = %+v, want ok", name, body.Checks[name])
		}
	}
	for _, service := range []string{"", registryv1connect.RegistryServiceName} {
		if got, err := healthOf(t, srv, service); err != nil || got != healthv1.HealthCheckResponse_SERVING {
			t.Errorf("health of %q = %s, %v; want SERVING", service, got, err)
		}
	}
}

func TestNotReadyWhenACheckFails(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes(
		Check{Name: "postgres", Func: ok},
		Check{Name: "bus", Func: func(context.Context) error { return errors.New("nats: no JetStream at nats://127.0.0.1:4222") }},
	))
	code, body := readyz(t, srv)
	if code != http.StatusServiceUnavailable || body.Status != "not ready" {
		t.Errorf("/readyz = %d %q, want 503 not ready", code, body.Status)
	}
	if want := (result{Status: "failing", Error: "nats: no JetStream at nats://127.0.0.1:4222"}); body.Checks["bus"] != want {
		t.Errorf("/readyz check bus = %+v, want %+v", body.Checks["bus"], want)
	}
	if body.Checks["postgres"] != (result{Status: "ok"}) {
		t.Errorf("/readyz check postgres = %+v, want ok", body.Checks["postgres"])
	}
	for _, service := range []string{"", registryv1connect.RegistryServiceName} {
		if got, err := healthOf(t, srv, service); err != nil || got != healthv1.HealthCheckResponse_NOT_SERVING {
			t.Errorf("health of %q = %s, %v; want NOT_SERVING", service, got, err)
		}
	}
}

func TestHealthOfUnknownService(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes(Check{Name: "postgres", Func: ok}))
	_, err := healthOf(t, srv, "clickstream.nope.v1.NopeService")
	if status.Code(err) != codes.NotFound {
		t.Errorf("health of an unknown service: %v, want NotFound", err)
	}
}

// TestHangingChecksAreBounded runs a check that waits on its context and one
// that ignores it; both must be reported failing with the context's error
// rather than holding /readyz and gRPC health forever.
func TestHangingChecksAreBounded(t *testing.T) {
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	srv := start(t, Config{CheckTimeout: 50 * time.Millisecond}, (&registryDouble{}).routes(
		Check{Name: "postgres", Func: ok},
		Check{Name: "bus", Func: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		Check{Name: "awards", Func: func(context.Context) error {
			<-stuck // ignores its context
			return nil
		}},
	))
	code, body := readyz(t, srv)
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", code)
	}
	for _, name := range []string{"bus", "awards"} {
		got := body.Checks[name]
		if got.Status != "failing" || !strings.Contains(got.Error, context.DeadlineExceeded.Error()) {
			t.Errorf("/readyz check %s = %+v, want failing with %q", name, got, context.DeadlineExceeded)
		}
	}
	if body.Checks["postgres"] != (result{Status: "ok"}) {
		t.Errorf("/readyz check postgres = %+v, want ok", body.Checks["postgres"])
	}
	if got, err := healthOf(t, srv, ""); err != nil || got != healthv1.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health = %s, %v; want NOT_SERVING", got, err)
	}
}

func TestPanickingCheckFails(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes(
		Check{Name: "postgres", Func: func(context.Context) error { panic("pool is nil") }},
	))
	code, body := readyz(t, srv)
	if got := body.Checks["postgres"]; code != http.StatusServiceUnavailable || got.Status != "failing" || !strings.Contains(got.Error, "pool is nil") {
		t.Errorf("/readyz = %d, check postgres %+v; want 503, failing with the panic", code, got)
	}
	// The server survived.
	if code, _ := readyz(t, srv); code != http.StatusServiceUnavailable {
		t.Errorf("second /readyz = %d, want 503", code)
	}
}

// TestDegradingChecks covers checks marked Degrades: their failures show in
// /readyz, but the service keeps answering 200 and SERVING unless a check
// not so marked fails too.
func TestDegradingChecks(t *testing.T) {
	down := errors.New("postgres: dial tcp 127.0.0.1:5432: connection refused")
	fails := func(context.Context) error { return down }
	hangs := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	tests := []struct {
		name       string
		checks     []Check
		wantCode   int
		wantStatus string
		wantHealth healthv1.HealthCheckResponse_ServingStatus
		failing    []string // checks reported failing; every other is ok
	}{
		{
			name:       "all pass",
			checks:     []Check{{Name: "bus", Func: ok}, {Name: "postgres", Func: ok, Degrades: true}},
			wantCode:   http.StatusOK,
			wantStatus: "ready",
			wantHealth: healthv1.HealthCheckResponse_SERVING,
		},
		{
			name:       "degrading check fails",
			checks:     []Check{{Name: "bus", Func: ok}, {Name: "postgres", Func: fails, Degrades: true}},
			wantCode:   http.StatusOK,
			wantStatus: "degraded",
			wantHealth: healthv1.HealthCheckResponse_SERVING,
			failing:    []string{"postgres"},
		},
		{
			name:       "degrading check hangs",
			checks:     []Check{{Name: "bus", Func: ok}, {Name: "postgres", Func: hangs, Degrades: true}},
			wantCode:   http.StatusOK,
			wantStatus: "degraded",
			wantHealth: healthv1.HealthCheckResponse_SERVING,
			failing:    []string{"postgres"},
		},
		{
			name:       "required check fails too",
			checks:     []Check{{Name: "bus", Func: fails}, {Name: "postgres", Func: fails, Degrades: true}},
			wantCode:   http.StatusServiceUnavailable,
			wantStatus: "not ready",
			wantHealth: healthv1.HealthCheckResponse_NOT_SERVING,
			failing:    []string{"bus", "postgres"},
		},
		{
			name:       "required check fails alone",
			checks:     []Check{{Name: "bus", Func: fails}, {Name: "postgres", Func: ok, Degrades: true}},
			wantCode:   http.StatusServiceUnavailable,
			wantStatus: "not ready",
			wantHealth: healthv1.HealthCheckResponse_NOT_SERVING,
			failing:    []string{"bus"},
		},
		{
			name:       "required check hangs",
			checks:     []Check{{Name: "bus", Func: hangs}, {Name: "postgres", Func: fails, Degrades: true}},
			wantCode:   http.StatusServiceUnavailable,
			wantStatus: "not ready",
			wantHealth: healthv1.HealthCheckResponse_NOT_SERVING,
			failing:    []string{"bus", "postgres"},
		},
		{
			name:       "only degrading checks, all failing",
			checks:     []Check{{Name: "postgres", Func: fails, Degrades: true}, {Name: "cache", Func: fails, Degrades: true}},
			wantCode:   http.StatusOK,
			wantStatus: "degraded",
			wantHealth: healthv1.HealthCheckResponse_SERVING,
			failing:    []string{"postgres", "cache"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, Config{CheckTimeout: 100 * time.Millisecond}, (&registryDouble{}).routes(tc.checks...))
			code, body := readyz(t, srv)
			if code != tc.wantCode || body.Status != tc.wantStatus {
				t.Errorf("/readyz = %d %q, want %d %q", code, body.Status, tc.wantCode, tc.wantStatus)
			}
			for _, c := range tc.checks {
				got := body.Checks[c.Name]
				if !slices.Contains(tc.failing, c.Name) {
					if got != (result{Status: "ok"}) {
						t.Errorf("/readyz check %s = %+v, want ok", c.Name, got)
					}
					continue
				}
				if got.Status != "failing" || got.Error == "" {
					t.Errorf("/readyz check %s = %+v, want failing with its error", c.Name, got)
				}
			}
			if got, err := healthOf(t, srv, ""); err != nil || got != tc.wantHealth {
				t.Errorf("health = %s, %v; want %s", got, err, tc.wantHealth)
			}
		})
	}
}

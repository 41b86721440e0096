package server

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
)

// Health Watch sends the status at once and again on each change: a
// failing check turns SERVING into NOT_SERVING and back; a service the
// server does not serve is SERVICE_UNKNOWN.
func TestHealthWatch(t *testing.T) {
	var failing atomic.Bool
	check := Check{Name: "bus", Func: func(context.Context) error {
		if failing.Load() {
			return errors.New("the bus is down")
		}
		return nil
	}}
	srv := start(t, Config{}, (&registryDouble{}).routes(check))
	client := connect.NewClient[healthv1.HealthCheckRequest, healthv1.HealthCheckResponse](
		h2cClient(t), srv.URL()+"/grpc.health.v1.Health/Watch", connect.WithGRPC())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := client.CallServerStream(ctx, connect.NewRequest(&healthv1.HealthCheckRequest{Service: "clickstream.registry.v1.RegistryService"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	next := func() healthv1.HealthCheckResponse_ServingStatus {
		t.Helper()
		if !stream.Receive() {
			t.Fatalf("the watch ended: %v", stream.Err())
		}
		return stream.Msg().GetStatus()
	}
	var seen []healthv1.HealthCheckResponse_ServingStatus
	seen = append(seen, next())
	failing.Store(true)
	seen = append(seen, next())
	failing.Store(false)
	seen = append(seen, next())
	t.Logf("statuses watched: %v", seen)
	want := []healthv1.HealthCheckResponse_ServingStatus{healthv1.HealthCheckResponse_SERVING, healthv1.HealthCheckResponse_NOT_SERVING, healthv1.HealthCheckResponse_SERVING}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("statuses %v, want %v", seen, want)
		}
	}

	unknown, err := client.CallServerStream(ctx, connect.NewRequest(&healthv1.HealthCheckRequest{Service: "no.such.Service"}))
	if err != nil {
		t.Fatal(err)
	}
	defer unknown.Close()
	if !unknown.Receive() || unknown.Msg().GetStatus() != healthv1.HealthCheckResponse_SERVICE_UNKNOWN {
		t.Errorf("watch of an unknown service: %v %v, want SERVICE_UNKNOWN", unknown.Msg(), unknown.Err())
	}
}

package server

import (
	"context"
	"net/http"
	"time"

	"connectrpc.com/connect"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
)

// healthWatchPath is grpc.health.v1.Health/Watch, which
// connectrpc.com/grpchealth leaves unimplemented; this handler, mounted on
// its exact path, takes it over.
const healthWatchPath = "/grpc.health.v1.Health/Watch"

// healthWatchInterval is how often a Watch runs the readiness checks again.
const healthWatchInterval = time.Second

// healthWatch serves Watch as the health protocol describes it: the status
// at once, then again each time it changes, until the client goes away or
// the server stops. A service the server does not serve is SERVICE_UNKNOWN
// (and watched all the same, as the protocol asks).
func healthWatch(h healthChecker, interval time.Duration, opts ...connect.HandlerOption) (string, http.Handler) {
	return healthWatchPath, connect.NewServerStreamHandler(healthWatchPath,
		func(ctx context.Context, req *connect.Request[healthv1.HealthCheckRequest], stream *connect.ServerStream[healthv1.HealthCheckResponse]) error {
			ticker := time.NewTicker(interval)
			defer ticker.Stop()
			last := healthv1.HealthCheckResponse_ServingStatus(-1)
			for {
				st := h.watchStatus(ctx, req.Msg.GetService())
				if st != last && ctx.Err() == nil {
					if err := stream.Send(&healthv1.HealthCheckResponse{Status: st}); err != nil {
						return err
					}
					last = st
				}
				select {
				case <-ctx.Done():
					return nil
				case <-ticker.C:
				}
			}
		}, opts...)
}

// watchStatus is the status Watch reports for service.
func (h healthChecker) watchStatus(ctx context.Context, service string) healthv1.HealthCheckResponse_ServingStatus {
	if !h.known[service] {
		return healthv1.HealthCheckResponse_SERVICE_UNKNOWN
	}
	if state, _ := h.readiness.run(ctx); !state.serving() {
		return healthv1.HealthCheckResponse_NOT_SERVING
	}
	return healthv1.HealthCheckResponse_SERVING
}

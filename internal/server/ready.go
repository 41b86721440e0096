package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
)

// readiness runs the readiness checks for /readyz and gRPC health.
type readiness struct {
	checks []Check
}

// checkTimeout bounds one readiness probe.
const checkTimeout = 3 * time.Second

// result is the outcome of one check, as /readyz reports it.
type result struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// run runs every check concurrently and reports whether all passed.
func (r readiness) run(ctx context.Context) (bool, map[string]result) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		ok      = true
		results = make(map[string]result, len(r.checks))
	)
	for _, c := range r.checks {
		wg.Go(func() {
			err := c.Func(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ok = false
				results[c.Name] = result{Status: "failing", Error: err.Error()}
				return
			}
			results[c.Name] = result{Status: "ok"}
		})
	}
	wg.Wait()
	return ok, results
}

// ServeHTTP answers 200 when every check passes and 503 otherwise, with the
// state of each check as JSON.
func (r readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ok, results := r.run(req.Context())
	body := struct {
		Status string            `json:"status"`
		Checks map[string]result `json:"checks"`
	}{Status: "ready", Checks: results}
	code := http.StatusOK
	if !ok {
		body.Status = "not ready"
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// checker adapts readiness to gRPC health: every served service (and the
// server as a whole, "") is SERVING exactly when /readyz would answer 200.
func (r readiness) checker(services []string) grpchealth.Checker {
	known := map[string]bool{"": true}
	for _, s := range services {
		known[s] = true
	}
	return healthChecker{readiness: r, known: known}
}

type healthChecker struct {
	readiness readiness
	known     map[string]bool
}

func (h healthChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if !h.known[req.Service] {
		return nil, connect.NewError(connect.CodeNotFound, nil)
	}
	if ok, _ := h.readiness.run(ctx); !ok {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

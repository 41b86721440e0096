package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
)

// readiness runs the readiness checks for /readyz and gRPC health.
type readiness struct {
	checks []Check
	// timeout bounds one run of all the checks; defaultCheckTimeout when zero.
	timeout time.Duration
}

// defaultCheckTimeout bounds one readiness probe unless Config.CheckTimeout
// says otherwise.
const defaultCheckTimeout = 3 * time.Second

// result is the outcome of one check, as /readyz reports it.
type result struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// run runs every check concurrently and reports whether all passed. It
// returns by the deadline even when a check ignores its context: such a
// check is reported failing with the context's error and left to finish on
// its own.
func (r readiness) run(ctx context.Context) (bool, map[string]result) {
	timeout := r.timeout
	if timeout <= 0 {
		timeout = defaultCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type outcome struct {
		i   int
		err error
	}
	// Buffered, so a check that answers after the deadline never blocks.
	done := make(chan outcome, len(r.checks))
	for i, c := range r.checks {
		go func() { done <- outcome{i: i, err: runCheck(ctx, c)} }()
	}
	ok := true
	results := make(map[string]result, len(r.checks))
	answered := make([]bool, len(r.checks))
	for range r.checks {
		select {
		case o := <-done:
			answered[o.i] = true
			if o.err != nil {
				ok = false
				results[r.checks[o.i].Name] = result{Status: "failing", Error: o.err.Error()}
			} else if _, seen := results[r.checks[o.i].Name]; !seen {
				results[r.checks[o.i].Name] = result{Status: "ok"}
			}
		case <-ctx.Done():
			for i, c := range r.checks {
				if !answered[i] {
					ok = false
					results[c.Name] = result{Status: "failing", Error: fmt.Sprintf("no answer within %s: %v", timeout, ctx.Err())}
				}
			}
			return ok, results
		}
	}
	return ok, results
}

// runCheck runs c, turning a panic into a failing check rather than a crash
// of the whole process (checks run on their own goroutines, out of reach of
// the request middleware).
func runCheck(ctx context.Context, c Check) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check %s panicked: %v", c.Name, p)
		}
	}()
	return c.Func(ctx)
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

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

// readyState is the verdict of one run of the checks.
type readyState int

const (
	ready    readyState = iota
	degraded            // only checks marked Degrades failed
	notReady
)

func (s readyState) String() string {
	switch s {
	case ready:
		return "ready"
	case degraded:
		return "degraded"
	}
	return "not ready"
}

// serving reports whether the service takes traffic in state s.
func (s readyState) serving() bool { return s != notReady }

// result is the outcome of one check, as /readyz reports it.
type result struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// run runs every check concurrently and reports the verdict: ready when all
// passed, degraded when only checks marked Degrades failed, not ready
// otherwise. It returns by the deadline even when a check ignores its
// context: such a check is reported failing with the context's error and
// left to finish on its own.
func (r readiness) run(ctx context.Context) (readyState, map[string]result) {
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
	state := ready
	results := make(map[string]result, len(r.checks))
	fail := func(c Check, msg string) {
		results[c.Name] = result{Status: "failing", Error: msg}
		switch {
		case !c.Degrades:
			state = notReady
		case state == ready:
			state = degraded
		}
	}
	answered := make([]bool, len(r.checks))
	for range r.checks {
		select {
		case o := <-done:
			answered[o.i] = true
			c := r.checks[o.i]
			if o.err != nil {
				fail(c, o.err.Error())
			} else if _, seen := results[c.Name]; !seen {
				results[c.Name] = result{Status: "ok"}
			}
		case <-ctx.Done():
			for i, c := range r.checks {
				if !answered[i] {
					fail(c, fmt.Sprintf("no answer within %s: %v", timeout, ctx.Err()))
				}
			}
			return state, results
		}
	}
	return state, results
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

// ServeHTTP answers 200 when the service takes traffic (status "ready", or
// "degraded" when only checks marked Degrades fail) and 503 otherwise
// ("not ready"), with the state of each check as JSON.
func (r readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	state, results := r.run(req.Context())
	body := struct {
		Status string            `json:"status"`
		Checks map[string]result `json:"checks"`
	}{Status: state.String(), Checks: results}
	code := http.StatusOK
	if !state.serving() {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// checker adapts readiness to gRPC health: every served service (and the
// server as a whole, "") is SERVING exactly when /readyz would answer 200,
// degraded included.
func (r readiness) checker(services []string) healthChecker {
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
	if state, _ := h.readiness.run(ctx); !state.serving() {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

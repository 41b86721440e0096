package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

// httpMetrics are the per-request metrics every protocol shares.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer, service string) httpMetrics {
	labels := prometheus.Labels{"service": service}
	m := httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "clickstream_http_requests_total",
			Help:        "HTTP requests served, by route and status code.",
			ConstLabels: labels,
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "clickstream_http_request_duration_seconds",
			Help:        "Time to serve an HTTP request, by route.",
			ConstLabels: labels,
			Buckets:     prometheus.DefBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// requestInfo travels in the request context from the middleware to the
// handlers below it.
type requestInfo struct {
	id string
	// route is the REST path pattern the gateway matched, if any.
	route string
	// err is why the request failed, for the request log, when the client
	// was told less (an internal error withheld, logged as an error) or the
	// handler never ran (input rejected at the edge, InvalidArgument).
	err error
	// pathProblem is what is wrong with a path bound for the gateway, which
	// rejects it naming the path parameter.
	pathProblem string
	// bodyLimit is the bound the request's body went over, 0 if it did
	// not (limitBodies).
	bodyLimit int64
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// requestID is the id of the request being served, "" outside the middleware.
func requestID(ctx context.Context) string {
	if info := requestInfoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// withMiddleware wraps h with what every protocol gets alike, because
// Connect interceptors do not run on the REST path: panic recovery, a
// request id, structured request logs and metrics.
func withMiddleware(h http.Handler, log *slog.Logger, m httpMetrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if id == "" || len(id) > 128 {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		info := &requestInfo{id: id}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		rec := &recorder{ResponseWriter: w, code: http.StatusOK, credentials: hasCredentials(r)}
		defer func() {
			p := recover()
			abort := false
			if p != nil {
				if p != http.ErrAbortHandler {
					log.Error("panic serving request", "request_id", id, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				}
				// Once part of a response is out, abort the connection
				// (HTTP/1) or stream (HTTP/2) so the client sees a failure,
				// not a truncated body that looks complete.
				abort = rec.wrote || p == http.ErrAbortHandler
				if !abort {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			route := routeOf(r, info.route, rec.code)
			elapsed := time.Since(start)
			m.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
			m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			if route == "/healthz" || route == "/readyz" || route == "/metrics" || route == "/grpc.health.v1.Health/Check" {
				level = slog.LevelDebug
			}
			attrs := []any{"request_id", id, "method", r.Method, "path", boundedPath(r.URL.Path), "proto", r.Proto,
				"code", rec.code, "bytes", rec.bytes, "duration", elapsed}
			if info.err != nil {
				attrs = append(attrs, "error", info.err.Error())
				if code := connect.CodeOf(info.err); code == connect.CodeInternal || code == connect.CodeUnknown {
					level = slog.LevelError
				}
			}
			log.Log(r.Context(), level, "request", attrs...)
			if abort {
				panic(http.ErrAbortHandler)
			}
		}()
		h.ServeHTTP(rec, r)
	})
}

// boundedPath is path cut to maxPathBytes for the request log: a longer one
// was rejected at the edge and is noise past that.
func boundedPath(path string) string {
	if len(path) <= maxPathBytes {
		return path
	}
	return path[:maxPathBytes] + "…"
}

// recoverRPC answers a panicking Connect handler with CodeInternal in the
// caller's own protocol; without it the middleware's plain HTTP 500 reaches
// gRPC clients as Unknown.
func recoverRPC(log *slog.Logger) func(context.Context, connect.Spec, http.Header, any) error {
	return func(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
		log.ErrorContext(ctx, "panic serving RPC", "request_id", requestID(ctx), "procedure", spec.Procedure,
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
}

// routeOf names the route for metrics with bounded cardinality: the RPC
// procedure for gRPC and Connect, the REST path pattern the gateway matched,
// the mux pattern otherwise. Paths no handler knows never become labels.
func routeOf(r *http.Request, gatewayRoute string, code int) string {
	if gatewayRoute != "" {
		return gatewayRoute
	}
	pattern := r.Pattern
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	switch {
	case pattern == "":
		return "unmatched"
	case isServicePattern(pattern) && code != http.StatusNotFound:
		// "/pkg.Service/" answered, so the path is one of its procedures.
		return r.URL.Path
	}
	return pattern
}

// isServicePattern reports whether pattern is the prefix a Connect handler
// is mounted on, "/clickstream.registry.v1.RegistryService/".
func isServicePattern(pattern string) bool {
	name, ok := strings.CutPrefix(pattern, "/")
	if !ok {
		return false
	}
	name, ok = strings.CutSuffix(name, "/")
	return ok && strings.Contains(name, ".") && !strings.Contains(name, "/")
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recorder captures the status code and size while keeping streaming
// working: it flushes and unwraps to the underlying writer.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int
	wrote bool
	// credentials: the request carried some (a challenge then says
	// invalid_token).
	credentials bool
}

// Realm is the realm of the Bearer challenge of every 401.
const Realm = "clickstream"

// bearerChallenge is the RFC 6750 challenge every 401 carries, on REST and
// Connect alike (the gateway would put its error message there): with
// error="invalid_token" when the request carried credentials, without an
// error code when it had none (RFC 6750, section 3.1).
func bearerChallenge(credentials bool) string {
	if credentials {
		return `Bearer realm="` + Realm + `", error="invalid_token"`
	}
	return `Bearer realm="` + Realm + `"`
}

// hasCredentials reports whether r carries a token in any of the headers
// the services read one from.
func hasCredentials(r *http.Request) bool {
	for _, h := range []string{"Authorization", "X-Api-Key", "X-Admin-Token"} {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code = code
		r.wrote = true
		if code == http.StatusUnauthorized {
			r.Header().Set("WWW-Authenticate", bearerChallenge(r.credentials))
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *recorder) Flush() {
	r.wrote = true
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

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
		rec := &recorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic serving request", "request_id", id, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			route := routeOf(r)
			elapsed := time.Since(start)
			m.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
			m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			if route == "/healthz" || route == "/readyz" || route == "/metrics" {
				level = slog.LevelDebug
			}
			log.Log(r.Context(), level, "request",
				"request_id", id, "method", r.Method, "path", r.URL.Path, "proto", r.Proto,
				"code", rec.code, "bytes", rec.bytes, "duration", elapsed)
		}()
		h.ServeHTTP(rec, r)
	})
}

// routeOf names the route for metrics with bounded cardinality: the RPC
// procedure for gRPC and Connect, the mux pattern otherwise.
func routeOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/clickstream.") || strings.HasPrefix(r.URL.Path, "/grpc.") {
		return r.URL.Path
	}
	if r.Pattern != "" {
		_, path, _ := strings.Cut(r.Pattern, " ")
		if path == "" {
			return r.Pattern
		}
		return path
	}
	return "unmatched"
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
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code = code
		r.wrote = true
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

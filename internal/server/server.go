package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
	"google.golang.org/protobuf/reflect/protodesc"
	// Registers the grpc.health.v1 descriptors, which reflection serves;
	// connectrpc.com/grpchealth only links a private copy of them.
	_ "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/clickstream-dev/clickstream/gen/openapi"
)

// Check is one readiness check, e.g. "postgres" or "bus".
type Check struct {
	Name string
	Func func(context.Context) error
	// Degrades marks a dependency the service can do its main work
	// without: when the check fails, /readyz still answers 200 with status
	// "degraded" and lists the check as failing with its error, and gRPC
	// health stays SERVING. Ingest, for one, needs only the bus to accept
	// events.
	Degrades bool
}

// Routes is what a service contributes to its server.
type Routes struct {
	// Name of the service, e.g. "registry"; used in logs and metrics.
	Name string
	// GRPCServices are the fully qualified gRPC service names served, for
	// health and reflection, e.g. registryv1connect.RegistryServiceName.
	GRPCServices []string
	// Connect mounts the Connect handlers on mux with the given options.
	Connect func(mux *http.ServeMux, opts ...connect.HandlerOption)
	// Gateway registers the REST routes on the grpc-gateway mux, in-process.
	Gateway func(ctx context.Context, mux *runtime.ServeMux) error
	// Descriptors, when set, is what server reflection resolves files and
	// symbols from (ingest: its live catalogue, then the compiled-in
	// descriptors); otherwise the compiled-in descriptors alone.
	Descriptors protodesc.Resolver
	// PlainText lists REST paths that also take a text/plain body, read as
	// JSON (ingest's beacons: navigator.sendBeacon cannot send JSON
	// cross-origin without a preflight).
	PlainText []string
	// JSONDecoders decode some request messages from JSON their own way,
	// on REST and on every protocol's JSON codec.
	JSONDecoders JSONDecoders
	// JSONEncoders write some response messages as JSON their own way, on
	// REST.
	JSONEncoders JSONEncoders
	// HTTP mounts plain HTTP routes that are not RPCs (downloads, pages,
	// package indexes) on mux, e.g. "GET /docs/".
	HTTP func(mux *http.ServeMux)
	// Collectors are the service's own metrics, served on /metrics.
	Collectors []prometheus.Collector
	// Ready lists the readiness checks behind /readyz and gRPC health.
	Ready []Check
	// Bodies are the route classes with their own bound on a request's
	// body and decompressed message; other routes take
	// Config.Limits.MaxRequestBytes.
	Bodies []BodyLimit
	// Guard, when set, wraps every route (Connect, REST and the rest) inside
	// the shared middleware, e.g. to require admin credentials on some paths.
	Guard func(http.Handler) http.Handler
}

// Config configures a server.
type Config struct {
	// Addr to listen on, "host:port"; port 0 picks a free port.
	Addr string
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout time.Duration
	// CheckTimeout bounds one run of the readiness checks behind /readyz and
	// gRPC health; a check still running then counts as failing. Default 3s.
	CheckTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers; a client that
	// has not sent them all by then is disconnected. Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection (HTTP/1.1) or an HTTP/2
	// connection with no open stream once it has been idle that long.
	// Default 120s. There is deliberately no overall read or write timeout:
	// it would cut long server streams such as the registry's schema watch.
	IdleTimeout time.Duration
	// MaxConns caps the connections served at once on the listener; more
	// wait to be accepted until one closes. Default 10000; negative means
	// no cap. An HTTP/2 connection counts once however many streams it
	// carries.
	MaxConns int
	// Limits bound every request's body and decompressed message.
	Limits Limits
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxConns          = 10000
)

// withDefaults fills the zero fields of cfg.
func (cfg Config) withDefaults() Config {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	cfg.Limits = cfg.Limits.withDefaults()
	return cfg
}

// gatewayPattern is where the REST gateway is mounted.
const gatewayPattern = "/v1/"

// streamGrace is how long shutdown lets requests in flight finish before it
// cancels their contexts (which ends open streams).
const streamGrace = 2 * time.Second

// Server is one service on one port.
type Server struct {
	cancelRequests context.CancelFunc
	cfg            Config
	routes         Routes
	http           *http.Server
	listener       net.Listener
	log            *slog.Logger
}

// New builds the server for routes. Listen binds it; Serve runs it.
func New(ctx context.Context, cfg Config, routes Routes) (*Server, error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("service", routes.Name)

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.MustRegister(routes.Collectors...)
	httpMetrics := newHTTPMetrics(metrics, routes.Name)

	mux := http.NewServeMux()
	bodies := bodyLimits{def: cfg.Limits.MaxRequestBytes, classes: routes.Bodies}
	// Every Connect handler, the service's, health's and reflection's,
	// is bounded alike.
	limits := connect.WithHandlerOptions(connectLimits(cfg.Limits, bodies, routes.JSONDecoders)...)
	if routes.Connect != nil {
		routes.Connect(mux, connect.WithRecover(recoverRPC(log)), connect.WithInterceptors(withholdDatabaseErrors()), limits)
	}
	ready := readiness{checks: routes.Ready, timeout: cfg.CheckTimeout}
	checker := ready.checker(routes.GRPCServices)
	mux.Handle(grpchealth.NewHandler(checker, limits))
	mux.Handle(healthWatch(checker, healthWatchInterval, limits))
	// Reflection lists the health service too, so grpcurl and friends can
	// find and describe it.
	reflected := append(slices.Clip(routes.GRPCServices), grpchealth.HealthV1ServiceName)
	reflector := grpcreflect.NewStaticReflector(reflected...)
	if routes.Descriptors != nil {
		reflector = grpcreflect.NewReflector(grpcreflect.NamerFunc(func() []string { return reflected }),
			grpcreflect.WithDescriptorResolver(routes.Descriptors))
	}
	mux.Handle(grpcreflect.NewHandlerV1(reflector, limits))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, limits))

	if routes.Gateway != nil {
		gw := NewGatewayMux(routes.JSONDecoders, routes.JSONEncoders)
		if err := routes.Gateway(ctx, gw); err != nil {
			return nil, fmt.Errorf("register %s REST gateway: %w", routes.Name, err)
		}
		mux.Handle(gatewayPattern, gw)
	}
	if routes.HTTP != nil {
		routes.HTTP(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /readyz", ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{Registry: metrics}))
	mux.Handle("GET /openapi/", http.StripPrefix("/openapi/", http.FileServerFS(openapi.FS)))

	// toGateway reports whether mux hands r to the REST gateway.
	toGateway := func(r *http.Request) bool {
		if routes.Gateway == nil {
			return false
		}
		_, pattern := mux.Handler(r)
		return pattern == gatewayPattern
	}

	// requestCtx is the parent of every request's context; cancelled at
	// shutdown once requests in flight had their grace period.
	requestCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s := &Server{
		cfg:            cfg,
		routes:         routes,
		log:            log,
		cancelRequests: cancelRequests,
		http: &http.Server{
			BaseContext:       func(net.Listener) context.Context { return requestCtx },
			Handler:           withMiddleware(rejectBadInput(grpcWebText(limitBodies(guard(routes.Guard, mux), bodies, cfg.Limits.MaxDecompressionRatio, routes.PlainText)), toGateway), log, httpMetrics),
			Protocols:         &protocols,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
	return s, nil
}

// Listen binds the configured address.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("%s: listen on %s: %w", s.routes.Name, s.cfg.Addr, err)
	}
	if s.cfg.MaxConns > 0 {
		ln = netutil.LimitListener(ln, s.cfg.MaxConns)
	}
	s.listener = ln
	return nil
}

// Addr is the bound address ("127.0.0.1:8081"); valid after Listen.
func (s *Server) Addr() string {
	if s.listener == nil {
		return s.cfg.Addr
	}
	return s.listener.Addr().String()
}

// URL is the base URL of the server, e.g. "http://127.0.0.1:8081".
func (s *Server) URL() string { return "http://" + s.Addr() }

// Serve serves until ctx is done, then shuts down gracefully. It binds
// first if Listen was not called.
func (s *Server) Serve(ctx context.Context) error {
	if s.listener == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.listener) }()
	s.log.Info("serving", "url", s.URL())
	select {
	case err := <-errc:
		return fmt.Errorf("%s: serve: %w", s.routes.Name, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	// Shutdown waits for requests in flight; open streams (a schema watch)
	// never finish by themselves, so after a grace period their contexts are
	// cancelled and they end.
	done := make(chan error, 1)
	go func() { done <- s.http.Shutdown(shutdownCtx) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(streamGrace):
		s.cancelRequests()
		err = <-done
	}
	s.cancelRequests()
	if err != nil {
		return fmt.Errorf("%s: shutdown: %w", s.routes.Name, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: serve: %w", s.routes.Name, err)
	}
	s.log.Info("stopped")
	return nil
}

// guard applies g to h when g is set.
func guard(g func(http.Handler) http.Handler, h http.Handler) http.Handler {
	if g == nil {
		return h
	}
	return g(h)
}

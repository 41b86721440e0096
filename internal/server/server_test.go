package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// registryDouble is the registry service with GetEvent answered by a
// function of the test's choosing; the point is the server plumbing around
// it, wired exactly as services/registry does.
type registryDouble struct {
	registryv1.UnimplementedRegistryServiceServer
	getEvent func(context.Context, *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error)
	// getEnvironment, when set, answers GetEnvironment; otherwise it and
	// ListEvents behave like a store in front of PostgreSQL (edge_test.go).
	getEnvironment func(context.Context, *registryv1.GetEnvironmentRequest) (*registryv1.GetEnvironmentResponse, error)
}

// connectDouble serves registryDouble over Connect, adapting the streaming
// RPC as services/registry does.
type connectDouble struct{ *registryDouble }

func (connectDouble) WatchSchemas(context.Context, *registryv1.WatchSchemasRequest, *connect.ServerStream[registryv1.WatchSchemasResponse]) error {
	return connect.NewError(connect.CodeUnimplemented, nil)
}

var (
	_ registryv1.RegistryServiceServer         = (*registryDouble)(nil)
	_ registryv1connect.RegistryServiceHandler = connectDouble{}
)

func (d *registryDouble) GetEvent(ctx context.Context, req *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error) {
	if d.getEvent != nil {
		return d.getEvent(ctx, req)
	}
	return &registryv1.GetEventResponse{Event: &registryv1.Event{Id: req.GetEventId(), Name: "photo_status_changed"}}, nil
}

// routes mirrors registry.Service.Routes.
func (d *registryDouble) routes(ready ...Check) Routes {
	return Routes{
		Name:         "registry",
		GRPCServices: []string{registryv1connect.RegistryServiceName},
		Connect: func(mux *http.ServeMux, opts ...connect.HandlerOption) {
			mux.Handle(registryv1connect.NewRegistryServiceHandler(connectDouble{d}, opts...))
		},
		Gateway: func(ctx context.Context, mux *runtime.ServeMux) error {
			return registryv1.RegisterRegistryServiceHandlerServer(ctx, mux, d)
		},
		Ready: ready,
	}
}

// start serves routes on a free local port until the test ends, and fails
// the test if Serve does not return nil after its context is cancelled.
func start(t *testing.T, cfg Config, routes Routes) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, routes)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after its context was cancelled, want nil", err)
		}
	})
	return srv
}

// callContext bounds one call, so a broken server fails the test instead of
// hanging it.
func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// h2cClient speaks HTTP/2 with prior knowledge over cleartext, as gRPC
// clients do.
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// http1Client speaks HTTP/1.1 only.
func http1Client(t *testing.T) *http.Client {
	t.Helper()
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	tr := &http.Transport{Protocols: &protocols}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// grpcConn is a grpc-go client connection to srv (h2c).
func grpcConn(t *testing.T, srv *Server) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// get fetches url and returns the response with its body read.
func get(t *testing.T, client *http.Client, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(callContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for kv := range slices.Chunk(header, 2) {
		req.Header.Set(kv[0], kv[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, body
}

func TestHealthz(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes())
	resp, body := get(t, http1Client(t), srv.URL()+"/healthz")
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 %q", resp.StatusCode, body, "ok\n")
	}
}

func TestH2C(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes())
	for _, path := range []string{"/healthz", "/v1/events/7"} {
		resp, body := get(t, h2cClient(t), srv.URL()+path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s over h2c = %d %s, want 200", path, resp.StatusCode, body)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("GET %s over h2c answered in %s, want HTTP/2", path, resp.Proto)
		}
	}
	if resp, _ := get(t, http1Client(t), srv.URL()+"/healthz"); resp.ProtoMajor != 1 {
		t.Errorf("GET /healthz over HTTP/1.1 answered in %s, want HTTP/1.1", resp.Proto)
	}
}

func TestOpenAPI(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes())
	resp, body := get(t, http1Client(t), srv.URL()+"/openapi/clickstream.swagger.json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi/clickstream.swagger.json = %d, want 200", resp.StatusCode)
	}
	var spec struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &spec); err != nil {
		t.Fatalf("openapi spec is not JSON: %v", err)
	}
	if _, ok := spec.Paths["/v1/events"]; !ok {
		t.Errorf("openapi spec has no /v1/events among its paths %v", slices.Sorted(maps.Keys(spec.Paths)))
	}
}

func TestReflection(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes())
	client := reflectionv1.NewServerReflectionClient(grpcConn(t, srv))
	// One bidirectional stream, two round trips: the second only completes
	// when the middleware forwards flushes, message by message.
	stream, err := client.ServerReflectionInfo(callContext(t))
	if err != nil {
		t.Fatalf("ServerReflectionInfo: %v", err)
	}
	if err := stream.Send(&reflectionv1.ServerReflectionRequest{
		MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatalf("send ListServices: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("receive ListServices: %v", err)
	}
	var services []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	for _, want := range []string{registryv1connect.RegistryServiceName, grpchealth.HealthV1ServiceName} {
		if !slices.Contains(services, want) {
			t.Errorf("ListServices = %v, want it to include %s", services, want)
		}
	}
	for _, symbol := range []string{registryv1connect.RegistryServiceName, grpchealth.HealthV1ServiceName} {
		if err := stream.Send(&reflectionv1.ServerReflectionRequest{
			MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol},
		}); err != nil {
			t.Fatalf("send FileContainingSymbol(%s): %v", symbol, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("receive FileContainingSymbol(%s): %v", symbol, err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			t.Errorf("FileContainingSymbol(%s) failed: %s", symbol, e.GetErrorMessage())
		} else if len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
			t.Errorf("FileContainingSymbol(%s) returned no file descriptors", symbol)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after CloseSend, Recv = %v, want io.EOF", err)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	double := &registryDouble{getEvent: func(ctx context.Context, req *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error) {
		close(entered)
		<-release
		return &registryv1.GetEventResponse{Event: &registryv1.Event{Id: req.GetEventId()}}, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := New(ctx, Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}, double.routes())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	type answer struct {
		code int
		body string
		err  error
	}
	answered := make(chan answer, 1)
	client := http1Client(t)
	go func() {
		resp, err := client.Get(srv.URL() + "/v1/events/7")
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- answer{code: resp.StatusCode, body: string(body), err: err}
	}()
	<-entered
	cancel()
	// Wait until shutdown has begun (the listener is closed) while the
	// request is still in flight, then let the request finish.
	for deadline := time.Now().Add(5 * time.Second); ; {
		conn, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			break
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts connections after the context was cancelled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)

	a := <-answered
	if a.err != nil || a.code != http.StatusOK || !strings.Contains(a.body, `"id":7`) {
		t.Errorf("in-flight request = %d %q (err %v), want 200 with event 7", a.code, a.body, a.err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after graceful shutdown", err)
	}
}

func TestListenOnBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	srv, err := New(context.Background(), Config{Addr: addr, Logger: slog.New(slog.DiscardHandler)}, (&registryDouble{}).routes())
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Listen()
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Listen on busy %s = %v, want an error naming the address", addr, err)
	}
	// Serve binds itself when Listen was not called, and fails the same way.
	if err := srv.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Serve on busy %s = %v, want an error naming the address", addr, err)
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// An open stream never ends by itself; shutdown must still finish, by
// cancelling the stream's context after the grace period.
func TestShutdownEndsOpenStreams(t *testing.T) {
	streaming := make(chan struct{})
	ended := make(chan error, 1)
	routes := Routes{
		Name: "stream",
		Connect: func(mux *http.ServeMux, _ ...connect.HandlerOption) {
			mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				close(streaming)
				<-r.Context().Done()
				ended <- r.Context().Err()
			})
		},
	}
	srv, err := New(context.Background(), Config{Addr: "127.0.0.1:0", ShutdownTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)}, routes)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	resp, err := http.Get(srv.URL() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-streaming
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve with an open stream: %v, want nil", err)
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the stream's context ended with %v, want context.Canceled", err)
	}
}

// A client that starts a request and never finishes its headers is
// disconnected after ReadHeaderTimeout.
func TestSlowHeadersAreCut(t *testing.T) {
	srv := start(t, Config{ReadHeaderTimeout: 300 * time.Millisecond}, (&registryDouble{}).routes())
	conn := rawConn(t, srv)
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, conn, conn)
}

// tickRoutes serves GET /ticks?stream=name, a stream that writes "tick\n"
// at once and then once per value received on more[name], until the client
// goes away.
func tickRoutes(more map[string]chan struct{}) Routes {
	routes := (&registryDouble{}).routes()
	routes.HTTP = func(mux *http.ServeMux) {
		mux.HandleFunc("GET /ticks", func(w http.ResponseWriter, r *http.Request) {
			next := more[r.URL.Query().Get("stream")]
			for {
				if _, err := io.WriteString(w, "tick\n"); err != nil {
					return
				}
				if err := http.NewResponseController(w).Flush(); err != nil {
					return
				}
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
		})
	}
	return routes
}

// A keep-alive connection idle past IdleTimeout is closed, while streams
// (HTTP/1.1 and h2c) opened on the same server before it, silent all the
// while, still deliver afterwards: there is no overall read or write timeout.
func TestIdleConnectionsCloseWhileStreamsLast(t *testing.T) {
	clients := map[string]*http.Client{"http1": http1Client(t), "h2c": h2cClient(t)}
	more := make(map[string]chan struct{})
	for name := range clients {
		more[name] = make(chan struct{})
	}
	srv := start(t, Config{IdleTimeout: 300 * time.Millisecond}, tickRoutes(more))
	streams := make(map[string]*bufio.Reader)
	for name, client := range clients {
		client.Timeout = 0 // the stream outlives any client timeout
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		t.Cleanup(cancel)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+"/ticks?stream="+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s stream: %v", name, err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		streams[name] = bufio.NewReader(resp.Body)
		if line, err := streams[name].ReadString('\n'); line != "tick\n" {
			t.Fatalf("%s stream: first line %q, %v", name, line, err)
		}
	}

	idle := rawConn(t, srv)
	r := bufio.NewReader(idle)
	if resp, err := roundTrip(t, idle, r, "/healthz", 5*time.Second); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v, %v; want 200", resp, err)
	}
	waitClosed(t, idle, r)

	for name, lines := range streams {
		select {
		case more[name] <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s stream: the handler is gone", name)
		}
		if line, err := lines.ReadString('\n'); line != "tick\n" {
			t.Errorf("%s stream after the idle connection closed: %q, %v", name, line, err)
		}
	}
}

package platform_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/platform"
)

// startWith runs the platform in-process like start, with the connection
// limits in httpCfg and the schema watch heartbeat.
func startWith(t *testing.T, httpCfg server.Config, heartbeat time.Duration) *platform.Stack {
	t.Helper()
	cfg := harness.DevConfig(harness.DataDir(t), testAdminToken, testPIISecret)
	cfg.HTTP, cfg.WatchHeartbeat = httpCfg, heartbeat
	return harness.StartStack(t, cfg).Stack
}

// TestEdgesOfEveryRouteFamily sends NUL, invalid UTF-8 and over-long values
// in the path and the query of every HTTP route family of the three
// services: each answers 400 naming the parameter (or the path), never 5xx,
// and no reply carries database error text.
func TestEdgesOfEveryRouteFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	s := startWith(t, server.Config{}, 0)
	long := strings.Repeat("a", 5000)
	longPath := strings.Repeat("b", 3000)
	cases := []struct {
		service, path, names string
	}{
		{platform.Registry, "/v1/events?text=%00", "text"},
		{platform.Registry, "/v1/events?text=%ff%fe", "text"},
		{platform.Registry, "/v1/events?text=" + long, "text"},
		{platform.Registry, "/v1/events?owner_team=a%0Db", "owner_team"},
		{platform.Registry, "/v1/environments/%ff%fe", "name"},
		{platform.Registry, "/v1/environments/" + longPath, "path"},
		{platform.Registry, "/v1/schema-sets/a%00b", "environment"},
		{platform.Registry, "/v1/admin/audit?entity=%ff", "entity"},
		{platform.Registry, "/pypi/files/%00/x.whl", "path"},
		{platform.Registry, "/composer/dist/%ff/x.zip", "path"},
		{platform.Registry, "/docs/dev/events/%00", "path"},
		{platform.Registry, "/goproxy/%00/@v/list", "path"},
		{platform.Registry, "/langpacks/%ff/go/latest", "path"},
		{platform.Ingest, "/v1/admin/keys?environment=%00", "environment"},
		{platform.Ingest, "/v1/admin/keys?environment=%ff%fe", "environment"},
		{platform.Ingest, "/v1/admin/deadletters?reason=" + long, "reason"},
		{platform.Ingest, "/v1/admin/reports/hourly?from=%00", "from"},
		{platform.Awards, "/v1/users/%00/achievements", "user_id"},
		{platform.Awards, "/v1/users/%ff%fe/achievements", "user_id"},
		{platform.Awards, "/v1/achievements?page_token=%00", "page_token"},
		{platform.Awards, "/v1/admin/achievements/%00", "id"},
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, c := range cases {
		name := c.service + " " + c.path
		if len(name) > 80 {
			name = name[:80] + "…"
		}
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.URL(c.service)+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			text := string(body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%d %s, want 400", resp.StatusCode, text)
			}
			if strings.Contains(text, "SQLSTATE") {
				t.Errorf("the reply carries database text: %s", text)
			}
			if !strings.Contains(text, c.names) {
				t.Errorf("the reply does not name %q: %s", c.names, text)
			}
			if len(text) > 2048 {
				t.Errorf("the reply echoes the input: %d bytes", len(text))
			}
		})
	}
}

// TestIdleConnectionsClosedWatchStaysOpen opens keep-alive connections to
// every service and leaves them idle past the idle timeout: the services
// close them, while a schema watch stream on the same server stays open and
// keeps hearing heartbeats.
func TestIdleConnectionsClosedWatchStaysOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	const idle = time.Second
	s := startWith(t, server.Config{IdleTimeout: idle}, 500*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watch, err := registryv1connect.NewRegistryServiceClient(http.DefaultClient, s.URL(platform.Registry)).
		WatchSchemas(ctx, &registryv1.WatchSchemasRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	if !watch.Receive() {
		t.Fatalf("the watch ended at once: %v", watch.Err())
	}

	var conns []net.Conn
	for _, service := range platform.Services() {
		for range 10 {
			conn := keepAlive(t, s.URL(service))
			defer conn.Close()
			conns = append(conns, conn)
		}
	}
	t.Logf("%d keep-alive connections idle after one request each; idle timeout %v", len(conns), idle)

	closed := 0
	deadline := time.Now().Add(30 * time.Second)
	for _, conn := range conns {
		_ = conn.SetReadDeadline(deadline)
		_, err := conn.Read(make([]byte, 1))
		var timeout net.Error
		switch {
		case errors.As(err, &timeout) && timeout.Timeout():
			t.Errorf("an idle connection stayed open 30s with an idle timeout of %v", idle)
		case err != nil:
			closed++
		}
	}
	t.Logf("%d of %d idle connections closed by the services", closed, len(conns))

	// The watch outlived the idle timeout many times over: it still hears
	// the registry.
	heard := 0
	for heard < 3 && watch.Receive() {
		heard++
	}
	if heard < 3 {
		t.Errorf("the watch stream ended after the idle timeout: %v", watch.Err())
	}
	t.Logf("the schema watch stays open: %d more messages after the idle connections were closed", heard)
}

// keepAlive opens a connection to base, sends one HTTP/1.1 request and
// reads its answer, leaving the connection open and idle.
func keepAlive(t *testing.T, base string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /healthz: %d, close %v", resp.StatusCode, resp.Close)
	}
	return conn
}

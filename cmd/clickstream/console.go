package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/web"
)

// defaultConsoleAddr is where `clickstream dev` serves the console.
const defaultConsoleAddr = "127.0.0.1:8080"

// newServeConsoleCommand is `clickstream serve console`: the web console
// alone, in front of the REST gateways of services running elsewhere.
func newServeConsoleCommand() *cobra.Command {
	var (
		addr string
		cfg  web.Config
	)
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console, proxying its calls to the services' REST gateways",
		Long: `Serve the web console at /console/ on its own address.

The browser talks to this server only: it serves the console's files and
forwards /console/api/<service>/v1/... to that service's REST gateway, so the
services need no CORS and nothing but their /v1/ routes is reachable through
it. Operators sign in with the admin token; it stays in the browser's session
storage and goes to the services as a bearer token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := startConsole(cmd.Context(), addr, cfg)
			if err != nil {
				return err
			}
			slog.Info("serving", "service", "console", "url", c.url)
			return c.wait()
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", defaultConsoleAddr, "address to serve the console on")
	f.StringVar(&cfg.RegistryURL, "registry-url", "http://127.0.0.1:8081", "base URL of the registry's REST gateway")
	f.StringVar(&cfg.IngestURL, "ingest-url", "http://127.0.0.1:8082", "base URL of ingest's REST gateway")
	f.StringVar(&cfg.AwardsURL, "awards-url", "http://127.0.0.1:8083", "base URL of the awards REST gateway")
	return cmd
}

// runningConsole is a console server started by startConsole.
type runningConsole struct {
	url  string
	done chan error
}

// wait blocks until the console's context ends and its server has shut down.
func (c *runningConsole) wait() error { return <-c.done }

// startConsole listens on addr and serves the console until ctx ends.
func startConsole(ctx context.Context, addr string, cfg web.Config) (*runningConsole, error) {
	h, err := web.Handler(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("console: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	c := &runningConsole{url: "http://" + ln.Addr().String() + web.Prefix, done: make(chan error, 1)}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		c.done <- err
	}()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	return c, nil
}

// serveDevConsole serves the console of a dev stack on addr ("" serves
// none) and prints its URL.
func serveDevConsole(ctx context.Context, addr string, s *platform.Stack) (string, error) {
	if addr == "" {
		return "", nil
	}
	c, err := startConsole(ctx, addr, web.Config{RegistryURL: s.URL(platform.Registry), IngestURL: s.URL(platform.Ingest), AwardsURL: s.URL(platform.Awards)})
	if err != nil {
		return "", err
	}
	go func() {
		if err := c.wait(); err != nil {
			slog.Error("console stopped", "err", err)
		}
	}()
	return c.url, nil
}

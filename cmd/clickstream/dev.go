package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/internal/stack"
)

// Default ports of `clickstream dev`.
const (
	defaultRegistryAddr = "127.0.0.1:8081"
	defaultIngestAddr   = "127.0.0.1:8082"
	defaultAwardsAddr   = "127.0.0.1:8083"
	defaultNATSListen   = "127.0.0.1:4222"
	defaultPostgresPort = 15432
)

func newDevCommand() *cobra.Command {
	var (
		cfg   stack.Config
		addrs = map[string]*string{}
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole platform in one process: PostgreSQL, NATS JetStream, registry, ingest, awards",
		Long: `Run the whole platform in one process on fixed local ports.

PostgreSQL is a private cluster started from the local PostgreSQL binaries in
the data directory (or --database-url), NATS JetStream is embedded (or
--nats-url). Data is kept in the data directory and reused on the next start.
The starter event catalogue is embedded in the binary and registered at start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dataDir, err := filepath.Abs(cfg.DataDir)
			if err != nil {
				return err
			}
			cfg.DataDir = dataDir
			cfg.DatabaseURL = databaseURL(cfg.DatabaseURL)
			cfg.Addrs = map[string]string{}
			for name, a := range addrs {
				cfg.Addrs[name] = *a
			}
			cfg.DemoData = true
			tokenFile := filepath.Join(cfg.DataDir, "admin-token")
			if cfg.AdminToken == "" {
				if cfg.AdminToken, err = auth.LoadOrCreateToken(tokenFile); err != nil {
					return err
				}
			}
			cfg.Logger = slog.Default()
			s, err := stack.Start(ctx, cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "\nClickstream is running; data in %s\n\n", cfg.DataDir)
			fmt.Fprintf(out, "  registry  %s   gRPC, gRPC-Web, Connect; REST GET /v1/events\n", s.URL(stack.Registry))
			fmt.Fprintf(out, "  ingest    %s   gRPC, gRPC-Web, Connect; REST POST /v1/events:batch\n", s.URL(stack.Ingest))
			fmt.Fprintf(out, "  awards    %s   gRPC, gRPC-Web, Connect; REST GET /v1/users/{user_id}/achievements\n", s.URL(stack.Awards))
			fmt.Fprintf(out, "  postgres  %s\n", s.DatabaseURL())
			if u := s.NATSURL(); u != "" {
				fmt.Fprintf(out, "  nats      %s\n", u)
			}
			fmt.Fprintf(out, "\n  admin API token (Authorization: Bearer ...): %s (in %s)\n", cfg.AdminToken, tokenFile)
			fmt.Fprintf(out, "\nEach service also serves /healthz, /readyz, /metrics and /openapi/. Press Ctrl-C to stop.\n\n")
			return s.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", ".clickstream", "directory for the PostgreSQL cluster and the NATS store, kept between runs")
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "use this PostgreSQL instead of a private cluster (also $DATABASE_URL)")
	f.IntVar(&cfg.PostgresPort, "postgres-port", defaultPostgresPort, "port of the private PostgreSQL cluster on 127.0.0.1")
	f.StringVar(&cfg.NATSURL, "nats-url", "", "use this NATS server or cluster instead of the embedded one")
	f.StringVar(&cfg.NATSListen, "nats-listen", defaultNATSListen, "address where the embedded NATS accepts network clients; empty for in-process only")
	addrs[stack.Registry] = f.String("registry-addr", defaultRegistryAddr, "address of the registry service")
	addrs[stack.Ingest] = f.String("ingest-addr", defaultIngestAddr, "address of the ingest service")
	addrs[stack.Awards] = f.String("awards-addr", defaultAwardsAddr, "address of the awards service")
	f.StringVar(&cfg.AdminToken, "admin-token", "", "token of the admin APIs; default: generated once and kept in <data-dir>/admin-token")
	f.StringVar(&cfg.Ingest.Environment, "ingest-environment", "dev", "environment ingest attributes events to")
	return cmd
}

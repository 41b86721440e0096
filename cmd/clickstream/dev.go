package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// Default ports of `clickstream dev`.
const (
	defaultRegistryAddr = "127.0.0.1:8081"
	defaultIngestAddr   = "127.0.0.1:8082"
	defaultAwardsAddr   = "127.0.0.1:8083"
	defaultNATSListen   = "127.0.0.1:4222"
	defaultPostgresPort = 15432
	// devReadyTimeout bounds the wait for every service to be ready
	// before dev prints its endpoints.
	devReadyTimeout = 30 * time.Second
)

func newDevCommand() *cobra.Command {
	var (
		cfg     platform.Config
		addrs   = map[string]*string{}
		cluster bool
		// consoleAddr is where the web console is served; empty serves none.
		consoleAddr string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole platform in one process: PostgreSQL, NATS JetStream, registry, ingest, awards",
		Long: `Run the whole platform in one process on fixed local ports.

PostgreSQL is a private cluster started from the local PostgreSQL binaries in
the data directory (or --database-url), NATS JetStream is embedded (or
--nats-url). Data is kept in the data directory and reused on the next start.
The starter event catalogue is embedded in the binary and registered at start;
the starter achievements are applied to awards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if cluster && cfg.DatabaseURL != "" {
				return usageError{errors.New("--cluster starts its own PostgreSQL primary and replica: drop --database-url")}
			}
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
			cfg.Awards.Starter = true
			// The dev environment allows versions as they are pushed.
			cfg.DevAllowsNewVersions = true
			tokenFile := filepath.Join(cfg.DataDir, "admin-token")
			if cfg.AdminToken == "" {
				if cfg.AdminToken, err = auth.LoadOrCreateToken(tokenFile); err != nil {
					return err
				}
			}
			if cfg.Awards.JWTSecret == "" && cfg.Awards.JWTPublicKeyFile == "" {
				if cfg.Awards.JWTSecret, err = auth.LoadOrCreateToken(filepath.Join(cfg.DataDir, awardsJWTSecretFile)); err != nil {
					return err
				}
			}
			cfg.Logger = slog.Default()
			if cluster {
				plain := map[string]string{}
				for name, a := range addrs {
					plain[name] = *a
				}
				return runDevCluster(ctx, cmd.OutOrStdout(), cfg, plain, consoleAddr)
			}
			s, err := platform.Start(ctx, cfg)
			if err != nil {
				return err
			}
			// Serve, and print the endpoints once every service takes calls.
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			waitCtx, cancel := context.WithTimeout(ctx, devReadyTimeout)
			ready := make(chan error, 1)
			go func() { ready <- s.WaitReady(waitCtx) }()
			select {
			case err := <-done:
				cancel()
				return err
			case err := <-ready:
				cancel()
				if err != nil {
					slog.Warn("not every service is ready yet; printing the endpoints anyway", "err", err)
				}
			}
			if s.PostgresDataDir() != "" {
				// Where `clickstream dev credentials` finds the database, password included.
				if err := os.WriteFile(filepath.Join(cfg.DataDir, databaseURLFile), []byte(s.DatabaseURL()+"\n"), 0o600); err != nil {
					return err
				}
			}
			consoleURL, err := serveDevConsole(ctx, consoleAddr, s)
			if err != nil {
				return err
			}
			printBanner(cmd.OutOrStdout(), cfg, s, tokenFile, consoleURL)
			return <-done
		},
	}
	cmd.AddCommand(newDevCredentialsCommand())
	f := cmd.Flags()
	f.BoolVar(&cluster, "cluster", false, "run on loopback as in production: a 3-node NATS JetStream cluster (streams at R3), a PostgreSQL primary and streaming replica, one registry, two ingest and two awards instances, each a `clickstream serve` process")
	f.StringVar(&cfg.DataDir, "data-dir", ".clickstream", "directory for the PostgreSQL cluster and the NATS store, kept between runs")
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "use this PostgreSQL instead of a private cluster (also $DATABASE_URL)")
	f.IntVar(&cfg.PostgresPort, "postgres-port", defaultPostgresPort, "port of the private PostgreSQL cluster on 127.0.0.1")
	f.StringVar(&cfg.NATSURL, "nats-url", "", "use this NATS server or cluster instead of the embedded one")
	f.StringVar(&cfg.NATSListen, "nats-listen", defaultNATSListen, "address where the embedded NATS accepts network clients; empty for in-process only")
	addStreamFlags(f, &cfg.Streams)
	addrs[platform.Registry] = f.String("registry-addr", defaultRegistryAddr, "address of the registry service")
	addrs[platform.Ingest] = f.String("ingest-addr", defaultIngestAddr, "address of the ingest service")
	addrs[platform.Awards] = f.String("awards-addr", defaultAwardsAddr, "address of the awards service")
	addrs[platform.IngestFluent] = f.String("fluent-listen", "127.0.0.1:24224", "address of ingest's Fluent Forward input (TCP; shared keys in <data-dir>/"+platform.FluentKeysFile+"); empty turns it off")
	f.StringVar(&consoleAddr, "console-addr", defaultConsoleAddr, "address of the web console (/console/, proxying to the services' REST gateways); empty serves none")
	f.StringVar(&cfg.AdminToken, "admin-token", "", "token of the admin APIs; default: generated once and kept in <data-dir>/admin-token")
	f.StringVar(&cfg.Ingest.Environment, "ingest-environment", "dev", "environment the dev stack creates, allows every event version and binds its ingest API key to")
	f.StringVar(&cfg.Ingest.PIISecret, "pii-secret", "", "secret of the HMAC-SHA256 replacing pii fields; default: generated once into <data-dir>/pii-secret")
	f.StringVar(&cfg.Awards.AchievementsFile, "achievements", "", "YAML or JSON file of achievements to apply at start, after the starter achievements")
	f.StringVar(&cfg.Awards.WebhookURL, "awards-webhook-url", "", "URL awards POSTs notifications (granted, revoked, announced) to; they always go to the AWARDS stream (awards)")
	f.StringVar(&cfg.Awards.WebhookSecret, "awards-webhook-secret", "", "HMAC-SHA256 secret signing the webhook notifications (X-Clickstream-Signature) (awards)")
	f.StringVar(&cfg.Awards.JWTSecret, "awards-jwt-secret", "", "HMAC secret of the user tokens (HS256 JWT) awards accepts; default: generated once into <data-dir>/"+awardsJWTSecretFile+" (mint one with `clickstream awards token`)")
	f.StringVar(&cfg.Awards.JWTPublicKeyFile, "awards-jwt-public-key", "", "PEM public key (RS256/ES256) of the user tokens awards accepts, instead of a secret")
	f.StringSliceVar(&cfg.Ingest.PIIKeepEnvironments, "pii-keep-environments", nil, "environments whose pii fields are published as sent")
	addHTTPFlags(f, &cfg)
	addWebhookFlags(f, &cfg.Ingest.WebhookNetworks, true)
	addWarehouseFlags(f, &cfg.Warehouse)
	f.DurationVar(&cfg.Awards.ProcessingLogRetention, "awards-processing-log-retention", awards.DefaultProcessingLogRetention,
		"how long awards keeps its processing log (monthly partitions; whole months older are dropped; negative keeps everything) (awards)")
	f.DurationVar(&cfg.Awards.AuditInterval, "awards-audit-interval", awards.DefaultAuditInterval,
		"pause between rounds of the background audit, which reconciles a sample of users and counts drifts in clickstream_awards_drift_total; 0 disables it (awards)")
	f.IntVar(&cfg.Awards.AuditSample, "awards-audit-sample", awards.DefaultAuditSample,
		"users the background audit reconciles per round, in turn; 0 disables it (awards)")
	return cmd
}

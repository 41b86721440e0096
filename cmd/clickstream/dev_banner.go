package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/platform"
)

// ingestKeyFile is where, in the data directory, dev keeps its ingest API key.
const ingestKeyFile = "ingest-key"

// printBanner prints where everything runs. It names the files that hold secrets and
// never the secrets themselves: the banner often ends up in a log that others can read
// (`clickstream dev credentials` prints them on request).
func printBanner(out io.Writer, cfg platform.Config, s *platform.Stack, tokenFile, consoleURL string) {
	fmt.Fprintf(out, "\nClickstream is running; data in %s\n", cfg.DataDir)
	if pgData := s.PostgresDataDir(); pgData != "" {
		requested := filepath.Join(cfg.DataDir, "postgres")
		if pgData != requested {
			fmt.Fprintf(out, "PostgreSQL data in %s (the postgres OS user cannot reach %s; %s names it)\n",
				pgData, requested, filepath.Join(requested, postgres.LocationFileName))
		} else {
			fmt.Fprintf(out, "PostgreSQL data in %s\n", pgData)
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "  registry  %s   gRPC, gRPC-Web, Connect; REST GET /v1/events\n", s.URL(platform.Registry))
	fmt.Fprintf(out, "  ingest    %s   gRPC, gRPC-Web, Connect; REST POST /v1/events:batch\n", s.URL(platform.Ingest))
	fmt.Fprintf(out, "  awards    %s   gRPC, gRPC-Web, Connect; REST GET /v1/achievements, /v1/me/achievements\n", s.URL(platform.Awards))
	if consoleURL != "" {
		fmt.Fprintf(out, "  console   %s   the web console; sign in with the admin token\n", consoleURL)
	}
	if s.PostgresDataDir() != "" {
		fmt.Fprintf(out, "  postgres  %s   password in %s\n", s.RedactedDatabaseURL(), filepath.Join(cfg.DataDir, platform.PostgresPasswordFile))
	} else {
		fmt.Fprintf(out, "  postgres  %s\n", s.RedactedDatabaseURL())
	}
	if u := s.NATSURL(); u != "" {
		fmt.Fprintf(out, "  nats      %s\n", u)
	}
	if a := s.FluentAddr(); a != "" {
		fmt.Fprintf(out, "  fluent    %s   Fluent Forward input (tag clickstream.<event>.v<N>; shared key in %s)\n",
			a, filepath.Join(cfg.DataDir, platform.FluentKeysFile))
	}
	fmt.Fprintf(out, "\n  admin API token in %s   (Authorization: Bearer $(cat %[1]s))\n", tokenFile)
	fmt.Fprintf(out, "  ingest API key of environment %q in %s   (Authorization: Bearer $(cat %[2]s), or X-Api-Key)\n",
		cfg.Ingest.Environment, filepath.Join(cfg.DataDir, ingestKeyFile))
	fmt.Fprintf(out, "  every secret with its value: clickstream dev credentials --data-dir %s\n", cfg.DataDir)
	fmt.Fprintf(out, "  awards user tokens (JWT for GET /v1/me/achievements): clickstream awards token --user u-1\n")
	fmt.Fprintf(out, "\nDev mode is for one machine: every service listens on loopback. Each service also\n")
	fmt.Fprintf(out, "serves /healthz, /readyz, /metrics and /openapi/. Press Ctrl-C to stop.\n\n")
}

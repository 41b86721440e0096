package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/awards"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

func newServeCommand() *cobra.Command {
	var (
		cfg  platform.Config
		addr string
		// fluentListen is where ingest takes the Fluent Forward protocol.
		fluentListen string
	)
	cfg.Ingest = ingest.DefaultConfig()
	cmd := &cobra.Command{
		Use:       "serve registry|ingest|awards|console",
		Short:     "Run one service against an existing PostgreSQL and NATS",
		Args:      cobra.ExactArgs(1),
		ValidArgs: platform.Services(),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !slices.Contains(platform.Services(), name) {
				return usageError{fmt.Errorf("unknown service %q: choose one of %v", name, platform.Services())}
			}
			cfg.DatabaseURL = databaseURL(cfg.DatabaseURL)
			if cfg.DatabaseURL == "" {
				return usageError{errors.New("--database-url (or $DATABASE_URL) is required; for a local all-in-one setup use `clickstream dev`")}
			}
			cfg.Services = []string{name}
			cfg.Addrs = map[string]string{name: addr, platform.IngestFluent: fluentListen}
			cfg.Logger = slog.Default()
			s, err := platform.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			slog.Info("serving", "service", name, "url", s.URL(name))
			return s.Run(cmd.Context())
		},
	}
	cmd.AddCommand(newServeConsoleCommand())
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to serve on")
	f.StringVar(&fluentListen, "fluent-listen", "", "address of the Fluent Forward input (TCP), off unless set; shared keys in <data-dir>/"+platform.FluentKeysFile+", one \"<environment> <shared key>\" a line (ingest)")
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL connection URL (also $DATABASE_URL)")
	f.StringVar(&cfg.DatabaseReadURL, "database-read-url", "", "streaming replica of --database-url serving the public reads (registry: events, versions, diffs, usage; awards: achievements); writes stay on --database-url")
	f.DurationVar(&cfg.ReplicaMaxLag, "replica-max-lag", platform.DefaultReplicaMaxLag, "lag of --database-read-url beyond which readiness reports the service degraded")
	f.StringVar(&cfg.NATSURL, "nats-url", "", "NATS server or cluster; empty embeds one in --data-dir")
	addStreamFlags(f, &cfg.Streams)
	f.StringVar(&cfg.AdminToken, "admin-token", "", "token of the admin API (registry, ingest); empty keeps the admin API closed")
	f.StringVar(&cfg.RegistryURL, "registry-url", "http://127.0.0.1:8081", "registry to read the event catalogue from (ingest, awards)")
	f.BoolVar(&cfg.Awards.Starter, "starter-achievements", false, "apply the starter achievements (those of clickstream dev) at start, before --achievements (awards)")
	f.StringVar(&cfg.Awards.AchievementsFile, "achievements", "", "YAML or JSON file of achievements to apply at start (awards)")
	f.StringVar(&cfg.Awards.WebhookURL, "awards-webhook-url", "", "URL awards POSTs notifications (granted, revoked, announced) to; they always go to the AWARDS stream (awards)")
	f.StringVar(&cfg.Awards.WebhookSecret, "awards-webhook-secret", "", "HMAC-SHA256 secret signing the webhook notifications (X-Clickstream-Signature) (awards)")
	f.StringVar(&cfg.Awards.JWTSecret, "awards-jwt-secret", "", "HMAC secret (at least 32 bytes) of the user tokens, HS256 JWTs, the public API accepts (awards)")
	f.StringVar(&cfg.Awards.JWTPublicKeyFile, "awards-jwt-public-key", "", "PEM public key (RS256/ES256) of the user tokens the public API accepts, instead of a secret (awards)")
	f.StringVar(&cfg.Awards.JWTIssuer, "awards-jwt-issuer", "", "iss claim the user tokens must carry; any when empty (awards)")
	f.StringVar(&cfg.Awards.JWTAudience, "awards-jwt-audience", "", "audience the user tokens must name in aud; any when empty (awards)")
	f.StringVar(&cfg.Ingest.PIISecret, "pii-secret", "", "secret of the HMAC-SHA256 replacing pii fields; the same for every ingest instance (ingest; default: generated once into --data-dir)")
	f.StringSliceVar(&cfg.Ingest.PIIKeepEnvironments, "pii-keep-environments", nil, "environments whose pii fields are published as sent (ingest)")
	f.StringVar(&cfg.DataDir, "data-dir", ".clickstream", "directory for the embedded NATS store when --nats-url is empty")
	f.IntVar(&cfg.Ingest.MaxBatchEvents, "ingest-max-batch-events", cfg.Ingest.MaxBatchEvents, "most events ingest takes in one batch")
	f.IntVar(&cfg.Ingest.MaxEventBytes, "ingest-max-event-bytes", cfg.Ingest.MaxEventBytes, "largest event payload ingest takes, in bytes")
	f.IntVar(&cfg.Ingest.MaxBatchBytes, "ingest-max-batch-bytes", cfg.Ingest.MaxBatchBytes, "largest request body ingest takes, in bytes")
	f.Float64Var(&cfg.Ingest.BrowserRateLimit.PerSecond, "ingest-browser-rate", ingest.DefaultBrowserRateLimit.PerSecond, "requests a second each browser key may send per client IP (token bucket; 429 with Retry-After past it); negative: no limit (ingest)")
	f.IntVar(&cfg.Ingest.BrowserRateLimit.Burst, "ingest-browser-burst", ingest.DefaultBrowserRateLimit.Burst, "requests a browser key may send at once per client IP (ingest)")
	f.Float64Var(&cfg.Ingest.ServerRateLimit.PerSecond, "ingest-server-rate", 0, "requests a second each server key may send per client IP; 0: no limit (ingest)")
	f.IntVar(&cfg.Ingest.ServerRateLimit.Burst, "ingest-server-burst", 100, "requests a server key may send at once per client IP, with --ingest-server-rate (ingest)")
	addHTTPFlags(f, &cfg)
	addWebhookFlags(f, &cfg.Ingest.WebhookNetworks, false)
	addWarehouseFlags(f, &cfg.Warehouse)
	f.DurationVar(&cfg.Awards.ProcessingLogRetention, "awards-processing-log-retention", awards.DefaultProcessingLogRetention,
		"how long awards keeps its processing log (monthly partitions; whole months older are dropped; negative keeps everything) (awards)")
	f.DurationVar(&cfg.Awards.AuditInterval, "awards-audit-interval", awards.DefaultAuditInterval,
		"pause between rounds of the background audit, which reconciles a sample of users and counts drifts in clickstream_awards_drift_total; 0 disables it (awards)")
	f.IntVar(&cfg.Awards.AuditSample, "awards-audit-sample", awards.DefaultAuditSample,
		"users the background audit reconciles per round, in turn; 0 disables it (awards)")
	return cmd
}

// defaultStreamMaxAge is how long EVENTS and DEADLETTER keep messages unless told
// otherwise: a week of replay for consumers that fell behind and for awards backfills (the
// warehouse keeps every accepted event in PostgreSQL beyond it).
const defaultStreamMaxAge = 7 * 24 * time.Hour

// addStreamFlags adds the flags of the bus's streams. A limit given on the command line
// may shrink an existing stream's; the default never does.
func addStreamFlags(f *pflag.FlagSet, c *bus.StreamsConfig) {
	c.MaxAge = defaultStreamMaxAge
	f.IntVar(&c.Replicas, "stream-replicas", 1,
		"replicas of the EVENTS, DEADLETTER and AWARDS streams (3 on a NATS cluster); raised at start, never lowered: a stream with more keeps them")
	f.VarPF(&manageStreamsFlag{operator: &c.OperatorManaged}, "manage-streams", "",
		"create and update the streams at start; false leaves them to the operator and only checks they exist with their subjects").NoOptDefVal = "true"
	f.Var(&limitFlag[time.Duration]{value: &c.MaxAge, explicit: &c.ShrinkMaxAge, parse: time.ParseDuration}, "stream-max-age",
		"how long EVENTS and DEADLETTER keep a message (also how far back an awards backfill reaches); 0 keeps everything. "+
			"The default never shortens an existing stream's; a value given here does, deleting older messages")
	f.Var(&limitFlag[int64]{value: &c.MaxBytes, explicit: &c.ShrinkMaxBytes, parse: parseBytes}, "stream-max-bytes",
		"most bytes each of EVENTS and DEADLETTER stores, the oldest going first; 0 is no limit. "+
			"The default never shrinks an existing stream's; a value given here does, deleting the oldest messages")
}

// manageStreamsFlag is --manage-streams, the opposite of StreamsConfig.OperatorManaged.
type manageStreamsFlag struct{ operator *bool }

func (m *manageStreamsFlag) String() string {
	if m.operator == nil {
		return "true"
	}
	return strconv.FormatBool(!*m.operator)
}

func (m *manageStreamsFlag) Set(s string) error {
	manage, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*m.operator = !manage
	return nil
}

func (m *manageStreamsFlag) Type() string { return "bool" }

// limitFlag is a stream limit that records whether it was given on the command line.
type limitFlag[T time.Duration | int64] struct {
	value    *T
	explicit *bool
	parse    func(string) (T, error)
}

func (l *limitFlag[T]) String() string {
	if l.value == nil {
		return ""
	}
	if d, ok := any(*l.value).(time.Duration); ok {
		return d.String()
	}
	return fmt.Sprint(*l.value)
}

func (l *limitFlag[T]) Set(s string) error {
	v, err := l.parse(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return errors.New("must be 0 (no limit) or more")
	}
	*l.value, *l.explicit = v, true
	return nil
}

func (l *limitFlag[T]) Type() string {
	if _, ok := any(*new(T)).(time.Duration); ok {
		return "duration"
	}
	return "bytes"
}

func parseBytes(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

package platform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// AwardsConfig configures the awards engine in the stack.
type AwardsConfig struct {
	// Starter loads the starter achievements (`clickstream dev`).
	Starter bool
	// AchievementsFile is a YAML or JSON file of achievements applied at
	// start, after the starter ones.
	AchievementsFile string
	// Batch bounds the events applied per transaction; 0 is the default.
	Batch int
	// WebhookURL receives notifications (granted, revoked, announced) by
	// POST, signed with WebhookSecret; none when empty. Notifications
	// always go to the AWARDS stream.
	WebhookURL, WebhookSecret string
	// JWTSecret (HS256) or JWTPublicKeyFile (PEM; RS256/ES256) verifies
	// the user tokens of the public API's ListMyAchievements; with
	// neither, that call is unavailable.
	JWTSecret        string
	JWTPublicKeyFile string
	// JWTIssuer and JWTAudience, when set, must match the tokens' iss and
	// aud claims.
	JWTIssuer, JWTAudience string
	// ProcessingLogRetention is how long the processing log keeps a month
	// (it is dropped once it ends before now minus this); 0 is
	// awards.DefaultProcessingLogRetention (90 days), negative keeps every
	// month.
	ProcessingLogRetention time.Duration
	// AuditInterval and AuditSample make the background audit reconcile
	// AuditSample users every AuditInterval (clickstream_awards_drift_total);
	// either 0 disables it.
	AuditInterval time.Duration
	AuditSample   int
}

// startAwards builds awards: the public API (reading from reads, the read
// replica's pool or pool), and the engine with its
// consuming workers and achievements worker. Event schemas come from the
// registry over gRPC; until they are loaded the engine waits and awards is
// not ready.
func (s *Stack) startAwards(pool, reads *pgxpool.Pool, checks []server.Check) (server.Routes, error) {
	registryURL := s.cfg.RegistryURL
	if srv, ok := s.servers[Registry]; ok {
		registryURL = srv.URL()
	}
	if registryURL == "" {
		return server.Routes{}, errors.New("awards needs the registry for event schemas: pass --registry-url (or $CLICKSTREAM_REGISTRY_URL)")
	}
	if s.bus == nil {
		return server.Routes{}, errors.New("awards needs the event bus")
	}
	log := s.log.With("service", Awards)
	client := registryv1connect.NewRegistryServiceClient(grpcHTTPClient(), strings.TrimRight(registryURL, "/"), connect.WithGRPC())
	schemas := awards.NewRegistrySchemas(client, log)
	store := awards.NewPostgresStore(pool)
	engine := awards.NewEngine(awards.EngineConfig{Store: store, Schemas: schemas, Logger: log})
	consumers := awards.NewConsumers(engine, s.bus.JetStream(), awards.ConsumersConfig{Batch: s.cfg.Awards.Batch})
	s.awardsConsumers = consumers
	backfills := awards.NewBackfills(engine, s.bus.JetStream())
	if s.cfg.Awards.WebhookURL != "" && s.cfg.Awards.WebhookSecret == "" {
		return server.Routes{}, errors.New("awards: a webhook URL needs a webhook secret to sign the notifications with")
	}
	notifier := awards.NewNotifier(store, awards.NotifierConfig{WebhookURL: s.cfg.Awards.WebhookURL,
		WebhookSecret: s.cfg.Awards.WebhookSecret, JetStream: s.bus.JetStream(), Logger: log})
	logRetention := awards.NewLogRetention(store, awards.LogRetentionConfig{Retention: s.cfg.Awards.ProcessingLogRetention, Logger: log})
	started := &s.awardsStarted
	checks = append(checks, server.Check{Name: "awards engine", Func: func(context.Context) error {
		if !started.Load() {
			return errors.New("waiting for event schemas from the registry at " + registryURL)
		}
		return consumers.Ready()
	}})
	// The processing log's partitions need nothing from the registry.
	s.runners = append(s.runners, logRetention.Run)
	s.runners = append(s.runners, func(ctx context.Context) error {
		if err := s.startEngine(ctx, engine, schemas); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		started.Store(true)
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return consumers.Run(ctx) })
		g.Go(func() error { return awards.NewAchievementsWorker(engine, awards.AchievementsWorkerConfig{}).Run(ctx) })
		g.Go(func() error { return followConfiguration(ctx, engine, schemas, log) })
		g.Go(func() error { return backfills.Run(ctx) })
		g.Go(func() error { return notifier.Run(ctx) })
		g.Go(func() error {
			return awards.NewAudit(engine, awards.AuditConfig{Interval: s.cfg.Awards.AuditInterval, Sample: s.cfg.Awards.AuditSample}).Run(ctx)
		})
		return g.Wait()
	})
	verifier, err := awards.LoadJWTVerifier(s.cfg.Awards.JWTSecret, s.cfg.Awards.JWTPublicKeyFile, s.cfg.Awards.JWTIssuer, s.cfg.Awards.JWTAudience)
	if err != nil {
		return server.Routes{}, fmt.Errorf("awards user tokens: %w", err)
	}
	routes := awards.Routes(awards.RoutesConfig{AdminToken: s.cfg.AdminToken}, awards.NewPublicAPI(awards.NewPostgresStore(reads), verifier), awards.NewAdminAPI(engine, consumers, backfills), checks...)
	routes.Collectors = append(engine.Metrics().Collectors(), notifier.Collectors()...)
	return routes, nil
}

// startEngine loads the schemas (retrying while the registry is not
// there), applies the configured achievement files and loads the
// configuration.
func (s *Stack) startEngine(ctx context.Context, engine *awards.Engine, schemas *awards.RegistrySchemas) error {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		err := schemas.Refresh(ctx)
		if err == nil {
			break
		}
		s.log.Warn("awards: event schemas not loaded yet", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	if s.cfg.Awards.Starter {
		if _, err := engine.ApplyFile(ctx, awards.StarterAchievements(), devActor); err != nil {
			return fmt.Errorf("starter achievements: %w", err)
		}
	}
	if path := s.cfg.Awards.AchievementsFile; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("achievements file: %w", err)
		}
		if _, err := engine.ApplyFile(ctx, data, devActor); err != nil {
			return fmt.Errorf("achievements file %s: %w", path, err)
		}
	}
	return engine.Reload(ctx)
}

// followConfiguration picks up schema and configuration changes made
// elsewhere (another instance, the admin API) every few seconds.
func followConfiguration(ctx context.Context, engine *awards.Engine, schemas *awards.RegistrySchemas, log interface {
	Warn(string, ...any)
}) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
		schemas.RefreshIfOlder(ctx, 30*time.Second)
		if err := engine.Reload(ctx); err != nil && ctx.Err() == nil {
			log.Warn("reload achievements", "err", err)
		}
	}
}

// WaitReady waits until ingest has loaded the event catalogue and the
// awards engine has started, for the services this stack runs.
func (s *Stack) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		switch {
		case s.ingest != nil && s.ingest.CatalogueRevision() == 0:
		case s.runs(Awards) && !s.awardsStarted.Load():
		case s.awardsConsumers != nil && s.awardsConsumers.Ready() != nil:
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			if s.ingest != nil && s.ingest.CatalogueRevision() == 0 {
				return fmt.Errorf("ingest has not loaded the event catalogue from the registry: %w", ctx.Err())
			}
			if s.runs(Awards) && !s.awardsStarted.Load() {
				return fmt.Errorf("awards has not loaded the event schemas from the registry: %w", ctx.Err())
			}
			return fmt.Errorf("awards consumers: %v: %w", s.awardsConsumers.Ready(), ctx.Err())
		case <-tick.C:
		}
	}
}

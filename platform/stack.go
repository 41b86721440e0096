package platform

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/server"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/awards"
	awardsmigrations "github.com/clickstream-dev/clickstream/services/awards/migrations"
	"github.com/clickstream-dev/clickstream/services/ingest"
	ingestmigrations "github.com/clickstream-dev/clickstream/services/ingest/migrations"
	"github.com/clickstream-dev/clickstream/services/registry"
	registrymigrations "github.com/clickstream-dev/clickstream/services/registry/migrations"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
	warehousemigrations "github.com/clickstream-dev/clickstream/services/warehouse/migrations"
)

// Service names, as `clickstream serve` and `clickstream migrate` take them.
const (
	Registry = "registry"
	Ingest   = "ingest"
	Awards   = "awards"
)

// Services lists every service in start order.
func Services() []string { return []string{Registry, Ingest, Awards} }

// Config configures the stack.
type Config struct {
	// DataDir keeps the private PostgreSQL cluster and the embedded NATS
	// store between runs.
	DataDir string
	// DatabaseURL of an existing PostgreSQL; empty starts a private cluster
	// from the local PostgreSQL binaries under DataDir.
	DatabaseURL string
	// DatabaseReadURL, when set, is a streaming replica of DatabaseURL that
	// serves the public reads of the registry (events, versions, diffs,
	// usage) and of awards (achievements, user achievements); writes, and
	// reads that must see them, stay on DatabaseURL. Its lag is reported by
	// the "postgres replica" readiness check and on /metrics.
	DatabaseReadURL string
	// ReplicaMaxLag is how far behind the read replica may fall before its
	// readiness check fails (degraded); 0 is DefaultReplicaMaxLag.
	ReplicaMaxLag time.Duration
	// PostgresPort of the private cluster; 0 picks a free port.
	PostgresPort int
	// NATSURL of an external NATS server or cluster; empty embeds one.
	NATSURL string
	// NATSListen is where the embedded NATS also accepts network clients;
	// empty keeps it in-process only.
	NATSListen string
	// Streams sets the replicas and limits of the bus's streams, or leaves
	// the streams to the operator.
	Streams bus.StreamsConfig
	// Addrs to serve each service on, by service name; port 0 picks one.
	Addrs map[string]string
	// Services to run; empty runs all.
	Services []string
	// Catalogue holds the event schemas (.proto) registered at start;
	// nil uses the starter catalogue embedded in the binary.
	Catalogue fs.FS
	// Awards configures the awards engine.
	Awards AwardsConfig
	// AdminToken guards the admin APIs; empty closes them.
	AdminToken string
	// RegistryURL is where ingest reads the event catalogue when the
	// registry is not part of this stack; with the registry in the stack
	// ingest uses the registry's own URL (over the network, as in
	// production).
	RegistryURL string
	// Ingest configures ingest.
	Ingest ingest.Config
	// Warehouse configures the warehouse loader ingest runs.
	Warehouse WarehouseConfig
	// DevAllowsNewVersions makes the dev environment of a stack running the
	// registry and ingest allow versions as they are pushed, not only those
	// registered at start (`clickstream dev` sets it; other environments are
	// never touched).
	DevAllowsNewVersions bool
	// BusAckTimeout is how long a publish waits for JetStream's
	// acknowledgement before the batch answers Unavailable; 0 is the bus's
	// default (5s). During a leader election a shorter one answers sooner.
	BusAckTimeout time.Duration
	// WatchHeartbeat is how often the registry's schema watch sends a
	// heartbeat while nothing changes; 0 is the registry's default.
	WatchHeartbeat time.Duration
	// HTTP bounds every service's connections: header and idle timeouts
	// and the connection cap (Addr and Logger are set per service).
	HTTP   server.Config
	Logger *slog.Logger
}

// Stack is a running set of services.
type Stack struct {
	cfg     Config
	log     *slog.Logger
	cluster *postgres.Cluster
	bus     *bus.Bus
	pools   []*pgxpool.Pool
	servers map[string]*server.Server
	// devRegistry is the registry's store when the stack runs the registry
	// and ingest: the dev environment then allows versions as they are
	// pushed (startIngest).
	devRegistry registry.Store
	// runners are background loops Run runs beside the servers (the
	// ingest catalogue watch).
	runners []func(context.Context) error
	// ingest is the ingest service when this stack runs it; ingestKey the
	// dev API key created for it.
	ingest    *ingest.Service
	ingestKey string
	// closeFluent closes the ingest Fluent input and its listener, bound
	// by Start before Run serves it.
	closeFluent func()
	once        sync.Once
	// awardsStarted is set once the awards engine has its schemas and
	// configuration.
	awardsStarted atomic.Bool
	// awardsConsumers are the awards consuming workers when this stack
	// runs awards; WaitReady waits until each has its durable consumer.
	awardsConsumers *awards.Consumers
	// fluentAddr is where the Fluent Forward input listens, when on.
	fluentAddr string

	mu      sync.Mutex
	stopped map[string]chan struct{}
	cancels map[string]context.CancelFunc
}

// Start brings up storage, migrates, registers the catalogue and binds
// every service's port. Run serves them.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Catalogue == nil {
		cfg.Catalogue = protosrc.FS
	}
	if len(cfg.Services) == 0 {
		cfg.Services = Services()
	}
	s := &Stack{cfg: cfg, log: cfg.Logger, servers: map[string]*server.Server{},
		stopped: map[string]chan struct{}{}, cancels: map[string]context.CancelFunc{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	dbURL, err := s.startPostgres(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.migrateAtStart(ctx, dbURL); err != nil {
		return nil, err
	}
	if s.runs(Ingest) || s.runs(Awards) || cfg.NATSURL == "" {
		busCfg := bus.Config{URL: cfg.NATSURL, Streams: cfg.Streams, AckTimeout: cfg.BusAckTimeout, Logger: cfg.Logger}
		if cfg.NATSURL == "" {
			// The data dir and listen address are the embedded server's.
			busCfg.DataDir, busCfg.ListenAddr = filepath.Join(cfg.DataDir, "nats"), cfg.NATSListen
		}
		s.bus, err = bus.Open(ctx, busCfg)
		if err != nil {
			return nil, fmt.Errorf("start the event bus: %w", err)
		}
	}

	for _, name := range cfg.Services {
		pool, err := s.pool(ctx, dbURL)
		if err != nil {
			return nil, err
		}
		reads, err := s.readPool(ctx, name, pool)
		if err != nil {
			return nil, err
		}
		// Ingest needs only the bus to accept events (API keys are cached,
		// the warehouse catches up): its database is reported, not required.
		checks := []server.Check{{Name: "postgres", Func: pool.Ping, Degrades: name == Ingest}}
		var routes server.Routes
		switch name {
		case Registry:
			// Only the registry reads the catalogue sources; ingest and
			// awards get schemas from it.
			set, err := schema.Compile(ctx, cfg.Catalogue)
			if err != nil {
				return nil, fmt.Errorf("compile the event catalogue: %w", err)
			}
			store := registry.NewPostgresStore(pool)
			res, err := registry.RegisterSet(ctx, store, set, "clickstream dev", "starter catalogue")
			if err != nil {
				return nil, fmt.Errorf("register the event catalogue: %w", err)
			}
			if len(res.Added) > 0 {
				s.log.Info("registered event versions", "revision", res.Revision, "added", res.Added)
			}
			if s.runs(Ingest) {
				if err := devEnvironment(ctx, store, s.ingestConfig().Environment); err != nil {
					return nil, err
				}
				if cfg.DevAllowsNewVersions {
					s.devRegistry = store
				}
			}
			routes = registry.Routes(registry.Config{AdminToken: cfg.AdminToken, WatchHeartbeat: cfg.WatchHeartbeat}, registry.NewWithReplica(store, registry.NewReplicaStore(reads, store)), registry.NewAdmin(store), checks...)
		case Ingest:
			routes, err = s.startIngest(ctx, pool, checks)
			if err != nil {
				return nil, err
			}
		case Awards:
			routes, err = s.startAwards(pool, reads, checks)
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown service %q: choose one of %v", name, Services())
		}
		routes = s.withReplica(routes, reads, pool)
		srvCfg := cfg.HTTP
		srvCfg.Addr, srvCfg.Logger = cfg.Addrs[name], cfg.Logger
		srv, err := server.New(ctx, srvCfg, routes)
		if err != nil {
			return nil, err
		}
		if err := srv.Listen(); err != nil {
			return nil, err
		}
		s.servers[name] = srv
	}
	return s, nil
}

func (s *Stack) runs(name string) bool {
	for _, n := range s.cfg.Services {
		if n == name {
			return true
		}
	}
	return false
}

// startPostgres returns the database URL to use: DatabaseURL, or a private
// cluster's, started under DataDir.
func (s *Stack) startPostgres(ctx context.Context) (string, error) {
	if s.cfg.DatabaseURL != "" {
		return s.cfg.DatabaseURL, nil
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	// The private cluster asks for a password over TCP: any local process
	// could connect otherwise, as superuser.
	password, err := auth.LoadOrCreateToken(filepath.Join(s.cfg.DataDir, PostgresPasswordFile))
	if err != nil {
		return "", fmt.Errorf("PostgreSQL password: %w", err)
	}
	cluster, err := postgres.StartCluster(ctx, postgres.ClusterConfig{
		DataDir:  filepath.Join(s.cfg.DataDir, "postgres"),
		Port:     s.cfg.PostgresPort,
		Password: password,
		Logger:   s.log,
	})
	if err != nil {
		return "", err
	}
	s.cluster = cluster
	if err := cluster.CreateDatabase(ctx, "clickstream"); err != nil {
		return "", err
	}
	return cluster.URL("clickstream"), nil
}

func (s *Stack) pool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	s.pools = append(s.pools, pool)
	return pool, nil
}

// Migrate applies the migrations of the named services (all when none).
func Migrate(ctx context.Context, databaseURL string, services ...string) error {
	if len(services) == 0 {
		services = Services()
	}
	for _, name := range services {
		var err error
		switch name {
		case Registry:
			err = postgres.Migrate(ctx, databaseURL, registrymigrations.Schema, registrymigrations.FS)
		case Awards:
			err = postgres.Migrate(ctx, databaseURL, awardsmigrations.Schema, awardsmigrations.FS)
		case Ingest:
			// Ingest runs the warehouse loader: its schema comes along.
			err = postgres.Migrate(ctx, databaseURL, ingestmigrations.Schema, ingestmigrations.FS)
			if err == nil {
				err = postgres.Migrate(ctx, databaseURL, warehousemigrations.Schema, warehousemigrations.FS)
			}
		default:
			err = fmt.Errorf("unknown service %q: choose one of %v", name, Services())
		}
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// URL returns the base URL of a running service, e.g. "http://127.0.0.1:8081".
func (s *Stack) URL(service string) string {
	if srv, ok := s.servers[service]; ok {
		return srv.URL()
	}
	return ""
}

// Bus is the stack's event bus (nil when no service needs it).
func (s *Stack) Bus() *bus.Bus { return s.bus }

// NATSURL is where network clients reach the bus ("" when in-process only).
func (s *Stack) NATSURL() string {
	if s.bus == nil {
		return ""
	}
	return s.bus.ClientURL()
}

// PostgresPasswordFile is where, in the data directory, the private
// cluster's superuser password is kept (mode 0600).
const PostgresPasswordFile = "postgres-password"

// DatabaseURL is the database the services use, with its password.
func (s *Stack) DatabaseURL() string {
	if s.cluster != nil {
		return s.cluster.URL("clickstream")
	}
	return s.cfg.DatabaseURL
}

// RedactedDatabaseURL is DatabaseURL without its password, for banners and
// logs.
func (s *Stack) RedactedDatabaseURL() string {
	if s.cluster != nil {
		return s.cluster.RedactedURL("clickstream")
	}
	return postgres.Redact(s.cfg.DatabaseURL)
}

// PostgresDataDir is where the private cluster keeps its data ("" with
// DatabaseURL).
func (s *Stack) PostgresDataDir() string {
	if s.cluster != nil {
		return s.cluster.DataDir()
	}
	return ""
}

// Run serves every service until ctx is done or one fails, then shuts all
// down and closes storage.
//
// Shutdown goes in order: the services that take outside calls stop first
// (nothing new is recorded after), then the background loops (ingest's
// usage reporter sends its last counts to the registry), then the registry.
func (s *Stack) Run(ctx context.Context) error {
	defer s.Close()
	g, gctx := errgroup.WithContext(ctx)
	base := context.WithoutCancel(ctx)
	frontCtx, stopFront := context.WithCancel(base)
	runnersCtx, stopRunners := context.WithCancel(base)
	registryCtx, stopRegistry := context.WithCancel(base)
	var front []chan struct{}
	for name, srv := range s.servers {
		parent := frontCtx
		if name == Registry {
			parent = registryCtx
		}
		srvCtx, cancel := context.WithCancel(parent)
		done := make(chan struct{})
		if name != Registry {
			front = append(front, done)
		}
		s.mu.Lock()
		s.cancels[name], s.stopped[name] = cancel, done
		s.mu.Unlock()
		g.Go(func() error {
			defer close(done)
			defer cancel()
			return srv.Serve(srvCtx)
		})
	}
	var runners sync.WaitGroup
	for _, run := range s.runners {
		runners.Add(1)
		g.Go(func() error {
			defer runners.Done()
			return run(runnersCtx)
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		stopFront()
		for _, done := range front {
			<-done
		}
		stopRunners()
		runners.Wait()
		stopRegistry()
		return nil
	})
	return g.Wait()
}

// Stop shuts one running service down while the others keep serving, and
// returns once it stopped (tests use it to take the registry away).
func (s *Stack) Stop(service string) {
	s.mu.Lock()
	cancel, done := s.cancels[service], s.stopped[service]
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// Close releases storage; Run calls it. Safe to call more than once.
func (s *Stack) Close() {
	s.once.Do(func() {
		if s.closeFluent != nil {
			s.closeFluent()
		}
		for _, p := range s.pools {
			p.Close()
		}
		if s.bus != nil {
			s.bus.Close()
		}
		if s.cluster != nil {
			if err := s.cluster.Stop(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("stop postgres", "err", err)
			}
		}
	})
}

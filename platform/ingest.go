package platform

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// devActor is who the dev stack's own changes are audited as.
const devActor = "clickstream dev"

// ingestConfig is the ingest configuration with its defaults.
func (s *Stack) ingestConfig() ingest.Config {
	cfg := s.cfg.Ingest
	if cfg.Environment == "" {
		cfg.Environment = ingest.DefaultConfig().Environment
	}
	return cfg
}

// startIngest builds ingest: its catalogue comes from the registry over
// the network (the stack's own registry, or RegistryURL), its API keys
// from PostgreSQL. With the registry in the stack it also gets the dev API
// key, kept in <data-dir>/ingest-key.
func (s *Stack) startIngest(ctx context.Context, pool *pgxpool.Pool, checks []server.Check) (server.Routes, error) {
	cfg := s.ingestConfig()
	registryURL := s.cfg.RegistryURL
	if srv, ok := s.servers[Registry]; ok {
		registryURL = srv.URL()
	}
	if registryURL == "" {
		return server.Routes{}, errors.New("ingest needs the registry: pass --registry-url (or $CLICKSTREAM_REGISTRY_URL)")
	}
	registryURL = strings.TrimRight(registryURL, "/")
	if cfg.PIISecret == "" {
		path := filepath.Join(s.cfg.DataDir, "pii-secret")
		secret, err := auth.LoadOrCreateToken(path)
		if err != nil {
			return server.Routes{}, fmt.Errorf("pii secret: %w", err)
		}
		s.log.Warn("no --pii-secret: hashing pii fields with the secret kept in the data directory; set one shared secret for every ingest instance in production", "file", path)
		cfg.PIISecret = secret
	}

	svc := ingest.New(cfg, nil, s.bus)
	keys := ingest.NewKeys(ingest.NewPostgresStore(pool))
	svc.SetKeys(keys)
	// Schemas travel over gRPC (HTTP/2 without TLS), as between services in
	// production.
	client := registryv1connect.NewRegistryServiceClient(grpcHTTPClient(), registryURL, connect.WithGRPC())
	setCatalogue := svc.SetCatalogue
	if s.devRegistry != nil {
		setCatalogue = s.devAllowsNewVersions(svc, cfg.Environment)
	}
	schemas := ingest.NewSchemas(client, registryURL, setCatalogue, s.log.With("service", Ingest))
	s.runners = append(s.runners, schemas.Run)
	s.ingest = svc

	if _, ok := s.servers[Registry]; ok {
		key, err := devKey(ctx, keys.Store(), cfg.Environment, filepath.Join(s.cfg.DataDir, "ingest-key"))
		if err != nil {
			return server.Routes{}, err
		}
		s.ingestKey = key
	}
	checks = append(checks,
		server.Check{Name: "bus", Func: s.bus.Ready},
		server.Check{Name: "schemas", Func: schemas.Check})
	admin := ingest.NewAdmin(svc).WithRegistry(client).WithLogger(s.log.With("service", Ingest))

	// The warehouse loads every accepted event into typed tables; reports
	// come from them.
	if err := s.startWarehouse(ctx, pool, client, admin); err != nil {
		return server.Routes{}, err
	}

	// Per-minute verdict counts go to the registry's usage statistics.
	usage, err := ingest.NewUsageReporter(ingest.UsageReporterConfig{RegistryURL: registryURL, AdminToken: s.cfg.AdminToken, Logger: s.log.With("service", Ingest)})
	if err != nil {
		return server.Routes{}, err
	}
	svc.SetUsageRecorder(usage)
	s.runners = append(s.runners, usage.Run)

	// Subscriptions: teams' consumers on request, each a durable consumer
	// on EVENTS; webhook ones are pushed from here.
	subs := ingest.NewSubscriptions(svc, ingest.NewPostgresStore(pool), s.bus.JetStream(), s.bus.Conn(),
		ingest.SubscriptionsConfig{Logger: s.log.With("service", Ingest)})
	admin.SetSubscriptions(subs)
	s.runners = append(s.runners, subs.Run)

	if err := s.startFluent(svc, cfg.Environment); err != nil {
		return server.Routes{}, err
	}

	return ingest.Routes(ingest.RoutesConfig{AdminToken: s.cfg.AdminToken, Schemas: schemas}, svc, admin, checks...), nil
}

// IngestFluent is the key of Config.Addrs where ingest takes the Fluent
// Forward protocol over TCP; absent or empty leaves the input off.
const IngestFluent = "ingest-fluent"

// FluentKeysFile is where, in the data directory, ingest reads the shared
// keys of its Fluent input: one "<environment> <shared key>" a line, # for
// comments. The dev stack creates it with a key bound to its environment.
const FluentKeysFile = "fluent-shared-keys"

// FluentTagsFile is where, in the data directory, ingest reads the tags
// its Fluent input maps to event versions beside clickstream.<event>.v<N>:
// one "<event message> <tag>" a line (e.g. "clickstream.events.v1.ItemViewV2
// app.item_views"); optional.
const FluentTagsFile = "fluent-tags"

// startFluent binds the Fluent Forward input of svc when Addrs asks for
// one; Run serves it. Its shared keys come from FluentKeysFile, its tag
// mapping from FluentTagsFile.
func (s *Stack) startFluent(svc *ingest.Service, env string) error {
	addr := s.cfg.Addrs[IngestFluent]
	if addr == "" {
		return nil
	}
	path := filepath.Join(s.cfg.DataDir, FluentKeysFile)
	_, dev := s.servers[Registry]
	keys, err := fluentKeys(path, env, dev)
	if err != nil {
		return err
	}
	tagsPath := filepath.Join(s.cfg.DataDir, FluentTagsFile)
	tags, err := fluentTags(tagsPath)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && dev && errors.Is(err, syscall.EADDRINUSE) {
		// The dev stack takes another port rather than not start: the
		// address it listens on is printed below.
		host, _, _ := net.SplitHostPort(addr)
		s.log.Warn("fluent input: the address is in use; listening on another port", "addr", addr)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return fmt.Errorf("fluent input: listen on %s: %w", addr, err)
	}
	envs := map[string]bool{}
	for _, e := range keys {
		envs[e] = true
	}
	log := s.log.With("service", Ingest)
	input := ingest.NewFluent(svc, ingest.FluentConfig{SharedKeys: keys, Tags: tags, Logger: log})
	s.runners = append(s.runners, func(ctx context.Context) error { return input.Run(ctx, ln) })
	// Closed by Close too: when Start fails after this, Run never serves
	// the listener and would leave it bound.
	s.closeFluent = func() {
		_ = input.Close()
		_ = ln.Close()
	}
	s.fluentAddr = ln.Addr().String()
	log.Info("fluent forward input", "addr", ln.Addr().String(), "shared_keys_file", path, "environments", len(envs),
		"tags_file", tagsPath, "mapped_tags", len(tags))
	return nil
}

// fluentKeys reads the shared keys in path, shared key to environment.
// When the file does not exist, create (the dev stack) writes one with a
// new key bound to env, mode 0600; otherwise it is an error: a Fluent
// input is never open without authentication.
func fluentKeys(path, env string, create bool) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && create {
		var b [24]byte
		_, _ = rand.Read(b[:])
		secret := hex.EncodeToString(b[:])
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("fluent shared key: %w", err)
		}
		line := "# <environment> <shared key>: clients holding the key send events to the environment\n" + env + " " + secret + "\n"
		if err := os.WriteFile(path+".new", []byte(line), 0o600); err != nil {
			return nil, fmt.Errorf("fluent shared key: %w", err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			return nil, fmt.Errorf("fluent shared key: %w", err)
		}
		return map[string]string{secret: env}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the Fluent input needs shared keys: write one \"<environment> <shared key>\" a line into %s (mode 0600): %w", path, err)
	}
	defer f.Close()
	keys, err := pairLines(f, path, "<environment> <shared key>", "the shared key is bound to %q already: one key, one environment")
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s has no shared key: the Fluent input needs one \"<environment> <shared key>\" a line", path)
	}
	return keys, nil
}

// fluentTags reads the tag mapping in path, tag to the full message name
// of an event version; none when the file does not exist.
func fluentTags(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fluent tags: %w", err)
	}
	defer f.Close()
	return pairLines(f, path, "<event message> <tag>", "the tag maps to %q already: one tag, one event version")
}

// pairLines reads lines of two words, "<value> <key>", # for comments,
// into key to value; a key given two values is an error (dup says so).
func pairLines(r io.Reader, path, want, dup string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s line %d: want %q", path, n, want)
		}
		if other, ok := out[fields[1]]; ok && other != fields[0] {
			return nil, fmt.Errorf("%s line %d: "+dup, path, n, other)
		}
		out[fields[1]] = fields[0]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// IngestKey is the dev API key (environment "dev" unless configured
// otherwise), when this stack runs the registry and ingest.
func (s *Stack) IngestKey() string { return s.ingestKey }

// IngestCatalogueRevision is the registry revision ingest validates
// against now; 0 before it loaded one.
func (s *Stack) IngestCatalogueRevision() uint64 {
	if s.ingest == nil {
		return 0
	}
	return s.ingest.CatalogueRevision()
}

// grpcHTTPClient speaks HTTP/2 without TLS (h2c), which gRPC needs.
func grpcHTTPClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// FluentAddr is where ingest's Fluent Forward input listens ("" when off).
func (s *Stack) FluentAddr() string { return s.fluentAddr }

// devAllowsNewVersions is the catalogue setter of ingest in a stack that
// runs the registry too (`clickstream dev`): each catalogue ingest loads
// also wakes a loop that allows the dev environment env every registered
// version it does not allow yet, in the registry, so a version pushed
// while the stack runs is accepted in dev a moment later (the registry's
// watch brings ingest the new access at once). Other environments are
// left as they are.
func (s *Stack) devAllowsNewVersions(svc *ingest.Service, env string) func(*ingest.Catalogue) {
	wake := make(chan struct{}, 1)
	log := s.log.With("service", Ingest, "environment", env)
	s.runners = append(s.runners, func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-wake:
			}
			if err := devEnvironment(ctx, s.devRegistry, env); err != nil && ctx.Err() == nil {
				log.Warn("dev environment: could not allow new versions", "err", err)
			}
		}
	})
	return func(c *ingest.Catalogue) {
		svc.SetCatalogue(c)
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

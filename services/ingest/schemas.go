package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// Schemas keeps ingest's catalogue in step with the registry, over the
// network as in production: it watches the registry's revisions
// (WatchSchemas) and, for each new one, loads every event version with its
// lifecycle status (GetSchemaSet with no environment and without source
// info; only when it changed since the catalogue in use, so an access grant
// is not a new download) and every
// environment with the versions it may send (ListEnvironments), builds a
// Catalogue and hands it to the service, which swaps it atomically. Events
// are validated against the catalogue in memory: never a registry call per
// event.
//
// One schema set for all environments, rather than one per environment,
// keeps one catalogue whatever the number of environments and keys, and
// tells "not allowed here" (NOT_ALLOWED) apart from "no such version"
// (UNKNOWN_VERSION).
//
// When the registry is down ingest keeps serving with the catalogue it has
// and reconnects with backoff (100ms doubling to 5s, jittered). A registry
// that dies without closing the connection is noticed by its heartbeats:
// it says on the watch how often it sends them, and a watch that hears
// nothing for schemasHeartbeatMisses of them is cancelled and watched again. The
// "schemas" readiness check fails only while no catalogue was ever loaded;
// with a stale one it passes, and ReadyDetails adds to /readyz which
// revision is served and since when the registry is unreachable.
type Schemas struct {
	client registryv1connect.RegistryServiceClient
	url    string
	set    func(*Catalogue)
	log    *slog.Logger

	// last is the catalogue loaded last; only the watch's goroutine uses it.
	last *Catalogue

	mu       sync.Mutex
	revision uint64
	loaded   bool
	loadedAt time.Time
	// failure is the last error talking to the registry, since when it
	// lasts; nil while the watch is up.
	failure      error
	failingSince time.Time
}

// Schema watch backoff bounds.
const (
	schemasMinBackoff = 100 * time.Millisecond
	schemasMaxBackoff = 5 * time.Second
)

// schemasHeartbeatMisses is how many heartbeat intervals a watch may stay
// silent before it counts as dead.
const schemasHeartbeatMisses = 3

// errWatchSilent says a watch went silent past its heartbeats.
var errWatchSilent = errors.New("the registry sent nothing for several heartbeats: the watch counts as dead")

// NewSchemas watches the registry at url (for messages) through client and
// passes every new catalogue to set.
func NewSchemas(client registryv1connect.RegistryServiceClient, url string, set func(*Catalogue), log *slog.Logger) *Schemas {
	if log == nil {
		log = slog.Default()
	}
	return &Schemas{client: client, url: url, set: set, log: log.With("registry", url)}
}

// Run keeps the catalogue current until ctx is done.
func (s *Schemas) Run(ctx context.Context) error {
	backoff := schemasMinBackoff
	for {
		progressed, err := s.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			backoff = schemasMinBackoff
		}
		s.failed(err)
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, schemasMaxBackoff)
	}
}

// watch follows the registry's revisions, loading each new one, until the
// watch breaks. progressed reports whether it got anywhere.
func (s *Schemas) watch(ctx context.Context) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.client.WatchSchemas(ctx, &registryv1.WatchSchemasRequest{})
	if err != nil {
		return false, fmt.Errorf("watch schemas: %w", err)
	}
	defer stream.Close()
	// The watchdog cancels the watch when the registry, which said how
	// often it sends heartbeats, stays silent for several of them. A
	// registry that says nothing about heartbeats (an older one) is not
	// watched for silence.
	var silent atomic.Bool
	watchdog := time.AfterFunc(time.Hour, func() {
		silent.Store(true)
		cancel()
	})
	watchdog.Stop()
	defer watchdog.Stop()
	for stream.Receive() {
		watchdog.Stop()
		msg := stream.Msg()
		if err := s.load(ctx, msg.GetRevision()); err != nil {
			if silent.Load() {
				err = errWatchSilent
			}
			return progressed, err
		}
		progressed = true
		if every := msg.GetHeartbeatIntervalSeconds(); every > 0 {
			watchdog.Reset(schemasHeartbeatMisses * time.Duration(every) * time.Second)
		}
	}
	if silent.Load() {
		return progressed, fmt.Errorf("watch schemas: %w", errWatchSilent)
	}
	if err := stream.Err(); err != nil {
		return progressed, fmt.Errorf("watch schemas: %w", err)
	}
	return progressed, errors.New("watch schemas: the registry ended the watch")
}

// load builds the catalogue of revision rev (or newer) unless it is the
// one in use.
func (s *Schemas) load(ctx context.Context, rev uint64) error {
	s.mu.Lock()
	current, loaded := s.revision, s.loaded
	s.mu.Unlock()
	if loaded && rev == current {
		s.recovered(current)
		return nil
	}
	// Ask for the descriptors only when they changed since the catalogue in
	// use: an access grant or an owner leaves them as they are.
	req := &registryv1.GetSchemaSetRequest{OmitSourceInfo: true}
	if loaded && s.last != nil {
		req.SinceRevision = s.last.Revision()
	}
	set, err := s.client.GetSchemaSet(ctx, req)
	if err != nil {
		return fmt.Errorf("get schema set (revision %d): %w", rev, err)
	}
	envs, err := s.client.ListEnvironments(ctx, &registryv1.ListEnvironmentsRequest{})
	if err != nil {
		return fmt.Errorf("list environments (revision %d): %w", rev, err)
	}
	var c *Catalogue
	if set.GetNotModified() && s.last != nil {
		c = s.last.WithGovernance(Governance{Status: s.last.governance.Status, Access: accessOf(envs.GetEnvironments())})
		c.revision = set.GetRevision()
		s.log.Info("event catalogue access loaded", "revision", c.Revision(), "environments", len(envs.GetEnvironments()))
	} else {
		if c, err = CatalogueFromRegistry(set, envs.GetEnvironments()); err != nil {
			return err
		}
		s.log.Info("event catalogue loaded", "revision", c.Revision(), "versions", len(set.GetVersions()), "environments", len(envs.GetEnvironments()))
	}
	s.last = c
	s.set(c)
	s.recovered(c.Revision())
	return nil
}

// CatalogueFromRegistry builds a catalogue from the registry's schema set
// of every version and its environments.
func CatalogueFromRegistry(set *registryv1.GetSchemaSetResponse, envs []*registryv1.Environment) (*Catalogue, error) {
	c, err := NewCatalogue(set.GetFileDescriptorSet(), set.GetRevision())
	if err != nil {
		return nil, err
	}
	g := Governance{Status: map[VersionRef]Lifecycle{}}
	for _, v := range set.GetVersions() {
		switch v.GetStatus() {
		case registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED:
			g.Status[VersionRef{v.GetEventId(), v.GetVersion()}] = LifecycleDeprecated
		case registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED:
			g.Status[VersionRef{v.GetEventId(), v.GetVersion()}] = LifecycleRetired
		}
	}
	g.Access = accessOf(envs)
	return c.WithGovernance(g), nil
}

// accessOf is what each environment may send.
func accessOf(envs []*registryv1.Environment) map[string]map[VersionRef]bool {
	access := make(map[string]map[VersionRef]bool, len(envs))
	for _, env := range envs {
		allowed := map[VersionRef]bool{}
		for _, ref := range env.GetAllowed() {
			allowed[VersionRef{ref.GetEventId(), ref.GetVersion()}] = true
		}
		access[env.GetName()] = allowed
	}
	return access
}

func (s *Schemas) recovered(rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		s.log.Info("registry reachable again", "revision", rev, "unreachable_for", time.Since(s.failingSince).Round(time.Millisecond))
	}
	s.failure = nil
	s.revision, s.loaded, s.loadedAt = rev, true, time.Now()
}

func (s *Schemas) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure == nil {
		s.failingSince = time.Now()
		if s.loaded {
			s.log.Warn("registry unreachable; serving the cached event catalogue", "revision", s.revision, "err", err)
		} else {
			s.log.Warn("registry unreachable; no event catalogue yet", "err", err)
		}
	}
	s.failure = err
}

// SchemaStatus is the state of the catalogue cache.
type SchemaStatus struct {
	// Loaded reports whether a catalogue was ever loaded.
	Loaded   bool
	Revision uint64
	// Err is why the registry is unreachable now; nil while it is watched.
	Err   error
	Since time.Time
}

// Status reports the state of the catalogue cache.
func (s *Schemas) Status() SchemaStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SchemaStatus{Loaded: s.loaded, Revision: s.revision, Err: s.failure, Since: s.failingSince}
}

// Detail describes the cache for people: the revision served and whether
// the registry is reachable.
func (st SchemaStatus) Detail(url string) string {
	switch {
	case !st.Loaded && st.Err != nil:
		return fmt.Sprintf("no event catalogue yet: the registry at %s is unreachable since %s: %v", url, st.Since.UTC().Format(time.RFC3339), st.Err)
	case !st.Loaded:
		return "no event catalogue yet: loading from the registry at " + url
	case st.Err != nil:
		return fmt.Sprintf("serving cached catalogue revision %d (stale): the registry at %s is unreachable since %s: %v",
			st.Revision, url, st.Since.UTC().Format(time.RFC3339), st.Err)
	}
	return fmt.Sprintf("catalogue revision %d, watching the registry at %s", st.Revision, url)
}

// Check is the "schemas" readiness check: it fails only while no catalogue
// was ever loaded. A stale catalogue passes (ingest keeps serving), and
// ReadyDetails says it is stale.
func (s *Schemas) Check(context.Context) error {
	st := s.Status()
	if !st.Loaded {
		return errors.New(st.Detail(s.url))
	}
	return nil
}

// readyzPath is the readiness route of internal/server.
const readyzPath = "/readyz"

// ReadyDetails is net/http middleware adding, to the /readyz answer, the
// state of the catalogue cache as checks.schemas.detail, e.g. that the
// registry is unreachable while a cached catalogue is served. A readiness
// check can only pass or fail, and failing would take a serving ingest out
// of rotation whenever the registry blinks.
func (s *Schemas) ReadyDetails(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != readyzPath || r.Method != http.MethodGet {
			h.ServeHTTP(w, r)
			return
		}
		rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err == nil {
			checks, _ := doc["checks"].(map[string]any)
			if checks == nil {
				checks = map[string]any{}
				doc["checks"] = checks
			}
			check, _ := checks["schemas"].(map[string]any)
			if check == nil {
				check = map[string]any{"status": "ok"}
				checks["schemas"] = check
			}
			check["detail"] = s.Status().Detail(s.url)
			if b, err := json.Marshal(doc); err == nil {
				body = append(b, '\n')
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.code)
		_, _ = w.Write(body)
	})
}

// bufferedResponse keeps a response to rewrite it.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }

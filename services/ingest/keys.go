package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
)

// APIKey is an API key bound to one environment. Its secret,
// "ck_<id>_<random>", is shown once at creation; only its SHA-256 is kept
// (secrets are 32 random bytes, so a plain hash cannot be guessed back).
type APIKey struct {
	// ID is the public part of the secret, e.g. "ck_5f0c2a9d81be".
	ID          string
	Environment string
	Description string
	SecretHash  []byte
	CreatedAt   time.Time
	CreatedBy   string
	// RevokedAt is zero while the key is valid.
	RevokedAt time.Time
	// Kind is KeyKindServer or KeyKindBrowser.
	Kind string
	// AllowedOrigins are where a browser key may send from, e.g.
	// "https://shop.example".
	AllowedOrigins []string
}

// Kinds of API keys.
const (
	KeyKindServer  = "server"
	KeyKindBrowser = "browser"
)

// Browser reports whether k is a browser key.
func (k APIKey) Browser() bool { return k.Kind == KeyKindBrowser }

// AllowsOrigin reports whether a browser key may send from origin.
func (k APIKey) AllowsOrigin(origin string) bool {
	for _, o := range k.AllowedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// Revoked reports whether the key was revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// ErrKeyNotFound is returned by a KeyStore for an unknown key id.
var ErrKeyNotFound = errors.New("api key not found")

// KeyStore keeps API keys.
type KeyStore interface {
	// CreateKey stores a new key.
	CreateKey(ctx context.Context, k APIKey) error
	// Key returns one key, revoked or not, or ErrKeyNotFound.
	Key(ctx context.Context, id string) (APIKey, error)
	// ListKeys lists keys by creation time, of one environment or all
	// (""), revoked ones only when asked.
	ListKeys(ctx context.Context, environment string, includeRevoked bool) ([]APIKey, error)
	// RevokeKey revokes a key (once: revoking again keeps the first time)
	// and returns it, or ErrKeyNotFound.
	RevokeKey(ctx context.Context, id, actor string) (APIKey, error)
	// RestrictKey replaces a browser key's allowed origins.
	RestrictKey(ctx context.Context, id string, origins []string) (APIKey, error)
}

// NewKeySecret returns a fresh key id and its secret.
func NewKeySecret() (id, secret string) { return newSecret("ck_") }

// newSecret returns a fresh id, prefix and 6 random bytes in hex, and its
// secret "<id>_<32 random bytes in hex>", for API keys and subscription
// tokens alike.
func newSecret(prefix string) (id, secret string) {
	var idb [6]byte
	var sb [32]byte
	_, _ = rand.Read(idb[:])
	_, _ = rand.Read(sb[:])
	id = prefix + hex.EncodeToString(idb[:])
	return id, id + "_" + hex.EncodeToString(sb[:])
}

// HashSecret is what a KeyStore keeps of a secret.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// keyIDOf returns the id part of a secret "ck_<id>_<random>".
func keyIDOf(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, "ck_")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "_")
	if !ok || id == "" {
		return "", false
	}
	return "ck_" + id, true
}

// Caller is who sends a batch: the API key, its environment, and how it
// reached ingest.
type Caller struct {
	// Browser: the key is a browser key (rate-limited per key and IP).
	Browser     bool
	KeyID       string
	Environment string
	Protocol    busv1.Protocol
	RemoteAddr  string
}

type callerKey struct{}

// WithCaller returns ctx carrying c as the caller of SendBatch, for a
// service without API keys (tests, embedding).
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// credentials is what the request carried: the API key secret and the
// protocol, read from HTTP headers by Credentials.
type credentials struct {
	secret     string
	protocol   busv1.Protocol
	remoteAddr string
	// origin is the request's Origin header (a browser's page), if any.
	origin string
	// inQuery: the secret came in the query string (a beacon).
	inQuery bool
}

type credentialsKey struct{}

func credentialsFrom(ctx context.Context) credentials {
	c, _ := ctx.Value(credentialsKey{}).(credentials)
	return c
}

// APIKeyHeader is an alternative to "Authorization: Bearer <secret>".
const APIKeyHeader = "X-Api-Key"

// ingestPaths are the paths of the event API on every protocol.
var ingestPaths = []string{"/" + ingestv1connect.IngestServiceName + "/", "/v1/events"}

// Credentials is net/http middleware that reads the API key and the
// protocol of calls to the event API into their context, so gRPC,
// gRPC-Web, Connect and REST calls are authenticated alike (Connect
// interceptors do not run on the REST path, and the gateway forwards only
// some headers as metadata). SendBatch checks the key.
func Credentials(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasAnyPrefix(r.URL.Path, ingestPaths) {
			h.ServeHTTP(w, r)
			return
		}
		c := credentials{secret: strings.TrimSpace(r.Header.Get(APIKeyHeader)), remoteAddr: r.RemoteAddr}
		if v := r.Header.Get("Authorization"); c.secret == "" && len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			c.secret = strings.TrimSpace(v[7:])
		}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") && r.URL.Query().Get(BeaconKeyParam) == "" {
			// text/plain is the beacons' type, and a beacon's key is in
			// the query.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnsupportedMediaType)
			_, _ = w.Write([]byte(`{"code":3,"message":"a text/plain body is a beacon's: put the browser key in the query (?key=<secret>), or send application/json","details":[]}`))
			return
		}
		c.origin = r.Header.Get("Origin")
		if c.secret == "" && r.URL.RawQuery != "" {
			// A beacon cannot set headers: its key is in the query
			// (browser keys only, checked by Authenticate).
			if key := r.URL.Query().Get(BeaconKeyParam); key != "" {
				c.secret, c.inQuery = strings.TrimSpace(key), true
			}
		}
		ct := r.Header.Get("Content-Type")
		switch {
		case !strings.HasPrefix(r.URL.Path, "/"+ingestv1connect.IngestServiceName+"/"):
			c.protocol = busv1.Protocol_PROTOCOL_REST
		case strings.HasPrefix(ct, "application/grpc-web"):
			c.protocol = busv1.Protocol_PROTOCOL_GRPC_WEB
		case strings.HasPrefix(ct, "application/grpc"):
			c.protocol = busv1.Protocol_PROTOCOL_GRPC
		default:
			c.protocol = busv1.Protocol_PROTOCOL_CONNECT
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), credentialsKey{}, c)))
	})
}

func hasAnyPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// KeyCacheTTL is how long Keys trusts what it read about a key: a revoked
// key stops working within this time on every ingest instance (at once on
// the instance that revoked it).
const KeyCacheTTL = 30 * time.Second

// KeyMaxStale bounds how long Keys keeps answering from what it last read
// about a key while the key store fails (stale-if-error): ingest needs
// only the bus to take events, so a database outage shorter than this does
// not lock out the keys that were in use. A revocation made during the
// outage takes effect once the store answers again.
const KeyMaxStale = 24 * time.Hour

// keyRetryAfterError is how long a key whose lookup failed is answered
// from the cache before the store is asked again, so an outage costs one
// failing query per key per interval, not one per batch.
const keyRetryAfterError = 5 * time.Second

// keyLookupTimeout bounds one lookup, so a store that hangs rather than
// fails does not hold batches up.
const keyLookupTimeout = 3 * time.Second

// keyCacheMax bounds the cache. When it is full, entries too old to be
// served and unknown ids go first; it is emptied only if that is not
// enough, so unknown ids sent in bulk cost at most one query each per TTL
// and bounded memory.
const keyCacheMax = 10000

// Keys authenticates API keys against a KeyStore, caching lookups for
// KeyCacheTTL so a batch costs no query, and serving the last answer for
// up to KeyMaxStale while the store fails.
type Keys struct {
	store KeyStore
	now   func() time.Time
	// stale counts lookups answered from an expired entry because the
	// store failed.
	stale prometheus.Counter

	mu    sync.Mutex
	cache map[string]cachedKey
	// browser caches the origins of browser keys, for preflights.
	browser browserOrigins
}

type cachedKey struct {
	key     APIKey
	found   bool
	fetched time.Time
	// failed is when the store last failed to refresh the entry; zero
	// after a successful read.
	failed time.Time
}

// NewKeys authenticates against store.
func NewKeys(store KeyStore) *Keys {
	return &Keys{store: store, now: time.Now, cache: map[string]cachedKey{},
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "clickstream", Subsystem: "ingest", Name: "api_key_stale_lookups_total",
			Help: "API key lookups answered from a cache entry older than the cache TTL because the key store failed (stale-if-error, at most " + KeyMaxStale.String() + " old).",
		})}
}

// Collectors returns the metrics of key lookups, for registration.
func (k *Keys) Collectors() []prometheus.Collector { return []prometheus.Collector{k.stale} }

// Store is the key store.
func (k *Keys) Store() KeyStore { return k.store }

// forget drops a key from the cache, after a change to it.
func (k *Keys) forget(id string) {
	k.mu.Lock()
	delete(k.cache, id)
	k.mu.Unlock()
	k.forgetOrigins()
}

// lookup returns a key from the cache or the store. When the store fails,
// an entry read less than KeyMaxStale ago answers in its place.
func (k *Keys) lookup(ctx context.Context, id string) (APIKey, bool, error) {
	now := k.now()
	k.mu.Lock()
	e, ok := k.cache[id]
	k.mu.Unlock()
	if ok && now.Sub(e.fetched) < KeyCacheTTL {
		return e.key, e.found, nil
	}
	servable := ok && now.Sub(e.fetched) < KeyMaxStale
	if servable && !e.failed.IsZero() && now.Sub(e.failed) < keyRetryAfterError {
		k.stale.Inc()
		return e.key, e.found, nil
	}
	lctx, cancel := context.WithTimeout(ctx, keyLookupTimeout)
	key, err := k.store.Key(lctx, id)
	cancel()
	found := err == nil
	if err != nil && !errors.Is(err, ErrKeyNotFound) {
		if !servable || ctx.Err() != nil {
			return APIKey{}, false, err
		}
		e.failed = now
		k.put(id, e, now)
		k.stale.Inc()
		return e.key, e.found, nil
	}
	k.put(id, cachedKey{key: key, found: found, fetched: now}, now)
	return key, found, nil
}

// put caches e as what is known of id, making room when the cache is full.
func (k *Keys) put(id string, e cachedKey, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.cache[id]; !ok && len(k.cache) >= keyCacheMax {
		for cid, c := range k.cache {
			if !c.found || now.Sub(c.fetched) >= KeyMaxStale {
				delete(k.cache, cid)
			}
		}
		if len(k.cache) >= keyCacheMax {
			clear(k.cache)
		}
	}
	k.cache[id] = e
}

// Authenticate returns the caller the credentials name, or an
// Unauthenticated error that says what to send.
func (k *Keys) Authenticate(ctx context.Context, c credentials) (Caller, error) {
	if c.secret == "" {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, errors.New(
			"no API key: send Authorization: Bearer <secret> or X-Api-Key: <secret>; create a key with `clickstream keys create --env <environment>`"))
	}
	id, ok := keyIDOf(c.secret)
	if !ok {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, errors.New(
			`the API key is malformed: a secret looks like "ck_<id>_<random>", as `+"`clickstream keys create`"+` prints it`))
	}
	key, found, err := k.lookup(ctx, id)
	if err != nil {
		return Caller{}, connect.NewError(connect.CodeUnavailable, fmt.Errorf("cannot check API key %s now, retry shortly: %w", id, err))
	}
	if !found || subtle.ConstantTimeCompare(key.SecretHash, HashSecret(c.secret)) != 1 {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("API key %s is not valid: check the secret or create a new key", id))
	}
	if key.Revoked() {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf(
			"API key %s was revoked at %s: create a new key for environment %q", id, key.RevokedAt.UTC().Format(time.RFC3339), key.Environment))
	}
	if err := checkOrigin(key, c); err != nil {
		return Caller{}, err
	}
	return Caller{KeyID: key.ID, Environment: key.Environment, Protocol: c.protocol, RemoteAddr: c.remoteAddr, Browser: key.Browser()}, nil
}

package ingest

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
)

// Browsers send with browser keys: write-only (SendBatch is all an API key
// opens), bound to one environment and a list of allowed origins. Ingest
// answers CORS for the event API only for those origins, never with "*",
// never with credentials; a request from an origin not on its key's list
// is refused naming the origin, and a server key never passes CORS. A
// beacon (navigator.sendBeacon cannot set headers) sends its batch as
// text/plain with the browser key in the query string. Per key and client
// IP a token bucket limits requests (browser keys by default, server keys
// only when configured), answering 429 with Retry-After.

// BeaconKeyParam is the query parameter a beacon carries its browser key in.
const BeaconKeyParam = "key"

// checkOrigin enforces a key's kind: a secret in the query string must be
// a browser key's, a request from a page (Origin) must carry a browser key
// allowing that origin.
func checkOrigin(key APIKey, c credentials) error {
	switch {
	case c.inQuery && !key.Browser():
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf(
			"API key %s is a server key: only browser keys may be sent in the query string (beacons); send a server key as Authorization: Bearer <secret>", key.ID))
	case c.origin == "":
		return nil
	case !key.Browser():
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf(
			"origin %.100q sent a server key (%s): server keys never pass CORS; a page sends with a browser key (`clickstream keys create --browser --origin %s`)", c.origin, key.ID, originHint(c.origin)))
	case !key.AllowsOrigin(c.origin):
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf(
			"origin %.100q is not allowed for browser key %s (allowed: %s); add it with `clickstream keys restrict`", c.origin, key.ID, strings.Join(key.AllowedOrigins, ", ")))
	}
	return nil
}

func originHint(origin string) string {
	if len(origin) > 100 || strings.ContainsAny(origin, " \t\r\n'\"`") {
		return "<origin>"
	}
	return origin
}

// browserOrigins caches the origins of every active browser key, which
// preflights (they carry no key) are answered from.
type browserOrigins struct {
	mu      sync.Mutex
	origins map[string]bool
	fetched time.Time
}

// allows reports whether some active browser key allows origin.
func (k *Keys) allowsOrigin(ctx context.Context, origin string) (bool, error) {
	origin = strings.ToLower(origin)
	b := &k.browser
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.origins == nil || k.now().Sub(b.fetched) >= KeyCacheTTL {
		lctx, cancel := context.WithTimeout(ctx, keyLookupTimeout)
		keys, err := k.store.ListKeys(lctx, "", false)
		cancel()
		if err != nil && b.origins == nil {
			return false, err
		}
		if err == nil {
			b.origins = map[string]bool{}
			for _, key := range keys {
				if key.Browser() && !key.Revoked() {
					for _, o := range key.AllowedOrigins {
						b.origins[strings.ToLower(o)] = true
					}
				}
			}
			b.fetched = k.now()
		}
	}
	return b.origins[origin], nil
}

// forgetOrigins makes the next preflight read the keys again, after a key
// changed.
func (k *Keys) forgetOrigins() {
	k.browser.mu.Lock()
	k.browser.origins = nil
	k.browser.mu.Unlock()
}

// corsAllowHeaders are the request headers a page may send to the event
// API: credentials, content type, and those of Connect, gRPC-Web and gzip.
const corsAllowHeaders = "Authorization, X-Api-Key, Content-Type, Content-Encoding, Connect-Protocol-Version, Connect-Timeout-Ms, X-Grpc-Web, X-User-Agent, Grpc-Timeout, X-Request-Id"

// corsExposeHeaders are the answer's headers a page may read.
const corsExposeHeaders = "Retry-After, X-Request-Id, Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin"

// CORS answers preflights to the event API for the origins of browser keys
// and lets pages from those origins read the answers; every other path is
// left alone (the console and the admin API are same-origin only).
func CORS(svc *Service, log func(msg string, args ...any)) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			keys := svc.keys
			origin := r.Header.Get("Origin")
			if origin == "" || keys == nil || !hasAnyPrefix(r.URL.Path, ingestPaths) {
				h.ServeHTTP(w, r)
				return
			}
			w.Header().Add("Vary", "Origin")
			allowed, err := keys.allowsOrigin(r.Context(), origin)
			if err != nil && log != nil {
				log("cors: cannot read the browser keys' origins", "err", err)
			}
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if preflight {
				if !allowed {
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					w.WriteHeader(http.StatusForbidden)
					fmt.Fprintf(w, "origin %.100q may not send events here: no browser key allows it (create one with `clickstream keys create --browser --origin <origin>`)\n", origin)
					return
				}
				hd := w.Header()
				hd.Set("Access-Control-Allow-Origin", origin)
				hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
				hd.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				hd.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if allowed {
				w.Header().Set("Access-Control-Allow-Origin", origin)
				w.Header().Set("Access-Control-Expose-Headers", corsExposeHeaders)
			}
			h.ServeHTTP(w, r)
		})
	}
}

// RateLimit is a token bucket per API key and client IP.
type RateLimit struct {
	// PerSecond is the rate requests are allowed at; 0 turns the limit off.
	PerSecond float64
	// Burst is how many requests may come at once (at least 1).
	Burst int
}

// Defaults of the rate limits: browser keys limited, server keys not.
var (
	DefaultBrowserRateLimit = RateLimit{PerSecond: 20, Burst: 40}
	DefaultServerRateLimit  = RateLimit{}
)

// maxBuckets bounds the buckets kept; full ones go first.
const maxBuckets = 100_000

// limiter holds the buckets of one RateLimit.
type limiter struct {
	limit RateLimit
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(l RateLimit, now func() time.Time) *limiter {
	if l.PerSecond <= 0 {
		return nil
	}
	l.Burst = max(l.Burst, 1)
	return &limiter{limit: l, now: now, buckets: map[string]*bucket{}}
}

// take takes a token for key, or says how long until one is there.
func (l *limiter) take(key string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.evict(now)
		}
		b = &bucket{tokens: float64(l.limit.Burst), last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.limit.Burst), b.tokens+now.Sub(b.last).Seconds()*l.limit.PerSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.limit.PerSecond * float64(time.Second))
}

// evict drops the buckets that would be full by now, else all.
func (l *limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.limit.PerSecond >= float64(l.limit.Burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// rateLimited answers ResourceExhausted (HTTP 429) with Retry-After when
// caller is over its limit.
func (s *Service) rateLimited(c Caller) error {
	lim := s.serverLimit
	if c.Browser {
		lim = s.browserLimit
	}
	if lim == nil {
		return nil
	}
	ip := c.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	ok, wait := lim.take(c.KeyID + "|" + ip)
	if ok {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	err := connect.NewError(connect.CodeResourceExhausted, fmt.Errorf(
		"API key %s from %s is over its rate limit (%g requests a second, bursts of %d): retry after %d s with the same idempotency keys",
		c.KeyID, ip, lim.limit.PerSecond, lim.limit.Burst, secs))
	err.Meta().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	return err
}

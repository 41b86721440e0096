package ingest_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/services/ingest"
)

// newKey stores a key of kind with origins and returns its secret.
func newKey(t *testing.T, store ingest.KeyStore, kind string, origins ...string) string {
	t.Helper()
	id, secret := ingest.NewKeySecret()
	if err := store.CreateKey(t.Context(), ingest.APIKey{ID: id, Environment: env, SecretHash: ingest.HashSecret(secret),
		CreatedBy: "browser-test", Kind: kind, AllowedOrigins: origins}); err != nil {
		t.Fatal(err)
	}
	return secret
}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, body string, header ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(data)}
}

// Browser keys: CORS answered for their origins only, a page from another
// origin or with a server key refused naming the origin, beacons
// (text/plain, key in the query) for browser keys only, and the rate
// limit per key and IP answering 429 with Retry-After, then letting the
// client in again.
func TestBrowserKeysCORSBeaconsAndRateLimit(t *testing.T) {
	svc, b := newService(t, ingest.Config{BrowserRateLimit: ingest.RateLimit{PerSecond: 1, Burst: 4}})
	store := newKeyStore(t)
	svc.SetKeys(ingest.NewKeys(store))
	const shop, evil = "https://shop.example", "https://evil.example"
	browserKey := newKey(t, store, ingest.KeyKindBrowser, shop)
	serverKey := newKey(t, store, ingest.KeyKindServer)
	base := serveIngest(t, ingest.Routes(ingest.RoutesConfig{}, svc, ingest.NewAdmin(svc)))
	batchURL := base + "/v1/events:batch"
	batch := func(key string) string {
		return `{"events":[{"idempotencyKey":"` + key + `","typed":{` + tripV1 + `,` + tripContext + `,"tripId":"t","distanceM":"3"}}]}`
	}

	// Preflights: the shop's answered, another origin's refused.
	a := do(t, http.MethodOptions, batchURL, "", "Origin", shop, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type")
	t.Logf("preflight from %s: %d, Allow-Origin %q, Allow-Headers %q", shop, a.status, a.header.Get("Access-Control-Allow-Origin"), a.header.Get("Access-Control-Allow-Headers"))
	if a.status != http.StatusNoContent || a.header.Get("Access-Control-Allow-Origin") != shop ||
		!strings.Contains(a.header.Get("Access-Control-Allow-Headers"), "Authorization") || a.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight from %s: %d %v", shop, a.status, a.header)
	}
	a = do(t, http.MethodOptions, batchURL, "", "Origin", evil, "Access-Control-Request-Method", "POST")
	t.Logf("preflight from %s: %d %s", evil, a.status, strings.TrimSpace(a.body))
	if a.status != http.StatusForbidden || a.header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(a.body, evil) {
		t.Errorf("preflight from %s: %d %q %s, want 403 naming it", evil, a.status, a.header.Get("Access-Control-Allow-Origin"), a.body)
	}

	// The page sends with its browser key.
	a = do(t, http.MethodPost, batchURL, batch("web-1"), "Content-Type", "application/json", "Origin", shop, "Authorization", "Bearer "+browserKey)
	if a.status != http.StatusOK || a.header.Get("Access-Control-Allow-Origin") != shop || !strings.Contains(a.body, "EVENT_STATUS_ACCEPTED") {
		t.Errorf("browser key from %s: %d %q %s", shop, a.status, a.header.Get("Access-Control-Allow-Origin"), a.body)
	}
	// The same key from another origin, a server key from a page.
	a = do(t, http.MethodPost, batchURL, batch("web-2"), "Content-Type", "application/json", "Origin", evil, "Authorization", "Bearer "+browserKey)
	t.Logf("browser key from %s: %d %s", evil, a.status, a.body)
	if a.status != http.StatusForbidden || !strings.Contains(a.body, evil) {
		t.Errorf("browser key from %s: %d %s, want 403 naming the origin", evil, a.status, a.body)
	}
	a = do(t, http.MethodPost, batchURL, batch("web-3"), "Content-Type", "application/json", "Origin", shop, "Authorization", "Bearer "+serverKey)
	t.Logf("server key from %s: %d %s", shop, a.status, a.body)
	if a.status != http.StatusForbidden || !strings.Contains(a.body, "server keys never pass CORS") {
		t.Errorf("server key from a page: %d %s, want 403", a.status, a.body)
	}

	// Beacons: text/plain with the browser key in the query; never a
	// server key there.
	a = do(t, http.MethodPost, batchURL+"?key="+browserKey, batch("beacon-1"), "Content-Type", "text/plain;charset=UTF-8", "Origin", shop)
	if a.status != http.StatusOK || !strings.Contains(a.body, "EVENT_STATUS_ACCEPTED") {
		t.Errorf("beacon: %d %s", a.status, a.body)
	}
	a = do(t, http.MethodPost, batchURL+"?key="+serverKey, batch("beacon-2"), "Content-Type", "text/plain")
	t.Logf("beacon with a server key: %d %s", a.status, a.body)
	if a.status != http.StatusForbidden || !strings.Contains(a.body, "only browser keys") {
		t.Errorf("beacon with a server key: %d %s, want 403", a.status, a.body)
	}

	// The rate limit: a burst of 4 (two used above), then 429.
	var limited answer
	sent := 0
	for i := range 10 {
		a = do(t, http.MethodPost, batchURL, batch("burst-"+strconv.Itoa(i)), "Content-Type", "application/json", "Origin", shop, "X-Api-Key", browserKey)
		if a.status == http.StatusTooManyRequests {
			limited = a
			break
		}
		sent++
	}
	t.Logf("rate limit: %d more accepted, then %d with Retry-After %q: %s", sent, limited.status, limited.header.Get("Retry-After"), limited.body)
	retry, err := strconv.Atoi(limited.header.Get("Retry-After"))
	if limited.status != http.StatusTooManyRequests || err != nil || retry < 1 {
		t.Fatalf("over the rate limit: %d Retry-After %q, want 429 with a number of seconds", limited.status, limited.header.Get("Retry-After"))
	}
	// A server key is not limited by default.
	for i := range 6 {
		if a := do(t, http.MethodPost, batchURL, batch("server-"+strconv.Itoa(i)), "Content-Type", "application/json", "X-Api-Key", serverKey); a.status != http.StatusOK {
			t.Fatalf("server key request %d: %d %s", i, a.status, a.body)
		}
	}
	time.Sleep(time.Duration(retry) * time.Second)
	a = do(t, http.MethodPost, batchURL, batch("after-retry"), "Content-Type", "application/json", "Origin", shop, "X-Api-Key", browserKey)
	if a.status != http.StatusOK {
		t.Errorf("after Retry-After: %d %s, want 200", a.status, a.body)
	}
	t.Logf("EVENTS holds %d events", len(storedMsgs(t, b, "EVENTS")))
}

package browser

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// senderPage is a shop page that loads the dev environment's TypeScript
// langpack as ES modules from its own origin (/pack/, no bundler) and, on
// load, sends two events with the pack's Sender to ingest on another origin
// with the key in its URL, keeping the verdicts in window.sent; a third
// event waits in the sender, which hands it to navigator.sendBeacon when
// the page is left (pagehide, or visibilitychange to hidden).
const senderPage = `<!doctype html><title>shop</title><script type="module">
import { Context, PlaceCardOpenedV1, Sender } from "/pack/dist/index.js";
const p = new URLSearchParams(location.hash.slice(1));
const ingest = p.get("ingest"), key = p.get("key"), run = p.get("run");
const card = (n) => new PlaceCardOpenedV1({ context: new Context({ userId: "u-web" }), objectId: "cafe-" + n });
window.sent = null;
// The test reads which URL the last beacon went to (key elided).
const beacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, body) => {
  localStorage.setItem("beacon", url.replace(/key=[^&]+/, "key=<key>") + " " + typeof body);
  return beacon(url, body);
};
const sender = new Sender(ingest, { apiKey: key, maxAttempts: 2, initialBackoffMs: 10, flushIntervalMs: 0 });
try {
  const results = await sender.send([card(1), card(2)], [run + "-fetch-1", run + "-fetch-2"]);
  window.sent = "verdicts: " + results.map((r) => r.key + " " + r.status).join(", ");
} catch (e) {
  window.sent = "refused: status " + (e.status ?? "none") + ": " + e.message;
}
sender.add(card(3), run + "-beacon");
</script>`

// servePack unpacks the environment's TypeScript langpack, as the registry
// serves it, into a directory: the files a page imports.
func servePack(t *testing.T, registry, env string) string {
	t.Helper()
	resp, err := http.Post(registry+"/langpack/typescript/latest/", "application/json", strings.NewReader(`{"environment":"`+env+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("download the %s TypeScript langpack: %s: %s", env, resp.Status, body)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	files := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		_, rel, _ := strings.Cut(hdr.Name, "/")
		if hdr.Typeflag != tar.TypeReg || rel == "" || strings.Contains(rel, "..") {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files++
	}
	t.Logf("the %s TypeScript langpack: %d files served under /pack/", env, files)
	return dir
}

// A page on one origin sends to ingest on another with a browser key: the
// event is ACCEPTED with its verdict readable by the page, and a beacon
// sent on pagehide arrives on EVENTS; the same page from an origin not on
// the key's list is refused, and so is a server key. Real Chromium
// enforces CORS on the answers.
func TestBrowserKeyFromAnotherOrigin(t *testing.T) {
	exe := chromium(t)
	if testing.Short() {
		t.Skip("starts the stack and chromium")
	}
	ctx := t.Context()
	s := harness.StartStack(t, platform.Config{
		DataDir:    harness.DataDir(t),
		Services:   []string{platform.Registry, platform.Ingest},
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0", platform.Ingest: "127.0.0.1:0"},
		AdminToken: adminToken,
		Ingest:     ingest.Config{PIISecret: "cors-test-pii-secret-0123456789"},
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(senderPage))
	})
	mux.Handle("GET /pack/", http.StripPrefix("/pack/", http.FileServer(http.Dir(servePack(t, s.URL(platform.Registry), "dev")))))
	shop := httptest.NewServer(mux)
	defer shop.Close()
	other := httptest.NewServer(mux)
	defer other.Close()

	admin := ingestv1connect.NewIngestAdminServiceClient(http.DefaultClient, s.URL(platform.Ingest),
		connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+adminToken)
				return next(ctx, req)
			}
		})))
	created, err := admin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: "dev", Description: "shop pages", Actor: "cors-test",
		Kind: ingestv1.ApiKeyKind_API_KEY_KIND_BROWSER, AllowedOrigins: []string{shop.URL}})
	if err != nil {
		t.Fatalf("create a browser key: %v", err)
	}
	browserKey := created.GetSecret()

	b := newBrowser(t, exe, shop.URL, t.TempDir())
	visit := func(base, key, run string) string {
		t.Helper()
		url := fmt.Sprintf("%s/#ingest=%s&key=%s&run=%s", base, s.URL(platform.Ingest), key, run)
		b.run("open "+run, chromedp.Navigate(url))
		// Poll by hand: a navigation to another origin replaces the page's
		// execution context, and an evaluation racing it fails with
		// "Cannot find context with specified id" — a reason to ask again,
		// not a verdict.
		var sent string
		for deadline := time.Now().Add(stepTimeout); sent == ""; time.Sleep(50 * time.Millisecond) {
			v, err := evaluate[string](b.ctx, `window.sent ?? ""`)
			if err == nil {
				sent = v
			} else if time.Now().After(deadline) {
				t.Fatalf("%s from %s: nothing sent within %s: %v", run, base, stepTimeout, err)
			}
			if sent == "" && time.Now().After(deadline) {
				t.Fatalf("%s from %s: nothing sent within %s", run, base, stepTimeout)
			}
		}
		t.Logf("%s from %s: %.300s", run, base, sent)
		return sent
	}
	onEvents := func(id string) bool {
		msg, err := s.Bus().JetStream().Stream(ctx, "EVENTS")
		if err != nil {
			t.Fatal(err)
		}
		_, err = msg.GetLastMsgForSubject(ctx, "events.dev.place_card_opened.v1")
		if err != nil {
			return false
		}
		c, err := msg.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"events.dev.place_card_opened.v1"}})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for m := range batch.Messages() {
			found = found || m.Headers().Get("Nats-Msg-Id") == id
		}
		return found
	}

	sent := visit(shop.URL, browserKey, "shop")
	if want := "verdicts: shop-fetch-1 EVENT_STATUS_ACCEPTED, shop-fetch-2 EVENT_STATUS_ACCEPTED"; sent != want {
		t.Errorf("the shop page with its browser key: %s, want %s", sent, want)
	}
	for _, id := range []string{"shop-fetch-1", "shop-fetch-2"} {
		if !onEvents(id) {
			t.Errorf("%s was ACCEPTED but is not on EVENTS", id)
		}
	}
	// Leaving the page fires pagehide: the sender's beacon reaches EVENTS.
	b.run("leave the shop page", chromedp.Navigate("about:blank"))
	deadline := time.Now().Add(15 * time.Second)
	for !onEvents("shop-beacon") {
		if time.Now().After(deadline) {
			t.Fatal("the event the sender handed to a beacon on pagehide is not on EVENTS")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Log("the beacon sent on pagehide is on EVENTS")

	// Refused by CORS: the page cannot read an answer, and fetch fails.
	if sent := visit(other.URL, browserKey, "other"); !strings.HasPrefix(sent, "refused: status none: ") {
		t.Errorf("the page from %s (not on the key's list): %s, want refused by CORS", other.URL, sent)
	}
	if sent := visit(shop.URL, s.IngestKey(), "server"); !strings.HasPrefix(sent, "refused: status 403: ") || !strings.Contains(sent, "server keys never pass CORS") {
		t.Errorf("the shop page with a server key: %s, want 403", sent)
	}
	// Back on the shop's origin: the shop page's beacon was the browser-key
	// form, the key in the query string and the batch a text/plain string.
	if got, err := evaluate[string](b.ctx, `localStorage.getItem("beacon") ?? ""`); err != nil || got != s.URL(platform.Ingest)+"/v1/events:batch?key=<key> string" {
		t.Errorf("the shop page's beacon went to %q (%v), want the batch endpoint with ?key=", got, err)
	}
	// Their beacons (on leaving) are refused too: the browser key's from an
	// origin not on its list, the server key's because only browser keys go
	// in the query string. The shop's beacon above took well under this.
	b.run("leave the server-key page", chromedp.Navigate("about:blank"))
	time.Sleep(2 * time.Second)
	for _, id := range []string{"other-fetch-1", "other-beacon", "server-fetch-1", "server-beacon"} {
		if onEvents(id) {
			t.Errorf("%s is on EVENTS though it was refused", id)
		}
	}
}

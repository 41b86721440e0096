package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// senderPage is a shop page: on load it sends one event to ingest (another
// origin) with fetch and the key in its URL, keeps the answer in
// window.sent, and on pagehide sends one more with a beacon.
const senderPage = `<!doctype html><title>shop</title><script>
const p = new URLSearchParams(location.hash.slice(1));
const ingest = p.get("ingest"), key = p.get("key"), run = p.get("run");
const event = (id) => ({events: [{idempotencyKey: id, json: {name: "clickstream.events.v1.PlaceCardOpenedV1",
  data: {context: {userId: "u-web"}, objectId: "cafe-1"}}}]});
window.sent = null;
fetch(ingest + "/v1/events:batch", {method: "POST", keepalive: true,
  headers: {"Content-Type": "application/json", "Authorization": "Bearer " + key},
  body: JSON.stringify(event(run + "-fetch"))})
  .then(async (r) => { window.sent = r.status + " " + await r.text(); })
  .catch((e) => { window.sent = "refused: " + e; });
addEventListener("pagehide", () => {
  navigator.sendBeacon(ingest + "/v1/events:batch?key=" + encodeURIComponent(key), JSON.stringify(event(run + "-beacon")));
});
</script>`

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

	page := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(senderPage))
	}
	shop := httptest.NewServer(http.HandlerFunc(page))
	defer shop.Close()
	other := httptest.NewServer(http.HandlerFunc(page))
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

	if sent := visit(shop.URL, browserKey, "shop"); !strings.HasPrefix(sent, "200 ") || !strings.Contains(sent, "EVENT_STATUS_ACCEPTED") {
		t.Errorf("the shop page with its browser key: %s, want 200 with the event ACCEPTED", sent)
	}
	// Leaving the page fires pagehide: its beacon reaches EVENTS.
	b.run("leave the shop page", chromedp.Navigate("about:blank"))
	deadline := time.Now().Add(15 * time.Second)
	for !onEvents("shop-beacon") {
		if time.Now().After(deadline) {
			t.Fatal("the beacon sent on pagehide is not on EVENTS")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Log("the beacon sent on pagehide is on EVENTS")

	if sent := visit(other.URL, browserKey, "other"); !strings.HasPrefix(sent, "refused") {
		t.Errorf("the page from %s (not on the key's list): %s, want refused by CORS", other.URL, sent)
	}
	if sent := visit(shop.URL, s.IngestKey(), "server"); !strings.HasPrefix(sent, "403 ") || !strings.Contains(sent, "server keys never pass CORS") {
		t.Errorf("the shop page with a server key: %s, want 403", sent)
	}
	for _, id := range []string{"other-fetch", "server-fetch"} {
		if onEvents(id) {
			t.Errorf("%s is on EVENTS though it was refused", id)
		}
	}
}

package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// parkedReason waits until the subscription is parked and returns why.
func (e *subsEnv) parkedReason(t *testing.T, name string) string {
	t.Helper()
	var sub *ingestv1.Subscription
	waitFor(t, func() bool {
		resp, err := e.client.GetSubscription(context.Background(), &ingestv1.GetSubscriptionRequest{Name: name})
		sub = resp.GetSubscription()
		return err == nil && sub.GetState() == ingestv1.SubscriptionState_SUBSCRIPTION_STATE_PARKED
	})
	return sub.GetParkedReason()
}

// A receiver answering 307 gets no second request, and the place it
// redirects to gets none: the subscription parks at once with the redirect
// as its reason.
func TestWebhookRedirectIsNotFollowed(t *testing.T) {
	var redirected, target atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { target.Add(1) }))
	defer elsewhere.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirected.Add(1)
		http.Redirect(w, r, elsewhere.URL+"/admin", http.StatusTemporaryRedirect)
	}))
	defer hook.Close()
	e := newSubsEnv(t, ingest.SubscriptionsConfig{})
	e.create(t, "redirects", ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_WEBHOOK, ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON,
		&ingestv1.Webhook{Url: hook.URL, MaxFailures: 5})
	e.sendMix(t, 0, 3)
	reason := e.parkedReason(t, "redirects")
	t.Logf("parked: %s; the receiver got %d requests, the redirect's target %d", reason, redirected.Load(), target.Load())
	if redirected.Load() != 1 || target.Load() != 0 {
		t.Errorf("the receiver got %d requests and its redirect's target %d; want 1 and 0", redirected.Load(), target.Load())
	}
	if !strings.Contains(reason, "307") || !strings.Contains(reason, "never follows redirects") || !strings.Contains(reason, elsewhere.URL) {
		t.Errorf("parked reason %q does not name the redirect", reason)
	}
}

// Without loopback allowed, as in production, a webhook on 127.0.0.1 is
// never connected to: the subscription parks with the reason.
func TestWebhookPrivateNetworkRefused(t *testing.T) {
	var got atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got.Add(1) }))
	defer hook.Close()
	e := newSubsEnvNetworks(t, ingest.SubscriptionsConfig{}, ingest.WebhookNetworks{})
	e.create(t, "private", ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_WEBHOOK, ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON,
		&ingestv1.Webhook{Url: hook.URL, MaxFailures: 5})
	e.sendMix(t, 0, 1)
	reason := e.parkedReason(t, "private")
	t.Logf("parked: %s; the receiver got %d requests", reason, got.Load())
	if got.Load() != 0 || !strings.Contains(reason, "127.0.0.1 is a private address") {
		t.Errorf("receiver got %d requests; parked reason %q; want none and the address named", got.Load(), reason)
	}
}

func TestWebhookNetworksCheck(t *testing.T) {
	p := netip.MustParsePrefix
	policy := ingest.WebhookNetworks{
		Allow: []netip.Prefix{p("10.1.0.0/16")},
		Deny:  []netip.Prefix{p("10.1.2.0/24"), p("203.0.113.0/24")},
	}
	for _, c := range []struct {
		ip   string
		want bool // allowed
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1::1", true},
		{"203.0.113.7", false},            // denied public range
		{"10.1.9.9", true},                // allowed private subnet
		{"10.1.2.3", false},               // denied inside the allowed one
		{"10.2.0.1", false},               // private
		{"127.0.0.1", false},              // loopback
		{"::1", false},                    // loopback
		{"169.254.169.254", false},        // cloud metadata
		{"::ffff:169.254.169.254", false}, // the same, IPv4-mapped
		{"192.168.1.1", false},
		{"172.31.0.1", false},
		{"100.64.0.1", false},
		{"fd00::1", false},
		{"fe80::1", false},
		{"0.0.0.0", false},
	} {
		err := policy.Check(netip.MustParseAddr(c.ip))
		if (err == nil) != c.want {
			t.Errorf("%s: %v, want allowed %v", c.ip, err, c.want)
		}
	}
}

package ingest_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// bearerTransport sends "Authorization: Bearer <token>" on every request
// (none for ""), over HTTP/1.1 and unencrypted HTTP/2 (for gRPC).
type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

func bearerClient(token string) *http.Client {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: bearerTransport{token: token, next: &http.Transport{Protocols: &p}}}
}

// tokenClients are the admin API as one caller sees it over Connect and
// gRPC.
type tokenClients struct {
	connect, grpc ingestv1connect.IngestAdminServiceClient
}

func clientsWith(url, token string) tokenClients {
	hc := bearerClient(token)
	return tokenClients{
		connect: ingestv1connect.NewIngestAdminServiceClient(hc, url),
		grpc:    ingestv1connect.NewIngestAdminServiceClient(hc, url, connect.WithGRPC()),
	}
}

// read subscribes to name with client until want events arrived, acks
// them all, and returns their ids.
func read(t *testing.T, client ingestv1connect.IngestAdminServiceClient, name string, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := client.Subscribe(ctx, &ingestv1.SubscribeRequest{Subscription: name})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var got []*ingestv1.SubscriptionEvent
	for len(got) < want && stream.Receive() {
		got = append(got, stream.Msg().GetEvents()...)
	}
	if len(got) < want {
		t.Fatalf("subscribe %s: the stream ended after %d events of %d: %v", name, len(got), want, stream.Err())
	}
	resp, err := client.AckEvents(ctx, &ingestv1.AckEventsRequest{Subscription: name, AckTokens: []string{got[len(got)-1].GetAckToken()}})
	if err != nil || resp.GetAcknowledged() != 1 {
		t.Fatalf("AckEvents %s: %v, %v", name, resp, err)
	}
	var ids []string
	for _, ev := range got {
		ids = append(ids, ev.GetId())
	}
	return ids
}

// subscribeErr is the error a Subscribe stream to name ends with.
func subscribeErr(client ingestv1connect.IngestAdminServiceClient, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := client.Subscribe(ctx, &ingestv1.SubscribeRequest{Subscription: name})
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
		return fmt.Errorf("subscribe %s: received %d events", name, len(stream.Msg().GetEvents()))
	}
	return stream.Err()
}

func wantRefused(t *testing.T, what string, err error, code connect.Code, mention string) {
	t.Helper()
	if connect.CodeOf(err) != code || !strings.Contains(err.Error(), mention) {
		t.Errorf("%s: error %v; want code %s mentioning %q", what, err, code, mention)
	}
}

// A pull subscription's own token reads and acks that subscription, over
// Connect, gRPC and REST, and nothing else; once rotated it stops working;
// the admin token keeps working for everything.
func TestSubscriptionTokens(t *testing.T) {
	e := newSubsEnv(t, ingest.SubscriptionsConfig{})
	url := serveIngest(t, ingest.Routes(ingest.RoutesConfig{AdminToken: adminToken}, e.svc, e.admin))
	admin := clientsWith(url, adminToken)
	ctx := context.Background()

	created := map[string]string{}
	for _, name := range []string{"team-a", "team-b"} {
		resp, err := admin.connect.CreateSubscription(ctx, &ingestv1.CreateSubscriptionRequest{Actor: "test", Subscription: &ingestv1.Subscription{
			Name: name, OwnerTeam: name, Environments: []string{"web"}, Events: []*ingestv1.SubscribedEvent{{Name: "PhotoStatusChanged"}},
			Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL, Format: ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(resp.GetSubscriptionToken(), "cs_") || len(resp.GetSubscriptionToken()) < 64 {
			t.Fatalf("CreateSubscription %s: token %q; want cs_<id>_<random>", name, resp.GetSubscriptionToken())
		}
		created[name] = resp.GetSubscriptionToken()
	}
	durable, err := admin.connect.CreateSubscription(ctx, &ingestv1.CreateSubscriptionRequest{Subscription: &ingestv1.Subscription{
		Name: "durable", OwnerTeam: "search", Events: []*ingestv1.SubscribedEvent{{Name: "PhotoStatusChanged"}},
		Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_DURABLE,
	}})
	if err != nil || durable.GetSubscriptionToken() != "" {
		t.Fatalf("durable subscription: token %q, %v; want none", durable.GetSubscriptionToken(), err)
	}
	teamA := clientsWith(url, created["team-a"])

	// Its own subscription, read and acked over Connect, then over gRPC
	// from right after the ack.
	e.sendMix(t, 0, 5)
	if got := read(t, teamA.connect, "team-a", 5); got[0] != "photo-0" || got[4] != "photo-4" {
		t.Errorf("team token over Connect read %v; want photo-0..photo-4", got)
	}
	e.sendMix(t, 5, 5)
	if got := read(t, teamA.grpc, "team-a", 5); got[0] != "photo-5" || got[4] != "photo-9" {
		t.Errorf("team token over gRPC read %v; want photo-5..photo-9", got)
	}
	// And over REST (AckEvents only).
	rest := func(token, method, path string) int {
		req, _ := http.NewRequest(method, url+path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := bearerClient(token).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := rest(created["team-a"], http.MethodPost, "/v1/admin/subscriptions/team-a:ack"); code != http.StatusOK {
		t.Errorf("REST ack of its own subscription: status %d; want 200", code)
	}

	// Another subscription: PermissionDenied naming it, on every protocol.
	for proto, c := range map[string]ingestv1connect.IngestAdminServiceClient{"connect": teamA.connect, "grpc": teamA.grpc} {
		wantRefused(t, proto+" Subscribe team-b", subscribeErr(c, "team-b"), connect.CodePermissionDenied, "team-b")
		_, err := c.AckEvents(ctx, &ingestv1.AckEventsRequest{Subscription: "team-b"})
		wantRefused(t, proto+" AckEvents team-b", err, connect.CodePermissionDenied, "team-b")
	}
	if code := rest(created["team-a"], http.MethodPost, "/v1/admin/subscriptions/team-b:ack"); code != http.StatusForbidden {
		t.Errorf("REST ack of another subscription: status %d; want 403", code)
	}

	// Every other admin RPC: PermissionDenied (the admin guard).
	for proto, c := range map[string]ingestv1connect.IngestAdminServiceClient{"connect": teamA.connect, "grpc": teamA.grpc} {
		_, err := c.ListSubscriptions(ctx, &ingestv1.ListSubscriptionsRequest{})
		wantRefused(t, proto+" ListSubscriptions", err, connect.CodePermissionDenied, "admin token")
		_, err = c.GetSubscription(ctx, &ingestv1.GetSubscriptionRequest{Name: "team-a"})
		wantRefused(t, proto+" GetSubscription", err, connect.CodePermissionDenied, "admin token")
		_, err = c.PauseSubscription(ctx, &ingestv1.PauseSubscriptionRequest{Name: "team-a"})
		wantRefused(t, proto+" PauseSubscription", err, connect.CodePermissionDenied, "admin token")
		_, err = c.RotateSubscriptionToken(ctx, &ingestv1.RotateSubscriptionTokenRequest{Name: "team-a"})
		wantRefused(t, proto+" RotateSubscriptionToken", err, connect.CodePermissionDenied, "admin token")
		_, err = c.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: "web"})
		wantRefused(t, proto+" CreateKey", err, connect.CodePermissionDenied, "admin token")
	}
	for _, path := range []string{"/v1/admin/subscriptions/team-a:pause", "/v1/admin/subscriptions/team-a:rotateToken", "/v1/admin/keys"} {
		if code := rest(created["team-a"], http.MethodPost, path); code != http.StatusForbidden {
			t.Errorf("REST POST %s with a team token: status %d; want 403", path, code)
		}
	}

	// No token, or one that is no subscription's: Unauthenticated.
	for token, c := range map[string]tokenClients{"none": clientsWith(url, ""), "unknown": clientsWith(url, "cs_000000000000_"+strings.Repeat("0", 64)), "other": clientsWith(url, "not-a-token")} {
		wantRefused(t, token+" token Subscribe", subscribeErr(c.grpc, "team-a"), connect.CodeUnauthenticated, "token")
		_, err := c.connect.AckEvents(ctx, &ingestv1.AckEventsRequest{Subscription: "team-a"})
		wantRefused(t, token+" token AckEvents", err, connect.CodeUnauthenticated, "token")
	}

	// Rotated: the old token stops working, the new one works.
	rotated, err := admin.grpc.RotateSubscriptionToken(ctx, &ingestv1.RotateSubscriptionTokenRequest{Name: "team-a", Actor: "test"})
	if err != nil || !strings.HasPrefix(rotated.GetSubscriptionToken(), "cs_") || rotated.GetSubscriptionToken() == created["team-a"] {
		t.Fatalf("RotateSubscriptionToken: %v, %v; want a new token", rotated, err)
	}
	wantRefused(t, "rotated-away token Subscribe", subscribeErr(teamA.connect, "team-a"), connect.CodeUnauthenticated, "rotat")
	_, err = teamA.grpc.AckEvents(ctx, &ingestv1.AckEventsRequest{Subscription: "team-a"})
	wantRefused(t, "rotated-away token AckEvents", err, connect.CodeUnauthenticated, "rotat")
	if code := rest(created["team-a"], http.MethodPost, "/v1/admin/subscriptions/team-a:ack"); code != http.StatusUnauthorized {
		t.Errorf("REST ack with a rotated-away token: status %d; want 401", code)
	}
	e.sendMix(t, 10, 3)
	if got := read(t, clientsWith(url, rotated.GetSubscriptionToken()).grpc, "team-a", 3); got[0] != "photo-10" {
		t.Errorf("the rotated token read %v; want photo-10..", got)
	}
	_, err = admin.connect.RotateSubscriptionToken(ctx, &ingestv1.RotateSubscriptionTokenRequest{Name: "durable"})
	wantRefused(t, "RotateSubscriptionToken of a durable subscription", err, connect.CodeFailedPrecondition, "pull")

	// The admin token still reads any subscription and calls every RPC.
	if got := read(t, admin.grpc, "team-b", 13); got[0] != "photo-0" || got[12] != "photo-12" {
		t.Errorf("the admin token read team-b %v; want photo-0..photo-12", got)
	}
	list, err := admin.connect.ListSubscriptions(ctx, &ingestv1.ListSubscriptionsRequest{})
	if err != nil || len(list.GetSubscriptions()) != 3 {
		t.Errorf("ListSubscriptions with the admin token: %v, %v", list, err)
	}
	if _, err := admin.grpc.PauseSubscription(ctx, &ingestv1.PauseSubscriptionRequest{Name: "team-a"}); err != nil {
		t.Errorf("PauseSubscription with the admin token: %v", err)
	}
	if code := rest(adminToken, http.MethodPost, "/v1/admin/subscriptions/team-b:ack"); code != http.StatusOK {
		t.Errorf("REST ack with the admin token: status %d; want 200", code)
	}
}

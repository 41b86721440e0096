package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/platform"
)

const subscriptionsToken = "subscriptions-cli-test"

// subscriptionTokenPattern finds a subscription token in output.
var subscriptionTokenPattern = regexp.MustCompile(`cs_[0-9a-f]+_[0-9a-f]{64}`)

// connectCode is the Connect code named in a CLI error, or "".
func connectCode(err error) string {
	for _, c := range []string{"unauthenticated", "permission_denied"} {
		if strings.Contains(err.Error(), c) {
			return c
		}
	}
	return ""
}

// runSubscriptions runs the CLI as the binary does.
func runSubscriptions(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		t.Logf("%v: %s", args, errOut.String())
	}
	return out.String(), err
}

// restCall does one REST request to ingest and returns the status and body.
func restCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSubscriptionsCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	s := startStack(t, platform.Config{Services: []string{platform.Registry, platform.Ingest}, AdminToken: subscriptionsToken})
	url := s.URL(platform.Ingest)
	t.Setenv("CLICKSTREAM_INGEST", url)
	t.Setenv("CLICKSTREAM_ADMIN_TOKEN", subscriptionsToken)

	out, err := runSubscriptions(t, "subscriptions", "create", "photos", "--team", "moderation", "--event", "PhotoStatusChanged:2", "--env", "dev")
	if err != nil || !strings.Contains(out, "events.dev.photo_status_changed.v2") || !strings.Contains(out, "subscription-photos") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	// The subscription's own token, printed once.
	token := subscriptionTokenPattern.FindString(out)
	if token == "" {
		t.Fatalf("create printed no subscription token:\n%s", out)
	}
	if _, err := runSubscriptions(t, "subscriptions", "create", "bad", "--team", "t", "--event", "NoSuchEvent"); err == nil || !strings.Contains(err.Error(), "not a registered event") {
		t.Errorf("create with an unknown event: %v", err)
	}

	// Two PhotoStatusChanged and an ItemView from the dev environment.
	batch := `{"events":[
{"idempotencyKey":"p-1","json":{"name":"clickstream.events.v1.PhotoStatusChangedV2","data":{"context":{"userId":"u-1"},"photoId":"ph-1","objectId":"o-1","status":"CONTENT_STATUS_ACTIVE"}}},
{"idempotencyKey":"v-1","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"userId":"u-1"},"itemId":"7"}}},
{"idempotencyKey":"p-2","json":{"name":"clickstream.events.v1.PhotoStatusChangedV2","data":{"context":{"userId":"u-2"},"photoId":"ph-2","objectId":"o-1","status":"CONTENT_STATUS_BLOCKED"}}}]}`
	if code, body := restCall(t, http.MethodPost, url+"/v1/events:batch", s.IngestKey(), batch); code != http.StatusOK || !strings.Contains(body, `"accepted":3`) {
		t.Fatalf("send: %d %s", code, body)
	}

	out, err = runSubscriptions(t, "subscriptions", "list")
	if err != nil || !strings.Contains(out, "photos") || !strings.Contains(out, "PhotoStatusChanged:2") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	t.Logf("list:\n%s", out)
	// The REST gateway serves the unary admin RPCs: the lag is 2.
	code, body := restCall(t, http.MethodGet, url+"/v1/admin/subscriptions/photos", subscriptionsToken, "")
	var got struct {
		Subscription struct {
			State string
			Lag   struct{ Pending string }
		}
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Subscription.Lag.Pending != "2" {
		t.Fatalf("GET /v1/admin/subscriptions/photos: %d %s", code, body)
	}

	if code, body := restCall(t, http.MethodGet, url+"/metrics", subscriptionsToken, ""); code != http.StatusOK || !strings.Contains(body, `clickstream_ingest_subscription_lag{subscription="photos"} 2`) {
		t.Errorf("/metrics: %d, no lag of 2 for photos", code)
	}

	// tail with the subscription's token alone: without it (and with no
	// admin token) it is refused, with a wrong one too.
	t.Setenv("CLICKSTREAM_ADMIN_TOKEN", "")
	t.Setenv("CLICKSTREAM_SUBSCRIPTION_TOKEN", "")
	if _, err := runSubscriptions(t, "subscriptions", "tail", "photos", "--max", "2"); err == nil {
		t.Fatal("tail without a token: no error")
	}
	if _, err := runSubscriptions(t, "subscriptions", "tail", "photos", "--max", "2", "--token", token+"0"); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Fatalf("tail with a wrong token: %v; want an error naming --token", err)
	}
	t.Setenv("CLICKSTREAM_SUBSCRIPTION_TOKEN", token)
	out, err = runSubscriptions(t, "subscriptions", "tail", "photos", "--max", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 {
		t.Fatalf("tail: %v\n%s", err, out)
	}
	for i, line := range lines {
		var doc struct {
			Environment string
			Payload     struct{ PhotoID string }
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil || doc.Environment != "dev" || doc.Payload.PhotoID != []string{"ph-1", "ph-2"}[i] {
			t.Fatalf("tail line %d: %v\n%s", i, err, line)
		}
	}
	t.Logf("tail:\n%s", out)
	// It reads only its own subscription and calls no other admin RPC.
	if code, _ := restCall(t, http.MethodGet, url+"/v1/admin/subscriptions/photos", token, ""); code != http.StatusForbidden {
		t.Errorf("GET a subscription with its token: %d; want 403", code)
	}
	t.Setenv("CLICKSTREAM_ADMIN_TOKEN", subscriptionsToken)

	// Rotated: the old token is refused, the new one reads.
	out, err = runSubscriptions(t, "subscriptions", "rotate-token", "photos")
	rotated := subscriptionTokenPattern.FindString(out)
	if err != nil || rotated == "" || rotated == token {
		t.Fatalf("rotate-token: %v\n%s", err, out)
	}
	if _, err := runSubscriptions(t, "subscriptions", "tail", "photos", "--max", "1", "--token", token); err == nil || connectCode(err) != "unauthenticated" {
		t.Errorf("tail with the rotated-away token: %v; want unauthenticated", err)
	}
	if code, _ := restCall(t, http.MethodPost, url+"/v1/admin/subscriptions/photos:ack", rotated, "{}"); code != http.StatusOK {
		t.Errorf("REST ack with the new token: %d", code)
	}

	// Acknowledged by tail: nothing left.
	code, body = restCall(t, http.MethodGet, url+"/v1/admin/subscriptions/photos", subscriptionsToken, "")
	got.Subscription.Lag.Pending = ""
	if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Subscription.Lag.Pending != "0" {
		t.Errorf("after tail: %d %s", code, body)
	}
	if code, body := restCall(t, http.MethodPost, url+"/v1/admin/subscriptions/photos:pause", subscriptionsToken, "{}"); code != http.StatusOK || !strings.Contains(body, "SUBSCRIPTION_STATE_PAUSED") {
		t.Errorf("REST pause: %d %s", code, body)
	}
	if code, _ := restCall(t, http.MethodGet, url+"/v1/admin/subscriptions/photos", "wrong", ""); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Errorf("without the admin token: %d", code)
	}
	if out, err := runSubscriptions(t, "subscriptions", "delete", "photos"); err != nil || !strings.Contains(out, "deleted") {
		t.Errorf("delete: %v %s", err, out)
	}
	if code, _ := restCall(t, http.MethodGet, url+"/v1/admin/subscriptions/photos", subscriptionsToken, ""); code != http.StatusNotFound {
		t.Errorf("GET a deleted subscription: %d", code)
	}
}

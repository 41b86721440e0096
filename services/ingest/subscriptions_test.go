package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

func TestSubscriptionFilterSubjects(t *testing.T) {
	for _, tc := range []struct {
		name string
		sub  ingest.Subscription
		want []string
	}{
		{"every version, one environment",
			ingest.Subscription{Events: []ingest.SubscribedEvent{{Name: "PhotoStatusChanged"}}, Environments: []string{"web"}},
			[]string{"events.web.photo_status_changed.*"}},
		{"versions in two environments",
			ingest.Subscription{Events: []ingest.SubscribedEvent{{Name: "PhotoStatusChanged", Versions: []uint32{1, 2}}}, Environments: []string{"web", "ios"}},
			[]string{"events.ios.photo_status_changed.v1", "events.ios.photo_status_changed.v2", "events.web.photo_status_changed.v1", "events.web.photo_status_changed.v2"}},
		{"every environment",
			ingest.Subscription{Events: []ingest.SubscribedEvent{{Name: "ItemView", Versions: []uint32{2}}, {Name: "PhotoStatusChanged"}}},
			[]string{"events.*.item_view.v2", "events.*.photo_status_changed.*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.sub.FilterSubjects()
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("FilterSubjects = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// subsEnv is ingest with subscriptions on a real bus (listening for network
// clients) and PostgreSQL, its admin API served over Connect.
type subsEnv struct {
	svc    *ingest.Service
	bus    *bus.Bus
	subs   *ingest.Subscriptions
	client ingestv1connect.IngestAdminServiceClient
	store  *ingest.PostgresStore
	admin  *ingest.AdminService
}

// newSubsEnv delivers webhooks to loopback (the tests' receivers), as
// `clickstream dev` does.
func newSubsEnv(t testing.TB, cfg ingest.SubscriptionsConfig) *subsEnv {
	t.Helper()
	return newSubsEnvNetworks(t, cfg, ingest.WebhookNetworks{Allow: ingest.LoopbackNetworks})
}

func newSubsEnvNetworks(t testing.TB, cfg ingest.SubscriptionsConfig, networks ingest.WebhookNetworks) *subsEnv {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	pool, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := ingest.NewPostgresStore(pool)
	svc := ingest.New(ingest.Config{Environment: "web", WebhookNetworks: networks}, realCatalogue(t), b)
	if cfg.Poll == 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	if cfg.WebhookBackoff == 0 {
		cfg.WebhookBackoff = 10 * time.Millisecond
	}
	subs := ingest.NewSubscriptions(svc, store, b.JetStream(), b.Conn(), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = subs.Run(ctx) }()
	admin := ingest.NewAdmin(svc)
	admin.SetSubscriptions(subs)
	mux := http.NewServeMux()
	ingest.Routes(ingest.RoutesConfig{}, svc, admin).Connect(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return &subsEnv{svc: svc, bus: b, subs: subs, store: store, admin: admin,
		client: ingestv1connect.NewIngestAdminServiceClient(srv.Client(), srv.URL)}
}

// create creates a subscription to PhotoStatusChanged in environment web.
func (e *subsEnv) create(t testing.TB, name string, delivery ingestv1.SubscriptionDelivery, format ingestv1.SubscriptionFormat, webhook *ingestv1.Webhook) *ingestv1.CreateSubscriptionResponse {
	t.Helper()
	resp, err := e.client.CreateSubscription(context.Background(), &ingestv1.CreateSubscriptionRequest{Actor: "test", Subscription: &ingestv1.Subscription{
		Name: name, OwnerTeam: "moderation", Environments: []string{"web"},
		Events:   []*ingestv1.SubscribedEvent{{Name: "PhotoStatusChanged"}},
		Delivery: delivery, Format: format, Webhook: webhook,
	}})
	if err != nil {
		t.Fatalf("CreateSubscription %s: %v", name, err)
	}
	return resp
}

// sendMix sends n PhotoStatusChanged from web (ids photo-<i>), and as noise
// an ItemView from web and a PhotoStatusChanged from ios after each.
func (e *subsEnv) sendMix(t testing.TB, from, n int) {
	t.Helper()
	for i := from; i < from+n; i += 100 {
		var web, ios []*ingestv1.Event
		for j := i; j < min(i+100, from+n); j++ {
			p := photoStatus()
			p.PhotoId = fmt.Sprintf("photo-%d", j)
			web = append(web, typed(t, fmt.Sprintf("photo-%d", j), p), typed(t, fmt.Sprintf("view-%d", j), itemView()))
			ios = append(ios, typed(t, fmt.Sprintf("ios-photo-%d", j), p))
		}
		for env, events := range map[string][]*ingestv1.Event{"web": web, "ios": ios} {
			resp, err := e.svc.SendBatch(ingest.WithCaller(context.Background(), ingest.Caller{Environment: env}), &ingestv1.SendBatchRequest{Events: events})
			if err != nil || resp.GetAccepted() != int32(len(events)) {
				t.Fatalf("send to %s: %v (%v)", env, err, resp)
			}
		}
	}
}

// pulled reads events from a Subscribe stream until want arrived, acking
// the first ack of them; it returns their ids and closes the stream.
func (e *subsEnv) pulled(t *testing.T, name string, want, ack int) []*ingestv1.SubscriptionEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := e.client.Subscribe(ctx, &ingestv1.SubscribeRequest{Subscription: name, MaxBatch: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var got []*ingestv1.SubscriptionEvent
	for len(got) < want && stream.Receive() {
		got = append(got, stream.Msg().GetEvents()...)
	}
	if len(got) < want {
		t.Fatalf("the stream ended after %d events of %d: %v", len(got), want, stream.Err())
	}
	var tokens []string
	for _, ev := range got[:ack] {
		tokens = append(tokens, ev.GetAckToken())
	}
	if len(tokens) > 0 {
		if _, err := e.client.AckEvents(ctx, &ingestv1.AckEventsRequest{Subscription: name, AckTokens: tokens}); err != nil {
			t.Fatalf("AckEvents: %v", err)
		}
	}
	return got
}

// quiet waits until no stream of the subscription waits for events.
func (e *subsEnv) quiet(t testing.TB, name string) {
	t.Helper()
	waitFor(t, func() bool {
		c, err := e.bus.JetStream().Consumer(context.Background(), "EVENTS", ingest.ConsumerPrefix+name)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumWaiting == 0
	})
}

func TestSubscriptionPullDeliversExactlyTheChosenEvents(t *testing.T) {
	e := newSubsEnv(t, ingest.SubscriptionsConfig{})
	created := e.create(t, "photos-web", ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL, ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON, nil)
	if got := created.GetSubscription().GetFilterSubjects(); !slices.Equal(got, []string{"events.web.photo_status_changed.*"}) {
		t.Errorf("filter subjects %v", got)
	}
	e.sendMix(t, 0, 20)
	got := e.pulled(t, "photos-web", 20, 20)
	for i, ev := range got {
		if ev.GetEventName() != "clickstream.events.v1.PhotoStatusChangedV2" || ev.GetEnvironment() != "web" || ev.GetId() != fmt.Sprintf("photo-%d", i) {
			t.Fatalf("event %d: %s %s %s; want photo-%d, PhotoStatusChangedV2 from web", i, ev.GetId(), ev.GetEventName(), ev.GetEnvironment(), i)
		}
		var doc struct {
			ID          string `json:"id"`
			Environment string `json:"environment"`
			Payload     struct {
				PhotoID string `json:"photoId"`
				Status  string `json:"status"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(ev.GetJson()), &doc); err != nil || doc.ID != ev.GetId() || doc.Payload.PhotoID != ev.GetId() || doc.Payload.Status != "CONTENT_STATUS_ACTIVE" {
			t.Fatalf("event %d JSON %s (%v)", i, ev.GetJson(), err)
		}
	}
	// Acknowledged: nothing pending.
	sub, err := e.client.GetSubscription(context.Background(), &ingestv1.GetSubscriptionRequest{Name: "photos-web"})
	if err != nil {
		t.Fatal(err)
	}
	if lag := sub.GetSubscription().GetLag(); lag.GetPending() != 0 || lag.GetAckPending() != 0 {
		t.Errorf("lag after acking all: %v", lag)
	}
	// The lag of events sent since shows in the API and the metric (once
	// the closed stream's last fetch expired, which would take them).
	e.quiet(t, "photos-web")
	e.sendMix(t, 20, 5)
	sub, err = e.client.GetSubscription(context.Background(), &ingestv1.GetSubscriptionRequest{Name: "photos-web"})
	if err != nil || sub.GetSubscription().GetLag().GetPending() != 5 {
		t.Errorf("lag with 5 new events: %v, %v", sub.GetSubscription().GetLag(), err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.subs)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		if f.GetName() != "clickstream_ingest_subscription_lag" {
			continue
		}
		for _, m := range f.GetMetric() {
			found = len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "photos-web" && m.GetGauge().GetValue() == 5
		}
	}
	if !found {
		t.Errorf("no clickstream_ingest_subscription_lag{subscription=\"photos-web\"} 5 in %v", families)
	}
}

func TestSubscriptionPullResumesAfterTheLastAck(t *testing.T) {
	e := newSubsEnv(t, ingest.SubscriptionsConfig{})
	e.create(t, "resume", ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL, ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_BINARY, nil)
	e.sendMix(t, 0, 300)
	var ids []string
	// Three subscribers in turn, each reading past what it acknowledges
	// before it goes away.
	for _, step := range []struct{ read, ack int }{{50, 30}, {100, 100}, {170, 170}} {
		got := e.pulled(t, "resume", step.read, step.ack)
		for _, ev := range got[:step.ack] {
			rec := &busv1.EventRecord{}
			if err := proto.Unmarshal(ev.GetRecord(), rec); err != nil || rec.GetId() != ev.GetId() {
				t.Fatalf("binary record of %s: %v", ev.GetId(), err)
			}
			ids = append(ids, ev.GetId())
		}
		t.Logf("read %d, acknowledged %d; the first %s (delivered %d times)", len(got), step.ack, got[0].GetId(), got[0].GetDeliveryCount())
	}
	if len(ids) != 300 {
		t.Fatalf("acknowledged %d events, want 300", len(ids))
	}
	for i, id := range ids {
		if id != fmt.Sprintf("photo-%d", i) {
			t.Fatalf("event %d is %s: a gap or a repeat (want photo-%d)", i, id, i)
		}
	}
}

func TestSubscriptionWebhookRetriesAndDeliversEachEventOnce(t *testing.T) {
	var (
		mu       sync.Mutex
		taken    = map[string]int{}
		failures int
		secret   string
		bad      []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !ingest.VerifyWebhookSignature(secret, r.Header.Get(ingest.WebhookTimestampHeader), body, r.Header.Get(ingest.WebhookSignatureHeader)) {
			bad = append(bad, "bad signature")
		}
		if failures < 2 {
			failures++
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var doc struct {
			ID, EventName, Environment string
		}
		if err := json.Unmarshal(body, &doc); err != nil || r.Header.Get("Content-Type") != "application/json" {
			bad = append(bad, fmt.Sprintf("body %s: %v", body, err))
		}
		if doc.EventName != "clickstream.events.v1.PhotoStatusChangedV2" || doc.Environment != "web" || doc.ID != r.Header.Get(ingest.WebhookEventHeader) {
			bad = append(bad, fmt.Sprintf("event %s %s %s", doc.ID, doc.EventName, doc.Environment))
		}
		taken[doc.ID]++
	}))
	defer hook.Close()
	e := newSubsEnv(t, ingest.SubscriptionsConfig{})
	mu.Lock()
	secret = e.create(t, "hook", ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_WEBHOOK, ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON,
		&ingestv1.Webhook{Url: hook.URL, MaxFailures: 5}).GetWebhookSecret()
	mu.Unlock()
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("webhook secret %q", secret)
	}
	e.sendMix(t, 0, 30)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(taken) == 30 })
	time.Sleep(200 * time.Millisecond) // a repeat would come now
	mu.Lock()
	defer mu.Unlock()
	if failures != 2 || len(bad) > 0 {
		t.Errorf("failures %d; problems %v", failures, bad)
	}
	for i := range 30 {
		if n := taken[fmt.Sprintf("photo-%d", i)]; n != 1 {
			t.Errorf("photo-%d taken %d times, want once", i, n)
		}
	}
}

func TestSubscriptionWebhookParksAndResumes(t *testing.T) {
	var (
		mu    sync.Mutex
		up    bool
		taken []string
		tries int
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		tries++
		if !up {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want protobuf", http.StatusBadRequest)
			return
		}
		taken = append(taken, r.Header.Get(ingest.WebhookEventHeader))
	}))
	defer hook.Close()
	e := newSubsEnv(t, ingest.SubscriptionsConfig{})
	e.create(t, "parks", ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_WEBHOOK, ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_BINARY,
		&ingestv1.Webhook{Url: hook.URL, MaxFailures: 3})
	e.sendMix(t, 0, 3)
	var sub *ingestv1.Subscription
	waitFor(t, func() bool {
		resp, err := e.client.GetSubscription(context.Background(), &ingestv1.GetSubscriptionRequest{Name: "parks"})
		sub = resp.GetSubscription()
		return err == nil && sub.GetState() == ingestv1.SubscriptionState_SUBSCRIPTION_STATE_PARKED
	})
	mu.Lock()
	if tries != 3 || !strings.Contains(sub.GetParkedReason(), "500") {
		t.Errorf("parked after %d tries with reason %q; want 3 tries, the status in the reason", tries, sub.GetParkedReason())
	}
	up = true
	mu.Unlock()
	if _, err := e.client.ResumeSubscription(context.Background(), &ingestv1.ResumeSubscriptionRequest{Name: "parks"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(taken) == 3 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(taken, []string{"photo-0", "photo-1", "photo-2"}) {
		t.Errorf("after resuming the webhook took %v", taken)
	}
}

func TestSubscriptionDurableConsumerReadWithNATS(t *testing.T) {
	e := newSubsEnv(t, ingest.SubscriptionsConfig{})
	resp := e.create(t, "plain", ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_DURABLE, ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_UNSPECIFIED, nil)
	if resp.GetSubscription().GetFormat() != ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_BINARY {
		t.Errorf("a durable subscription's format is %s", resp.GetSubscription().GetFormat())
	}
	e.sendMix(t, 0, 25)

	// The team's own client: nats.go over the network, by consumer name.
	nc, err := nats.Connect(e.bus.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, "EVENTS", resp.GetSubscription().GetConsumer())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for len(ids) < 25 {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			rec := &busv1.EventRecord{}
			if err := proto.Unmarshal(msg.Data(), rec); err != nil {
				t.Fatal(err)
			}
			if rec.GetEnvironment() != "web" || rec.GetEventName() != "clickstream.events.v1.PhotoStatusChangedV2" {
				t.Fatalf("the consumer carried %s from %s", rec.GetEventName(), rec.GetEnvironment())
			}
			ids = append(ids, rec.GetId())
			_ = msg.Ack()
		}
	}
	for i, id := range ids {
		if id != fmt.Sprintf("photo-%d", i) {
			t.Fatalf("event %d is %s", i, id)
		}
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	e := newSubsEnv(t, ingest.SubscriptionsConfig{})
	ctx := context.Background()
	e.create(t, "life", ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL, ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON, nil)

	_, err := e.client.CreateSubscription(ctx, &ingestv1.CreateSubscriptionRequest{Subscription: &ingestv1.Subscription{
		Name: "life", OwnerTeam: "t", Events: []*ingestv1.SubscribedEvent{{Name: "ItemView"}}, Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL}})
	wantCode(t, err, connect.CodeAlreadyExists)
	for _, bad := range []*ingestv1.Subscription{
		{Name: "x", OwnerTeam: "t", Events: []*ingestv1.SubscribedEvent{{Name: "NoSuchEvent"}}, Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL},
		{Name: "x", OwnerTeam: "t", Events: []*ingestv1.SubscribedEvent{{Name: "ItemView", Versions: []uint32{99}}}, Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL},
		{Name: "x.y", OwnerTeam: "t", Events: []*ingestv1.SubscribedEvent{{Name: "ItemView"}}, Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL},
		{Name: "x", Events: []*ingestv1.SubscribedEvent{{Name: "ItemView"}}, Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL},
		{Name: "x", OwnerTeam: "t", Events: []*ingestv1.SubscribedEvent{{Name: "ItemView"}}},
		{Name: "x", OwnerTeam: "t", Events: []*ingestv1.SubscribedEvent{{Name: "ItemView"}}, Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_WEBHOOK, Webhook: &ingestv1.Webhook{Url: "ftp://x"}},
		{Name: "x", OwnerTeam: "t", Events: []*ingestv1.SubscribedEvent{{Name: "ItemView"}}, Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_DURABLE, Format: ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON},
		{Name: "x", OwnerTeam: "t", Events: []*ingestv1.SubscribedEvent{{Name: "ItemView"}}, Environments: []string{"a.b"}, Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL},
	} {
		_, err := e.client.CreateSubscription(ctx, &ingestv1.CreateSubscriptionRequest{Subscription: bad})
		wantCode(t, err, connect.CodeInvalidArgument)
		t.Logf("%v", err)
	}

	_, err = e.client.AckEvents(ctx, &ingestv1.AckEventsRequest{Subscription: "life", AckTokens: []string{"$JS.ACK.EVENTS.subscription-other.1.5.5.1.0"}})
	wantCode(t, err, connect.CodeInvalidArgument)

	if _, err := e.client.PauseSubscription(ctx, &ingestv1.PauseSubscriptionRequest{Name: "life"}); err != nil {
		t.Fatal(err)
	}
	stream, err := e.client.Subscribe(ctx, &ingestv1.SubscribeRequest{Subscription: "life"})
	if err == nil {
		stream.Receive()
		err = stream.Err()
		stream.Close()
	}
	wantCode(t, err, connect.CodeFailedPrecondition)
	list, err := e.client.ListSubscriptions(ctx, &ingestv1.ListSubscriptionsRequest{OwnerTeam: "moderation"})
	if err != nil || len(list.GetSubscriptions()) != 1 || list.GetSubscriptions()[0].GetState() != ingestv1.SubscriptionState_SUBSCRIPTION_STATE_PAUSED {
		t.Fatalf("list: %v, %v", list, err)
	}
	if _, err := e.client.ResumeSubscription(ctx, &ingestv1.ResumeSubscriptionRequest{Name: "life"}); err != nil {
		t.Fatal(err)
	}
	e.sendMix(t, 0, 3)
	if got := e.pulled(t, "life", 3, 3); len(got) != 3 {
		t.Fatalf("after resuming: %d events", len(got))
	}
	if _, err := e.client.DeleteSubscription(ctx, &ingestv1.DeleteSubscriptionRequest{Name: "life"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetSubscription(ctx, &ingestv1.GetSubscriptionRequest{Name: "life"})
	wantCode(t, err, connect.CodeNotFound)
	if _, err := e.bus.JetStream().Consumer(ctx, "EVENTS", ingest.ConsumerPrefix+"life"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("the consumer outlived its subscription: %v", err)
	}
	_, err = e.client.AckEvents(ctx, &ingestv1.AckEventsRequest{Subscription: "life"})
	wantCode(t, err, connect.CodeNotFound)
}

func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if connect.CodeOf(err) != code {
		t.Errorf("error %v; want code %s", err, code)
	}
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

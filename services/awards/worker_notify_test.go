package awards_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/awards"
)

const webhookSecret = "test-webhook-secret"

// webhookReceiver is a webhook endpoint that records what it receives.
type webhookReceiver struct {
	*httptest.Server
	t *testing.T

	mu        sync.Mutex
	failFirst int                // answer 503 to this many requests first
	failAll   bool               // answer 500 to every request
	onOK      func(accepted int) // called after each 2xx with the count so far
	requests  int                // every request
	accepted  map[string]int     // 2xx answers per notification id
	attempts  map[string]int     // requests per notification id
	messages  map[string]awards.NotificationMessage
	problems  []string // bad signatures, ids that disagree
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	w := &webhookReceiver{t: t, accepted: map[string]int{}, attempts: map[string]int{}, messages: map[string]awards.NotificationMessage{}}
	w.Server = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.Close)
	return w
}

func (w *webhookReceiver) serve(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests++
	id := r.Header.Get(awards.HeaderNotificationID)
	w.attempts[id]++
	if err := awards.VerifyWebhookSignature([]byte(webhookSecret), r.Header, body, time.Now(), 5*time.Minute); err != nil {
		w.problems = append(w.problems, "notification "+id+": "+err.Error())
	}
	var msg awards.NotificationMessage
	if err := json.Unmarshal(body, &msg); err != nil || strconv.FormatInt(msg.ID, 10) != id {
		w.problems = append(w.problems, "notification "+id+": body "+string(body))
	}
	if w.failAll || w.requests <= w.failFirst {
		http.Error(rw, "receiver unavailable", http.StatusServiceUnavailable)
		return
	}
	w.accepted[id]++
	w.messages[id] = msg
	if w.onOK != nil {
		n := 0
		for _, c := range w.accepted {
			n += c
		}
		w.onOK(n)
	}
}

// snapshot returns copies of the receiver's counts.
func (w *webhookReceiver) snapshot() (requests int, accepted, attempts map[string]int, problems []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.requests, maps.Clone(w.accepted), maps.Clone(w.attempts), slices.Clone(w.problems)
}

// runNotifier runs n until the returned stop is called (or the test ends);
// stop waits for Run to return.
func runNotifier(t *testing.T, n *awards.Notifier) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("notifier: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// grantNavigators makes every user complete navigator-10km: one "granted"
// outbox row each (besides the starter achievements' announcements).
func grantNavigators(t *testing.T, env *engineEnv, users ...string) {
	t.Helper()
	var recs []*busv1.EventRecord
	for _, u := range users {
		recs = append(recs, tripRecord(u, "trip-"+u, 10_000))
	}
	env.apply(t, recs...)
}

// outboxIDs lists the outbox ids (as the strings the channels carry).
func outboxIDs(t *testing.T, env *engineEnv, where string) []string {
	t.Helper()
	rows, err := env.pool.Query(t.Context(), `SELECT id::text FROM awards.outbox WHERE `+where+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// allFinished reports whether no outbox row waits for a delivery.
func allFinished(t *testing.T, env *engineEnv) bool {
	return count(t, env.pool, `SELECT count(*) FROM awards.outbox WHERE delivered_at IS NULL`) == 0
}

// awardsStream returns the AWARDS stream's messages per Nats-Msg-Id, and
// their subjects.
func awardsStream(t *testing.T, b *bus.Bus) (perID map[string]int, subjects map[string]string) {
	t.Helper()
	stream, err := b.JetStream().Stream(t.Context(), bus.StreamAwards)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	perID, subjects = map[string]int{}, map[string]string{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		id := m.Header.Get("Nats-Msg-Id")
		perID[id]++
		subjects[id] = m.Subject
	}
	return perID, subjects
}

func fastNotifier(cfg awards.NotifierConfig) awards.NotifierConfig {
	cfg.WebhookSecret = webhookSecret
	cfg.InitialBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	cfg.Interval = 5 * time.Millisecond
	cfg.Logger = quiet
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	return cfg
}

// TestNotifierDeliversEachNotificationOnce: a webhook that fails the first
// two requests receives every notification exactly once with a valid
// signature, and the AWARDS stream holds each once, under
// awards.<kind>.<achievement>.
func TestNotifierDeliversEachNotificationOnce(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	grantNavigators(t, env, "u1", "u2", "u3")
	// A revocable achievement granted and revoked: photos-and-reviews
	// needs 5 photos and 5 reviews; a blocked photo takes it back.
	var recs []*busv1.EventRecord
	for i := range 5 {
		n := strconv.Itoa(i)
		recs = append(recs, photoRecord("u4", "p"+n, active), reviewRecord("u4", "r"+n, "place-"+n, active, 20))
	}
	env.apply(t, recs...)
	env.apply(t, photoRecord("u4", "p0", blocked))
	ids := outboxIDs(t, env, "true")
	if n := count(t, env.pool, `SELECT count(DISTINCT kind) FROM awards.outbox`); n != 3 {
		t.Fatalf("the outbox holds %d kinds, want granted, revoked and announced", n)
	}

	hook := newWebhookReceiver(t)
	hook.failFirst = 2
	n := awards.NewNotifier(env.store, fastNotifier(awards.NotifierConfig{WebhookURL: hook.URL, JetStream: b.JetStream(), Batch: 4}))
	if got := n.Channels(); !slices.Equal(got, []string{awards.ChannelWebhook, awards.ChannelBus}) {
		t.Fatalf("channels = %v", got)
	}
	stop := runNotifier(t, n)
	waitFor(t, func() bool { return allFinished(t, env) })
	stop()

	requests, accepted, _, problems := hook.snapshot()
	for _, p := range problems {
		t.Error(p)
	}
	for _, id := range ids {
		if accepted[id] != 1 {
			t.Errorf("notification %s was accepted by the webhook %d times, want once", id, accepted[id])
		}
	}
	if len(accepted) != len(ids) || requests != len(ids)+2 {
		t.Errorf("webhook: %d requests for %d notifications (%d accepted), want one each plus the 2 refused", requests, len(ids), len(accepted))
	}
	hook.mu.Lock()
	for _, id := range ids {
		msg := hook.messages[id]
		var kind, user, achievement string
		if err := env.pool.QueryRow(t.Context(), `SELECT kind, user_id, achievement_id FROM awards.outbox WHERE id = $1::int8`, id).Scan(&kind, &user, &achievement); err != nil {
			t.Fatal(err)
		}
		if msg.Kind != kind || msg.UserID != user || msg.AchievementID != achievement || msg.CreatedAt.IsZero() {
			t.Errorf("notification %s body = %+v, want %s %s %s", id, msg, kind, user, achievement)
		}
	}
	hook.mu.Unlock()

	perID, subjects := awardsStream(t, b)
	if len(perID) != len(ids) {
		t.Errorf("the AWARDS stream holds %d notifications, want %d", len(perID), len(ids))
	}
	for _, id := range ids {
		if perID[id] != 1 {
			t.Errorf("notification %s is %d times on the AWARDS stream, want once", id, perID[id])
		}
	}
	for id, subject := range subjects {
		var want string
		if err := env.pool.QueryRow(t.Context(), `SELECT 'awards.' || kind || '.' || achievement_id FROM awards.outbox WHERE id = $1::int8`, id).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if subject != want {
			t.Errorf("notification %s on subject %s, want %s", id, subject, want)
		}
	}
	// Every bus delivery took one attempt; the webhook's took one more
	// for each refused request.
	if n := count(t, env.pool, `SELECT coalesce(sum(attempts), 0) FROM awards.deliveries WHERE channel = 'bus'`); n != len(ids) {
		t.Errorf("bus attempts = %d, want %d", n, len(ids))
	}
	if n := count(t, env.pool, `SELECT coalesce(sum(attempts), 0) FROM awards.deliveries WHERE channel = 'webhook'`); n != len(ids)+2 {
		t.Errorf("webhook attempts = %d, want %d", n, len(ids)+2)
	}

	listed, err := env.store.ListNotifications(t.Context(), awards.NotificationFilter{State: awards.DeliveryDelivered})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(ids) {
		t.Fatalf("%d delivered notifications listed, want %d", len(listed), len(ids))
	}
	retried := 0
	for _, l := range listed {
		if l.DeliveredAt == nil || l.State != awards.DeliveryDelivered || l.LastError != "" {
			t.Errorf("listed %+v, want delivered with a time and no error", l)
		}
		if l.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no listed notification shows the retried attempts")
	}
	for _, ch := range []string{awards.ChannelWebhook, awards.ChannelBus} {
		if got := counterValue(t, n, "clickstream_awards_notifications_delivered_total", ch); got != float64(len(ids)) {
			t.Errorf("delivered metric (%s) = %v, want %d", ch, got, len(ids))
		}
	}
	if got := counterValue(t, n, "clickstream_awards_notification_attempts_failed_total", awards.ChannelWebhook); got != 2 {
		t.Errorf("failed attempts metric (webhook) = %v, want 2", got)
	}
}

// counterValue reads a counter of the notifier by name and channel (0 when
// it has no such series).
func counterValue(t *testing.T, n *awards.Notifier, name, channel string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "channel" && l.GetValue() == channel {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestNotifierParksAfterMaxAttempts: a webhook that always fails gets each
// notification MaxAttempts times; then it is parked, and listed as parked
// with the last error.
func TestNotifierParksAfterMaxAttempts(t *testing.T) {
	env := newEngineEnv(t)
	grantNavigators(t, env, "u1", "u2")
	ids := outboxIDs(t, env, "true")

	hook := newWebhookReceiver(t)
	hook.failAll = true
	n := awards.NewNotifier(env.store, fastNotifier(awards.NotifierConfig{WebhookURL: hook.URL, MaxAttempts: 3}))
	stop := runNotifier(t, n)
	waitFor(t, func() bool { return allFinished(t, env) })
	stop()

	_, accepted, attempts, problems := hook.snapshot()
	for _, p := range problems {
		t.Error(p)
	}
	if len(accepted) != 0 {
		t.Errorf("accepted %v, want nothing", accepted)
	}
	for _, id := range ids {
		if attempts[id] != 3 {
			t.Errorf("notification %s attempted %d times, want MaxAttempts = 3", id, attempts[id])
		}
	}

	var parked []awards.Notification
	var after int64
	for {
		page, err := env.store.ListNotifications(t.Context(), awards.NotificationFilter{State: awards.DeliveryParked, Limit: 2, AfterID: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		parked = append(parked, page...)
		after = page[len(page)-1].ID
	}
	var got []string
	for _, p := range parked {
		got = append(got, strconv.FormatInt(p.ID, 10))
		if p.State != awards.DeliveryParked || p.Attempts != 3 || p.DeliveredAt != nil ||
			!strings.Contains(p.LastError, "503") || !strings.Contains(p.LastError, "receiver unavailable") {
			t.Errorf("parked notification %+v, want 3 attempts and the receiver's answer as last error", p)
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("parked notifications %v, want %v", got, ids)
	}
	if delivered, err := env.store.ListNotifications(t.Context(), awards.NotificationFilter{State: awards.DeliveryDelivered}); err != nil || len(delivered) != 0 {
		t.Errorf("delivered = %v, %v; want none", delivered, err)
	}
	if _, err := env.store.ListNotifications(t.Context(), awards.NotificationFilter{State: "lost"}); !errors.Is(err, awards.ErrInvalidNotificationFilter) {
		t.Errorf("unknown state: err = %v, want ErrInvalidNotificationFilter", err)
	}

	// The receiver is fixed; an operator retries one parked notification:
	// it is delivered once, the other stays parked.
	hook.mu.Lock()
	hook.failAll = false
	hook.mu.Unlock()
	one, err := strconv.ParseInt(ids[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := env.store.RetryParked(t.Context(), []int64{one}); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v; want 1 retried", n, err)
	}
	stop = runNotifier(t, n)
	waitFor(t, func() bool { return allFinished(t, env) })
	stop()
	_, accepted, _, _ = hook.snapshot()
	if accepted[ids[0]] != 1 || len(accepted) != 1 {
		t.Errorf("after retrying %s: accepted %v, want it once and nothing else", ids[0], accepted)
	}
	still, _ := env.store.ListNotifications(t.Context(), awards.NotificationFilter{State: awards.DeliveryParked})
	if len(still) != len(ids)-1 || slices.ContainsFunc(still, func(n awards.Notification) bool { return n.ID == one }) {
		t.Errorf("parked after the retry: %v, want the %d others", still, len(ids)-1)
	}
}

// TestNotifierRestartDeliversNothingTwice: a notifier stopped in the middle
// of its work records every delivery it made; a new one on the same
// database delivers only the rest.
func TestNotifierRestartDeliversNothingTwice(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	grantNavigators(t, env, "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8")
	ids := outboxIDs(t, env, "true")

	hook := newWebhookReceiver(t)
	cfg := fastNotifier(awards.NotifierConfig{WebhookURL: hook.URL, JetStream: b.JetStream(), Batch: 2, Parallel: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hook.onOK = func(accepted int) {
		if accepted == 3 {
			cancel() // stop the first notifier in the middle of a batch
		}
	}
	first := awards.NewNotifier(env.store, cfg)
	if err := first.Run(ctx); err != nil {
		t.Fatal(err)
	}
	_, accepted, _, _ := hook.snapshot()
	recorded := count(t, env.pool, `SELECT count(*) FROM awards.deliveries WHERE channel = 'webhook' AND state = 'delivered'`)
	if len(accepted) != recorded || recorded >= len(ids) {
		t.Fatalf("after the stop: %d notifications accepted by the webhook, %d recorded delivered, of %d; want all accepted recorded and some left", len(accepted), recorded, len(ids))
	}

	hook.mu.Lock()
	hook.onOK = nil
	hook.mu.Unlock()
	second := awards.NewNotifier(env.store, cfg)
	stop := runNotifier(t, second)
	waitFor(t, func() bool { return allFinished(t, env) })
	stop()

	requests, accepted, _, problems := hook.snapshot()
	for _, p := range problems {
		t.Error(p)
	}
	for _, id := range ids {
		if accepted[id] != 1 {
			t.Errorf("notification %s accepted %d times, want once", id, accepted[id])
		}
	}
	if requests != len(ids) {
		t.Errorf("%d webhook requests for %d notifications, want one each", requests, len(ids))
	}
	// Each bus delivery was published once (the stream would hide a
	// second publication by its Nats-Msg-Id, the attempts would not).
	if n := count(t, env.pool, `SELECT count(*) FROM awards.deliveries WHERE channel = 'bus' AND state = 'delivered' AND attempts = 1`); n != len(ids) {
		t.Errorf("%d bus deliveries made in one attempt, want %d", n, len(ids))
	}
	if perID, _ := awardsStream(t, b); len(perID) != len(ids) {
		t.Errorf("the AWARDS stream holds %d notifications, want %d", len(perID), len(ids))
	}
}

// TestNotifiersShareTheWork: two notifiers on one database (two instances)
// deliver each notification once between them.
func TestNotifiersShareTheWork(t *testing.T) {
	env := newEngineEnv(t)
	var users []string
	for i := range 30 {
		users = append(users, "u"+strconv.Itoa(i))
	}
	grantNavigators(t, env, users...)
	ids := outboxIDs(t, env, "true")

	hook := newWebhookReceiver(t)
	cfg := fastNotifier(awards.NotifierConfig{WebhookURL: hook.URL, Batch: 3, Parallel: 2})
	stopA := runNotifier(t, awards.NewNotifier(env.store, cfg))
	stopB := runNotifier(t, awards.NewNotifier(env.store, cfg))
	waitFor(t, func() bool { return allFinished(t, env) })
	stopA()
	stopB()

	requests, accepted, _, _ := hook.snapshot()
	for _, id := range ids {
		if accepted[id] != 1 {
			t.Errorf("notification %s accepted %d times, want once", id, accepted[id])
		}
	}
	if requests != len(ids) {
		t.Errorf("%d webhook requests for %d notifications, want one each", requests, len(ids))
	}
}

// TestNotifierNeverSendsSuppressed: grants of a backfill that did not ask
// for notifications are suppressed (listed, never sent); those of a
// backfill that asked are sent, marked as backfilled.
func TestNotifierNeverSendsSuppressed(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	backfill := func(notify bool, users ...string) {
		t.Helper()
		var id int64
		if err := env.pool.QueryRow(t.Context(), `INSERT INTO awards.backfills (from_time, notify) VALUES (now(), $1) RETURNING id`, notify).Scan(&id); err != nil {
			t.Fatal(err)
		}
		var recs []*busv1.EventRecord
		for _, u := range users {
			recs = append(recs, tripRecord(u, "trip-"+u, 10_000))
		}
		if _, err := env.engine.ApplyBatchWith(t.Context(), recs, awards.ApplyOptions{BackfillID: id}); err != nil {
			t.Fatal(err)
		}
		env.cycle(t)
	}
	backfill(false, "quiet1", "quiet2")
	backfill(true, "loud")
	grantNavigators(t, env, "live")
	suppressed := outboxIDs(t, env, "suppressed")
	if len(suppressed) != 2 {
		t.Fatalf("%d suppressed outbox rows, want the 2 grants of the quiet backfill", len(suppressed))
	}
	sent := outboxIDs(t, env, "NOT suppressed")

	hook := newWebhookReceiver(t)
	n := awards.NewNotifier(env.store, fastNotifier(awards.NotifierConfig{WebhookURL: hook.URL, JetStream: b.JetStream()}))
	stop := runNotifier(t, n)
	waitFor(t, func() bool { return allFinished(t, env) })
	stop()

	_, accepted, attempts, _ := hook.snapshot()
	perID, _ := awardsStream(t, b)
	for _, id := range suppressed {
		if attempts[id] != 0 || perID[id] != 0 {
			t.Errorf("suppressed notification %s sent: %d webhook requests, %d on the bus", id, attempts[id], perID[id])
		}
	}
	for _, id := range sent {
		if accepted[id] != 1 || perID[id] != 1 {
			t.Errorf("notification %s: accepted %d times by the webhook, %d times on the bus; want once each", id, accepted[id], perID[id])
		}
	}
	listed, err := env.store.ListNotifications(t.Context(), awards.NotificationFilter{State: awards.DeliverySuppressed})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range listed {
		got = append(got, strconv.FormatInt(l.ID, 10))
		if !l.Backfilled || l.Attempts != 0 || l.DeliveredAt != nil {
			t.Errorf("suppressed notification listed as %+v, want backfilled, never attempted", l)
		}
	}
	if !slices.Equal(got, suppressed) {
		t.Errorf("suppressed notifications listed: %v, want %v", got, suppressed)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	var loud, live int
	for _, m := range hook.messages {
		switch {
		case m.UserID == "loud" && m.Backfilled:
			loud++
		case m.UserID == "live" && !m.Backfilled:
			live++
		}
	}
	if loud != 1 || live != 1 {
		t.Errorf("webhook got %d backfilled grant(s) of the backfill that asked and %d live one(s), want 1 and 1", loud, live)
	}
}

// TestWebhookSignature: the signature covers the body and the timestamp,
// and stale timestamps are refused.
func TestWebhookSignature(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"id":1,"kind":"granted"}`)
	now := time.Unix(1_800_000_000, 0)
	header := func(ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set(awards.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(awards.HeaderSignature, sig)
		return h
	}
	ts := now.Unix()
	good := awards.SignWebhook(secret, strconv.FormatInt(ts, 10), body)
	if !strings.HasPrefix(good, "sha256=") || len(good) != len("sha256=")+64 {
		t.Fatalf("signature %q, want sha256=<64 hex digits>", good)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		header http.Header
		body   []byte
		ok     bool
	}{
		{"valid", secret, header(ts, good), body, true},
		{"other body", secret, header(ts, good), []byte(`{"id":2,"kind":"granted"}`), false},
		{"other timestamp", secret, header(ts+1, good), body, false},
		{"other secret", []byte("other"), header(ts, good), body, false},
		{"replayed later", secret, header(ts-600, awards.SignWebhook(secret, strconv.FormatInt(ts-600, 10), body)), body, false},
		{"no timestamp", secret, http.Header{awards.HeaderSignature: {good}}, body, false},
	} {
		err := awards.VerifyWebhookSignature(tc.secret, tc.header, tc.body, now, 5*time.Minute)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, awards.ErrBadWebhookSignature)) {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// seedOutbox inserts n grants of navigator-10km into the outbox.
func seedOutbox(b *testing.B, env *engineEnv, n int) {
	b.Helper()
	if _, err := env.pool.Exec(b.Context(), `
		INSERT INTO awards.outbox (kind, user_id, achievement_id, progress, goal)
		SELECT 'granted', 'u' || i, 'navigator-10km', 10, 10 FROM generate_series(1, $1) AS i`, n); err != nil {
		b.Fatal(err)
	}
}

// drainNotifier cycles n until the outbox is finished.
func drainNotifier(b *testing.B, env *engineEnv, n *awards.Notifier) {
	b.Helper()
	for {
		if _, err := n.Cycle(b.Context()); err != nil {
			b.Fatal(err)
		}
		var left int
		if err := env.pool.QueryRow(b.Context(), `SELECT count(*) FROM awards.outbox WHERE delivered_at IS NULL`).Scan(&left); err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			return
		}
	}
}

// BenchmarkNotifier measures notifications delivered per second, to the bus
// alone and to the bus and a webhook (an httptest server answering 204),
// against a baseline that publishes the same number of messages to AWARDS
// one by one without any bookkeeping. It also measures a cycle with nothing
// due while 20,000 deliveries wait for a retry (what the in-flight scan
// costs when a webhook is down).
func BenchmarkNotifier(b *testing.B) {
	const notifications = 2_000
	var baseline float64
	b.Run("baseline=bare-publish", func(b *testing.B) {
		for range b.N {
			bs := bustest.New(b)
			start := time.Now()
			for i := range notifications {
				if _, err := bs.JetStream().Publish(b.Context(), "awards.granted.navigator-10km", []byte(`{"id":1}`), jetstream.WithMsgID(strconv.Itoa(i))); err != nil {
					b.Fatal(err)
				}
			}
			baseline = notifications / time.Since(start).Seconds()
			b.ReportMetric(baseline, "notifications/s")
		}
	})
	run := func(name string, webhook bool) {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				env := newEngineEnv(b)
				bs := bustest.New(b)
				cfg := awards.NotifierConfig{JetStream: bs.JetStream(), Batch: 200, Parallel: 8, Logger: quiet}
				if webhook {
					srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						_, _ = io.Copy(io.Discard, r.Body)
						w.WriteHeader(http.StatusNoContent)
					}))
					b.Cleanup(srv.Close)
					cfg.WebhookURL, cfg.WebhookSecret = srv.URL, webhookSecret
				}
				seedOutbox(b, env, notifications)
				n := awards.NewNotifier(env.store, cfg)
				b.StartTimer()
				start := time.Now()
				drainNotifier(b, env, n)
				rate := notifications / time.Since(start).Seconds()
				b.ReportMetric(rate, "notifications/s")
				if baseline > 0 {
					b.ReportMetric(rate/baseline, "x-baseline")
				}
			}
		})
	}
	run("bus", false)
	run("bus+webhook", true)
	b.Run("idle-cycle-20k-retrying", func(b *testing.B) {
		env := newEngineEnv(b)
		seedOutbox(b, env, 20_000)
		if _, err := env.pool.Exec(b.Context(), `
			INSERT INTO awards.deliveries (outbox_id, channel, attempts, next_attempt_at)
			SELECT id, 'webhook', 1, now() + interval '1 hour' FROM awards.outbox`); err != nil {
			b.Fatal(err)
		}
		if _, err := env.pool.Exec(b.Context(), `ANALYZE awards.outbox; ANALYZE awards.deliveries`); err != nil {
			b.Fatal(err)
		}
		n := awards.NewNotifier(env.store, awards.NotifierConfig{WebhookURL: "http://127.0.0.1:1/unused", Logger: quiet})
		b.ResetTimer()
		for range b.N {
			res, err := n.Cycle(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			if res.Enqueued+res.Delivered+res.Failed != 0 {
				b.Fatalf("idle cycle did %+v", res)
			}
		}
	})
}

// TestNotifierTellsAUserOnce: a revocable achievement granted, revoked and
// granted again (a photo flapping between active and blocked) notifies the
// grant and the revocation once each; the repeats are suppressed, listed
// with the notification they repeat.
func TestNotifierTellsAUserOnce(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	var photos []*busv1.EventRecord
	for i := range 5 {
		photos = append(photos, photoRecord("flap", fmt.Sprintf("p%d", i), active))
	}
	for i := range 5 {
		photos = append(photos, reviewRecord("flap", fmt.Sprintf("r%d", i), fmt.Sprintf("o%d", i), active, 10))
	}
	env.apply(t, photos...)
	for range 2 {
		env.apply(t, photoRecord("flap", "p0", blocked))
		env.apply(t, photoRecord("flap", "p0", active))
	}
	want := []string{"granted flap photos-and-reviews", "revoked flap photos-and-reviews", "granted flap photos-and-reviews", "revoked flap photos-and-reviews", "granted flap photos-and-reviews"}
	var got []string
	for _, row := range env.outbox(t) {
		if strings.HasSuffix(row, " photos-and-reviews") {
			got = append(got, row)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("outbox of photos-and-reviews = %v, want %v", got, want)
	}

	hook := newWebhookReceiver(t)
	n := awards.NewNotifier(env.store, fastNotifier(awards.NotifierConfig{WebhookURL: hook.URL, JetStream: b.JetStream()}))
	stop := runNotifier(t, n)
	waitFor(t, func() bool { return allFinished(t, env) })
	stop()

	hook.mu.Lock()
	kinds := map[string]int{}
	for _, m := range hook.messages {
		if m.UserID == "flap" && m.AchievementID == "photos-and-reviews" {
			kinds[m.Kind]++
		}
	}
	hook.mu.Unlock()
	if kinds["granted"] != 1 || kinds["revoked"] != 1 {
		t.Errorf("the webhook got %v for the flapping achievement, want one grant and one revocation", kinds)
	}
	listed, err := env.store.ListNotifications(t.Context(), awards.NotificationFilter{State: awards.DeliverySuppressed})
	if err != nil {
		t.Fatal(err)
	}
	repeats := 0
	for _, l := range listed {
		if l.UserID == "flap" && l.AchievementID == "photos-and-reviews" && strings.HasPrefix(l.LastError, "already notified: notification ") {
			repeats++
		}
	}
	if repeats != 3 {
		t.Errorf("%d repeats listed as suppressed with the notification they repeat, want 3", repeats)
	}
}

// TestNotifyOnceWhateverTheCommitOrder: two grants of the same achievement
// to the same user whose outbox ids commit out of order (the higher id
// first, enqueued and delivered, then the lower) reach the user once: the
// lower one is suppressed as a repeat of the higher.
func TestNotifyOnceWhateverTheCommitOrder(t *testing.T) {
	env := newEngineEnv(t)
	const insert = `INSERT INTO awards.outbox (kind, user_id, achievement_id, progress, goal)
		VALUES ('granted', 'late', 'navigator-10km', 10, 10) RETURNING id`
	slow, err := env.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = slow.Rollback(context.Background()) }()
	var low, high int64
	if err := slow.QueryRow(t.Context(), insert).Scan(&low); err != nil {
		t.Fatal(err)
	}
	if err := env.pool.QueryRow(t.Context(), insert).Scan(&high); err != nil { // commits at once
		t.Fatal(err)
	}
	if high <= low {
		t.Fatalf("ids %d then %d: want the second higher", low, high)
	}

	hook := newWebhookReceiver(t)
	n := awards.NewNotifier(env.store, fastNotifier(awards.NotifierConfig{WebhookURL: hook.URL}))
	drain := func() {
		t.Helper()
		for range 20 {
			res, err := n.Cycle(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if res.Enqueued+res.Delivered+res.Failed == 0 {
				return
			}
		}
		t.Fatal("the notifier did not settle in 20 cycles")
	}
	drain()
	if err := slow.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	drain()

	hook.mu.Lock()
	grants := 0
	for _, m := range hook.messages {
		if m.Kind == "granted" && m.UserID == "late" {
			grants++
		}
	}
	hook.mu.Unlock()
	if grants != 1 {
		t.Errorf("the webhook got %d grants of navigator-10km for late (outbox ids %d committed after %d), want 1", grants, low, high)
	}
	listed, err := env.store.ListNotifications(t.Context(), awards.NotificationFilter{State: awards.DeliverySuppressed})
	if err != nil {
		t.Fatal(err)
	}
	var repeat string
	for _, l := range listed {
		if l.ID == low {
			repeat = l.LastError
		}
	}
	if want := fmt.Sprintf("already notified: notification %d", high); repeat != want {
		t.Errorf("notification %d (committed last) suppressed with %q, want %q", low, repeat, want)
	}
	t.Logf("outbox %d committed before %d: %d grant delivered, %d suppressed as %q", high, low, grants, low, repeat)
}

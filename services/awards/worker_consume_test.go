package awards_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// publish puts records on the bus as ingest does (msgID defaults to the
// record id; a different one makes JetStream keep a second copy).
func publish(t testing.TB, b *bus.Bus, recs []*busv1.EventRecord, msgIDs ...string) {
	t.Helper()
	msgs := make([]bus.Message, len(recs))
	for i, rec := range recs {
		data, err := proto.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		name := protoreflect.FullName(rec.GetEventName()).Name()
		subject, err := bus.EventSubject(rec.GetEnvironment(), string(name[:len(name)-2]), rec.GetEventVersion())
		if err != nil {
			t.Fatal(err)
		}
		id := rec.GetId()
		if i < len(msgIDs) {
			id = msgIDs[i]
		}
		msgs[i] = bus.Message{Subject: subject, MsgID: id, Data: data}
	}
	results, err := b.PublishAll(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// startConsumers runs the consuming workers until the returned stop is
// called (or the test ends).
func startConsumers(t *testing.T, env *engineEnv, b *bus.Bus) (*awards.Consumers, func()) {
	t.Helper()
	c := awards.NewConsumers(env.engine, b.JetStream(), awards.ConsumersConfig{Batch: 50, FetchWait: 50_000_000, Reconcile: 20_000_000})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = c.Run(ctx)
	}()
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	waitFor(t, func() bool { return len(c.Sources()) == 3 })
	return c, stop
}

// drained reports whether every awards consumer has applied and
// acknowledged everything on its subject.
func drained(t testing.TB, b *bus.Bus, c *awards.Consumers, sources []string) bool {
	t.Helper()
	for _, s := range sources {
		cons, err := b.JetStream().Consumer(t.Context(), bus.StreamEvents, c.ConsumerName(s))
		if err != nil {
			t.Fatal(err)
		}
		info, err := cons.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return false
		}
	}
	return true
}

var sources = []string{"NavigationTripFinished", "PhotoStatusChanged", "ReviewStatusChanged"}

func TestConsumersApplyFromTheBus(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	c, stop := startConsumers(t, env, b)
	if got := c.Sources(); !slices.Equal(got, sources) {
		t.Fatalf("workers for %v, want one per source the objectives need: %v", got, sources)
	}

	// The pre-filter: each consumer's subject filter is its event, and no
	// consumer exists for events no objective needs.
	stream, err := b.JetStream().Stream(t.Context(), bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range stream.ConsumerNames(t.Context()).Name() {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"awards-navigationtripfinished", "awards-photostatuschanged", "awards-reviewstatuschanged"}
	if !slices.Equal(names, want) {
		t.Errorf("consumers on EVENTS = %v, want %v", names, want)
	}
	cons, err := b.JetStream().Consumer(t.Context(), bus.StreamEvents, c.ConsumerName("PhotoStatusChanged"))
	if err != nil {
		t.Fatal(err)
	}
	if f := cons.CachedInfo().Config.FilterSubject; f != "events.*.photo_status_changed.*" {
		t.Errorf("photo consumer filter = %q", f)
	}

	act := photoRecord("u1", "p1", active)
	recs := []*busv1.EventRecord{
		reviewRecord("u1", "r1", "o1", active, 150),
		act,
		photoRecord("u1", "p2", active),
		tripRecord("u1", "t1", 4000),
		record("u1", &eventsv1.ItemViewV2{ItemId: 7}), // no objective needs it
		photoRecord("", "p9", active),                 // no user
	}
	publish(t, b, recs)
	// The same event again under another message id: JetStream keeps both,
	// awards applies it once.
	publish(t, b, []*busv1.EventRecord{act}, "redelivered-"+act.GetId())
	waitFor(t, func() bool { return drained(t, b, c, sources) })
	env.cycle(t)
	env.wantAchievement(t, "u1", "local-guide", 7, false)
	env.wantAchievement(t, "u1", "reviews-or-photos", 3, true)
	env.wantAchievement(t, "u1", "thoughtful-reviewer", 1, false)

	// Delivered counts: the item view never reached awards.
	var delivered uint64
	for _, s := range sources {
		cons, err := b.JetStream().Consumer(t.Context(), bus.StreamEvents, c.ConsumerName(s))
		if err != nil {
			t.Fatal(err)
		}
		info, err := cons.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		delivered += info.Delivered.Consumer
	}
	if delivered != 6 {
		t.Errorf("awards consumers received %d messages, want the 6 on their subjects (not the item view)", delivered)
	}

	// Stop the workers, publish while they are down, start again: they
	// resume where they stopped and apply each event once.
	stop()
	publish(t, b, []*busv1.EventRecord{tripRecord("u1", "t2", 6000), photoRecord("u1", "p3", active)})
	c2, _ := startConsumers(t, env, b)
	waitFor(t, func() bool { return drained(t, b, c2, sources) })
	env.cycle(t)
	env.wantAchievement(t, "u1", "navigator-10km", 10, true)
	env.wantAchievement(t, "u1", "local-guide", 14, false)
	if n := count(t, env.pool, `SELECT count(*) FROM awards.processing_log WHERE record_id = $1`, act.GetId()); n != len(env.engine.Snapshot().Objectives("PhotoStatusChanged")) {
		t.Errorf("the redelivered photo event has %d processing log rows, want one per photo objective", n)
	}
}

// TestConsumersFollowTheConfiguration: saving an achievement whose objective
// consumes a new source starts a worker for it, without a restart.
func TestConsumersFollowTheConfiguration(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	c, _ := startConsumers(t, env, b)
	feedback := awards.AchievementConfig{
		ID: "map-keeper", Title: "Map keeper",
		Objectives: []awards.ObjectiveConfig{{Key: "edits", Sources: []string{"feedback"},
			Rule: []byte(`{"name":"StatusCounterRule","config":{"content_id":"feedback_id","progress":"active"}}`)}},
		Strategy: []byte(`{"goal":5,"strategy":[{"objective_id":"edits"}]}`),
	}
	if _, err := env.engine.Save(t.Context(), feedback, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return slices.Contains(c.Sources(), "DataFeedbackStatusChanged") })
	if _, err := b.JetStream().Consumer(t.Context(), bus.StreamEvents, c.ConsumerName("DataFeedbackStatusChanged")); err != nil {
		t.Errorf("consumer for the new source: %v", err)
	}
}

// TestConsumersReadyOnlyWithEveryConsumer: readiness waits until every needed
// source has its durable consumer, since a consumer made later would skip the
// events published in between. Here the EVENTS stream is missing at first, so
// no consumer can be made; once it exists, the workers start and it is ready.
func TestConsumersReadyOnlyWithEveryConsumer(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	if err := b.JetStream().DeleteStream(t.Context(), bus.StreamEvents); err != nil {
		t.Fatal(err)
	}
	c := awards.NewConsumers(env.engine, b.JetStream(), awards.ConsumersConfig{Batch: 50, FetchWait: 50_000_000, Reconcile: 20_000_000})
	if err := c.Ready(); err == nil {
		t.Fatal("ready before the workers were started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	waitFor(t, func() bool { return c.Ready() != nil && strings.Contains(c.Ready().Error(), "PhotoStatusChanged") })
	t.Logf("without EVENTS: %v", c.Ready())
	if err := b.EnsureStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.Ready() == nil })
	if got := c.Sources(); !slices.Equal(got, sources) {
		t.Errorf("ready with workers for %v, want %v", got, sources)
	}
}

// TestStatusOrderFollowsTheBus: status changes without event times (as
// the web examples send them) are ordered by their position on EVENTS, not
// by idempotency key: ACTIVE sent with key …-v9 and then BLOCKED with key
// …-v10 leave the photo blocked, although "-v9" sorts after "-v10"; with
// equal times, the later event on the bus wins over the larger key.
func TestStatusOrderFollowsTheBus(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	c, _ := startConsumers(t, env, b)
	untimed := func(rec *busv1.EventRecord, key string) *busv1.EventRecord {
		rec.Id, rec.OccurredAt = key, nil
		return rec
	}
	sameTime := func(rec *busv1.EventRecord, key string) *busv1.EventRecord {
		rec.Id, rec.OccurredAt = key, timestamppb.New(baseTime)
		return rec
	}
	// Each change in its own publish, in order, as a master system sends.
	for _, rec := range []*busv1.EventRecord{
		untimed(photoRecord("u1", "p1", active), "photo-p1-v9"),
		untimed(photoRecord("u1", "p1", blocked), "photo-p1-v10"),
		untimed(photoRecord("u2", "p1", blocked), "photo-u2-p1-v9"),
		untimed(photoRecord("u2", "p1", active), "photo-u2-p1-v10"),
		sameTime(photoRecord("u3", "p1", active), "photo-u3-p1-b"),
		sameTime(photoRecord("u3", "p1", blocked), "photo-u3-p1-a"),
	} {
		publish(t, b, []*busv1.EventRecord{rec})
	}
	waitFor(t, func() bool { return drained(t, b, c, sources) })
	env.cycle(t)
	for user, want := range map[string]float64{"u1": 0, "u2": 1, "u3": 0} {
		env.wantAchievement(t, user, "reviews-or-photos", want, false)
	}
	var seqs int
	if err := env.pool.QueryRow(t.Context(), `SELECT count(*) FROM awards.contributions WHERE seq IS NOT NULL`).Scan(&seqs); err != nil {
		t.Fatal(err)
	}
	if seqs == 0 {
		t.Error("no ledger entry holds its stream sequence")
	}
	t.Logf("3 users × 2 status changes in bus order; %d ledger entries carry their stream sequence", seqs)
}

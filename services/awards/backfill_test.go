package awards_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// shutterbug is the achievement the backfill tests add after the events:
// photos and kilometres driven, on two sources.
var shutterbug = awards.AchievementConfig{
	ID: "shutterbug", Title: "Shutterbug",
	Objectives: []awards.ObjectiveConfig{
		{Key: "photo", Sources: []string{"photos"}, Rule: []byte(`{"name":"StatusCounterRule","config":{"content_id":"photo_id"}}`)},
		{Key: "navi", Sources: []string{"navigation"}, Rule: []byte(`{"name":"SumRule","config":{"field":"distance_m"}}`)},
	},
	Strategy: []byte(`{"goal":3,"operation":"sum","strategy":[{"objective_id":"photo"},{"objective_id":"navi","normalization_factor":0.001}]}`),
}

// backfillWorkload is a seeded mix of photo status changes (some moving
// back), trips and reviews (a source shutterbug does not read) of five
// users.
func backfillWorkload(seed uint64, n int) (recs []*busv1.EventRecord, onSources int) {
	r := rand.New(rand.NewPCG(seed, seed))
	statuses := []eventsv1.ContentStatus{active, active, moderation, blocked}
	for range n {
		user := fmt.Sprintf("u%d", r.IntN(5)+1)
		switch r.IntN(3) {
		case 0:
			recs = append(recs, photoRecord(user, fmt.Sprintf("%s-p%d", user, r.IntN(4)), statuses[r.IntN(len(statuses))]))
			onSources++
		case 1:
			recs = append(recs, tripRecord(user, fmt.Sprintf("t%d", r.IntN(1000)), int64(r.IntN(1500))))
			onSources++
		default:
			recs = append(recs, reviewRecord(user, fmt.Sprintf("r%d", r.IntN(1000)), "o1", active, 50))
		}
	}
	return recs, onSources
}

// runBackfills runs bf until the test ends or the returned stop is called.
func runBackfills(t *testing.T, bf *awards.Backfills) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = bf.Run(ctx) })
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	return stop
}

// finished waits until the backfill is no longer running and returns it.
func finished(t *testing.T, bf *awards.Backfills, id int64) awards.Backfill {
	t.Helper()
	var b awards.Backfill
	waitFor(t, func() bool {
		var err error
		if b, err = bf.Get(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		return b.State != awards.BackfillRunning
	})
	if b.State != awards.BackfillDone {
		t.Fatalf("backfill %d %s: %s", id, b.State, b.Error)
	}
	return b
}

// achievementState describes everything an achievement's progress consists
// of, independent of row ids: user achievements, counters, ledger entries
// and notifications.
func achievementState(t *testing.T, env *engineEnv, id string) string {
	t.Helper()
	var sb strings.Builder
	for _, q := range []string{
		`SELECT user_id || ' ' || progress || ' ' || (completed_at IS NOT NULL) FROM awards.user_achievements
			WHERE achievement_id = $1 ORDER BY user_id`,
		`SELECT uo.user_id || ' ' || o.key || ' ' || uo.counters::text || ' ' || uo.progress FROM awards.user_objectives uo
			JOIN awards.objectives o ON o.id = uo.objective_id WHERE o.achievement_id = $1 ORDER BY uo.user_id, o.key`,
		`SELECT c.user_id || ' ' || o.key || ' ' || c.content_id || ' ' || c.status || ' ' || c.value FROM awards.contributions c
			JOIN awards.objectives o ON o.id = c.objective_id WHERE o.achievement_id = $1 ORDER BY 1`,
		`SELECT l.user_id || ' ' || o.key || ' ' || l.record_id || ' ' || l.outcome || ' ' || coalesce(l.delta::text, '') FROM awards.processing_log l
			JOIN awards.objectives o ON o.id = l.objective_id WHERE o.achievement_id = $1 ORDER BY 1`,
		`SELECT kind || ' ' || user_id FROM awards.outbox WHERE achievement_id = $1 AND kind <> 'announced' ORDER BY user_id, kind`,
	} {
		rows, err := env.pool.Query(t.Context(), q, id)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			sb.WriteString(s + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		sb.WriteString("--\n")
	}
	return sb.String()
}

// tableCounts counts the rows of the tables progress lives in.
func tableCounts(t *testing.T, env *engineEnv) string {
	t.Helper()
	var out []string
	for _, table := range []string{"user_objectives", "contributions", "processing_log", "user_achievements", "outbox"} {
		out = append(out, fmt.Sprintf("%s=%d", table, count(t, env.pool, "SELECT count(*) FROM awards."+table)))
	}
	return strings.Join(out, " ")
}

// TestBackfillCountsEventsFromBeforeTheAchievement: events published before
// an achievement existed count for it after a backfill exactly as if it
// had consumed them live; a second run changes nothing; its grants are
// marked and their notifications suppressed.
func TestBackfillCountsEventsFromBeforeTheAchievement(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	from := time.Now().Add(-time.Second)
	recs, onSources := backfillWorkload(7, 120)
	publish(t, b, recs)

	// What live processing makes of the same events with the achievement
	// configured from the start.
	ref := newEngineEnv(t)
	if _, err := ref.engine.Save(t.Context(), shutterbug, "test"); err != nil {
		t.Fatal(err)
	}
	ref.apply(t, recs...)
	want := achievementState(t, ref, "shutterbug")
	if !strings.Contains(want, "granted") {
		t.Fatalf("the workload grants nothing; the test would prove little:\n%s", want)
	}

	if _, err := env.engine.Save(t.Context(), shutterbug, "test"); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{} // the other achievements
	for id := range env.engine.Snapshot().Achievements {
		if id != "shutterbug" {
			before[id] = achievementState(t, env, id)
		}
	}
	bf := awards.NewBackfills(env.engine, b.JetStream(), awards.BackfillsConfig{Batch: 16, FetchWait: 200 * time.Millisecond})
	runBackfills(t, bf)
	started, err := bf.Start(t.Context(), awards.BackfillRequest{AchievementID: "shutterbug", From: from, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if started.State != awards.BackfillRunning || started.AchievementID != "shutterbug" || started.Actor != "test" {
		t.Errorf("started = %+v", started)
	}
	first := finished(t, bf, started.ID)
	env.cycle(t)

	if got := achievementState(t, env, "shutterbug"); got != want {
		t.Errorf("after the backfill:\n%s\nwant what live processing made:\n%s", got, want)
	}
	if first.Done != uint64(onSources) || first.Total != first.Done || first.Skipped != 0 || first.FinishedAt == nil {
		t.Errorf("backfill = %+v, want %d done of %d (the photos and trips), none skipped, finished", first, onSources, onSources)
	}
	// Only the achievement asked for moved.
	for id, state := range before {
		if got := achievementState(t, env, id); got != state {
			t.Errorf("achievement %s changed by a backfill of shutterbug:\n%s", id, got)
		}
	}
	// Its grants are marked with the backfill and suppressed.
	grants := count(t, env.pool, `SELECT count(*) FROM awards.outbox WHERE achievement_id = 'shutterbug' AND kind = 'granted'`)
	marked := count(t, env.pool, `SELECT count(*) FROM awards.outbox WHERE achievement_id = 'shutterbug' AND kind = 'granted'
		AND backfill_id = $1 AND suppressed`, started.ID)
	if grants == 0 || marked != grants {
		t.Errorf("%d of %d grants are marked with backfill %d and suppressed, want all", marked, grants, started.ID)
	}

	// Twice: nothing changes, every replayed event is skipped.
	counts, state := tableCounts(t, env), achievementState(t, env, "shutterbug")
	again, err := bf.Start(t.Context(), awards.BackfillRequest{AchievementID: "shutterbug", From: from, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	second := finished(t, bf, again.ID)
	env.cycle(t)
	if got := tableCounts(t, env); got != counts {
		t.Errorf("second backfill: rows %s, want %s", got, counts)
	}
	if got := achievementState(t, env, "shutterbug"); got != state {
		t.Errorf("second backfill changed the achievement:\n%s\nwas:\n%s", got, state)
	}
	if second.Done != first.Done || second.Skipped != second.Done {
		t.Errorf("second backfill = %+v, want all %d events replayed and skipped", second, first.Done)
	}

	list, err := bf.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != again.ID || list[1].ID != started.ID {
		t.Errorf("list = %+v, want the two backfills newest first", list)
	}
}

// TestBackfillOverlappingLiveProcessing: a backfill of every achievement
// after live consumers applied the same events skips what they applied,
// counts only for the achievement added since, and with Notify its grants
// are marked but not suppressed.
func TestBackfillOverlappingLiveProcessing(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	c, _ := startConsumers(t, env, b)
	from := time.Now().Add(-time.Second)
	recs, _ := backfillWorkload(11, 90)
	publish(t, b, recs)
	waitFor(t, func() bool { return drained(t, b, c, sources) })
	env.cycle(t)
	starters := map[string]string{}
	for id := range env.engine.Snapshot().Achievements {
		starters[id] = achievementState(t, env, id)
	}
	photos := 0
	for _, r := range recs {
		if strings.HasSuffix(r.GetEventName(), "PhotoStatusChangedV2") {
			photos++
		}
	}

	photographer := shutterbug
	photographer.ID, photographer.Objectives = "photographer", shutterbug.Objectives[:1]
	photographer.Strategy = []byte(`{"goal":2,"strategy":[{"objective_id":"photo"}]}`)
	if _, err := env.engine.Save(t.Context(), photographer, "test"); err != nil {
		t.Fatal(err)
	}
	bf := awards.NewBackfills(env.engine, b.JetStream(), awards.BackfillsConfig{Batch: 25, FetchWait: 200 * time.Millisecond})
	runBackfills(t, bf)
	started, err := bf.Start(t.Context(), awards.BackfillRequest{From: from, Notify: true, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	got := finished(t, bf, started.ID)
	env.cycle(t)

	// Every record is on some objective's source; only the photos had a
	// pair left to apply (photographer's).
	if got.Done != uint64(len(recs)) || got.Skipped != uint64(len(recs)-photos) {
		t.Errorf("backfill = %+v, want %d done and the %d non-photo events skipped", got, len(recs), len(recs)-photos)
	}
	for id, state := range starters {
		if now := achievementState(t, env, id); now != state {
			t.Errorf("achievement %s changed by a backfill over events the live consumers applied:\n%s\nwas:\n%s", id, now, state)
		}
	}
	ref := newEngineEnv(t)
	if _, err := ref.engine.Save(t.Context(), photographer, "test"); err != nil {
		t.Fatal(err)
	}
	ref.apply(t, recs...)
	if now, want := achievementState(t, env, "photographer"), achievementState(t, ref, "photographer"); now != want {
		t.Errorf("photographer after the backfill:\n%s\nwant:\n%s", now, want)
	}
	grants := count(t, env.pool, `SELECT count(*) FROM awards.outbox WHERE achievement_id = 'photographer' AND kind = 'granted'`)
	notified := count(t, env.pool, `SELECT count(*) FROM awards.outbox WHERE achievement_id = 'photographer' AND kind = 'granted'
		AND backfill_id = $1 AND NOT suppressed`, started.ID)
	if grants == 0 || notified != grants {
		t.Errorf("%d of %d grants marked with backfill %d and not suppressed (it asked to notify), want all", notified, grants, started.ID)
	}
}

// TestBackfillProgressIsVisible: while a backfill runs, Get reports it
// running with Done growing batch by batch. It replays what was on the
// stream when it started, not what arrives meanwhile.
func TestBackfillProgressIsVisible(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	from := time.Now().Add(-time.Second)
	var recs []*busv1.EventRecord
	for i := range 7 {
		recs = append(recs, tripRecord("u1", fmt.Sprintf("t%d", i), 1000))
	}
	publish(t, b, recs)

	batches, proceed := make(chan awards.Backfill), make(chan struct{})
	bf := awards.NewBackfills(env.engine, b.JetStream(), awards.BackfillsConfig{Batch: 2, FetchWait: 200 * time.Millisecond,
		AfterBatch: func(p awards.Backfill) { batches <- p; <-proceed }})
	runBackfills(t, bf)
	started, err := bf.Start(t.Context(), awards.BackfillRequest{AchievementID: "navigator-10km", From: from})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []uint64{2, 4, 6, 7} {
		p := <-batches
		if i == 0 {
			// Published after the start: the live consumers' to apply,
			// not the backfill's.
			publish(t, b, []*busv1.EventRecord{tripRecord("u1", "late-1", 1000), tripRecord("u1", "late-2", 1000)})
		}
		// The backfill waits in the hook: what the API shows now.
		got, err := bf.Get(t.Context(), started.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != awards.BackfillRunning || got.Done != want || got.Total != 7 || p.Done != want {
			t.Errorf("during the backfill: %+v, want running with %d of 7 done", got, want)
		}
		proceed <- struct{}{}
	}
	done := finished(t, bf, started.ID)
	if done.Done != 7 || done.Total != 7 {
		t.Errorf("finished backfill = %+v", done)
	}
	env.cycle(t)
	env.wantAchievement(t, "u1", "navigator-10km", 7, false)
}

// TestBackfillResumesAfterRestart: a backfill interrupted between batches
// stays running and, when the service runs again, continues after the last
// batch it recorded, counting each event once.
func TestBackfillResumesAfterRestart(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	from := time.Now().Add(-time.Second)
	recs, onSources := backfillWorkload(3, 60)
	publish(t, b, recs)
	if _, err := env.engine.Save(t.Context(), shutterbug, "test"); err != nil {
		t.Fatal(err)
	}

	// Stop the service right after the first batch.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	bf := awards.NewBackfills(env.engine, b.JetStream(), awards.BackfillsConfig{Batch: 10, FetchWait: 200 * time.Millisecond,
		AfterBatch: func(awards.Backfill) { stop() }})
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = bf.Run(ctx) }()
	started, err := bf.Start(t.Context(), awards.BackfillRequest{AchievementID: "shutterbug", From: from})
	if err != nil {
		t.Fatal(err)
	}
	<-stopped
	mid, err := bf.Get(t.Context(), started.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mid.State != awards.BackfillRunning || mid.Done != 10 || onSources <= 10 {
		t.Fatalf("after the stop: %+v, want running with the first 10 of %d events done", mid, onSources)
	}

	restarted := awards.NewBackfills(env.engine, b.JetStream(), awards.BackfillsConfig{Batch: 10, FetchWait: 200 * time.Millisecond})
	runBackfills(t, restarted)
	done := finished(t, restarted, started.ID)
	if done.Done != uint64(onSources) || done.Skipped != 0 {
		t.Errorf("resumed backfill = %+v, want each of the %d events replayed once, none skipped", done, onSources)
	}
	env.cycle(t)
	ref := newEngineEnv(t)
	if _, err := ref.engine.Save(t.Context(), shutterbug, "test"); err != nil {
		t.Fatal(err)
	}
	ref.apply(t, recs...)
	if got, want := achievementState(t, env, "shutterbug"), achievementState(t, ref, "shutterbug"); got != want {
		t.Errorf("after the resumed backfill:\n%s\nwant:\n%s", got, want)
	}
}

func TestBackfillStartValidates(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	bf := awards.NewBackfills(env.engine, b.JetStream())
	past := time.Now().Add(-time.Hour)
	tests := []struct {
		req  awards.BackfillRequest
		want string
	}{
		{awards.BackfillRequest{AchievementID: "nope", From: past}, `no achievement "nope"`},
		{awards.BackfillRequest{AchievementID: "local-guide", From: time.Now().Add(time.Hour)}, "in the future"},
		{awards.BackfillRequest{AchievementID: "local-guide"}, "from is required"},
	}
	for _, tt := range tests {
		_, err := bf.Start(t.Context(), tt.req)
		if !errors.Is(err, awards.ErrInvalidBackfill) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidBackfill saying %q", tt.req, err, tt.want)
		}
	}
	if _, err := bf.Get(t.Context(), 999); !errors.Is(err, awards.ErrNotFound) {
		t.Errorf("Get(999) = %v, want ErrNotFound", err)
	}
	if n := count(t, env.pool, `SELECT count(*) FROM awards.backfills`); n != 0 {
		t.Errorf("%d backfills stored by refused requests", n)
	}

	// An empty stream: the backfill is done at once with nothing to do.
	runBackfills(t, bf)
	started, err := bf.Start(t.Context(), awards.BackfillRequest{From: past})
	if err != nil {
		t.Fatal(err)
	}
	if got := finished(t, bf, started.ID); got.Done != 0 || got.Total != 0 {
		t.Errorf("backfill of an empty stream = %+v", got)
	}
	// From after every event: done, nothing replayed.
	publish(t, b, []*busv1.EventRecord{tripRecord("u1", "t1", 5000)})
	time.Sleep(10 * time.Millisecond) // the stream's clock must pass the event
	started, err = bf.Start(t.Context(), awards.BackfillRequest{From: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if got := finished(t, bf, started.ID); got.Done != 0 || got.Total != 0 {
		t.Errorf("backfill from after every event = %+v", got)
	}
}

// BenchmarkBackfill replays 10,000 events (photos, trips and reviews of
// 1,000 users) into a newly added achievement per iteration, in batches of
// 500, and reports events replayed per second.
func BenchmarkBackfill(b *testing.B) {
	env := newEngineEnv(b)
	bb := bustest.New(b)
	from := time.Now().Add(-time.Second)
	r := rand.New(rand.NewPCG(1, 2))
	var recs []*busv1.EventRecord
	for i := range 10_000 {
		user := fmt.Sprintf("u%d", r.IntN(1000))
		switch i % 3 {
		case 0:
			recs = append(recs, photoRecord(user, fmt.Sprintf("p%d", i), active))
		case 1:
			recs = append(recs, tripRecord(user, fmt.Sprintf("t%d", i), 700))
		default:
			recs = append(recs, reviewRecord(user, fmt.Sprintf("r%d", i), "o1", active, 50))
		}
	}
	for i := 0; i < len(recs); i += 1000 {
		publish(b, bb, recs[i:min(i+1000, len(recs))])
	}
	bf := awards.NewBackfills(env.engine, bb.JetStream(), awards.BackfillsConfig{FetchWait: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = bf.Run(ctx) }()
	var replayed uint64
	b.ResetTimer()
	for i := range b.N {
		a := shutterbug
		a.ID = fmt.Sprintf("bench-%d", i)
		if _, err := env.engine.Save(ctx, a, "bench"); err != nil {
			b.Fatal(err)
		}
		started, err := bf.Start(ctx, awards.BackfillRequest{AchievementID: a.ID, From: from})
		if err != nil {
			b.Fatal(err)
		}
		for {
			got, err := bf.Get(ctx, started.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.State != awards.BackfillRunning {
				if got.State != awards.BackfillDone {
					b.Fatalf("backfill %s: %s", got.State, got.Error)
				}
				replayed += got.Done
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	b.ReportMetric(float64(replayed)/b.Elapsed().Seconds(), "events/s")
}

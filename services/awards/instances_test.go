package awards_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// TestApplyFileConcurrently: instances started at once with the same
// achievements file apply it at the same moment; every one succeeds and
// the file is stored once: one configuration revision and one
// announcement per achievement (issue 16: config_history_pkey).
func TestApplyFileConcurrently(t *testing.T) {
	const instances = 4
	url := pgtest.NewDatabase(t)
	var engines []*awards.Engine
	for range instances {
		// An instance of its own: its own pool, store and engine.
		pool, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		engines = append(engines, awards.NewEngine(awards.EngineConfig{Store: awards.NewPostgresStore(pool), Schemas: schemas, Logger: quiet}))
	}
	check, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(check.Close)
	file, err := awards.ParseConfigFile(awards.StarterAchievements())
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make([]error, instances)
		for i, e := range engines {
			wg.Go(func() { _, errs[i] = e.ApplyFile(t.Context(), awards.StarterAchievements(), "instance") })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: instance %d: %v", round, i, err)
			}
		}
	}
	for _, a := range file.Achievements {
		if n := count(t, check, `SELECT count(*) FROM awards.config_history WHERE achievement_id = $1`, a.ID); n != 1 {
			t.Errorf("achievement %q: %d configuration revisions, want 1", a.ID, n)
		}
		if n := count(t, check, `SELECT count(*) FROM awards.achievements WHERE id = $1 AND config_version = 1`, a.ID); n != 1 {
			t.Errorf("achievement %q is not at configuration version 1", a.ID)
		}
		if n := count(t, check, `SELECT count(*) FROM awards.outbox WHERE kind = 'announced' AND achievement_id = $1`, a.ID); n != 1 {
			t.Errorf("achievement %q announced %d times, want once", a.ID, n)
		}
	}
	for i, e := range engines {
		if got, want := len(e.Snapshot().Achievements), len(file.Achievements); got != want {
			t.Errorf("instance %d runs %d achievements, want %d", i, got, want)
		}
	}
}

// instance is one awards instance on a shared database: its own pool,
// engine and achievements worker.
type instance struct {
	engine *awards.Engine
	worker *awards.AchievementsWorker
	pool   *pgxpool.Pool
}

func newInstance(t testing.TB, url string) *instance {
	t.Helper()
	pool, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := awards.NewEngine(awards.EngineConfig{Store: awards.NewPostgresStore(pool), Schemas: schemas, Logger: quiet})
	if _, err := e.ApplyFile(t.Context(), awards.StarterAchievements(), "test"); err != nil {
		t.Fatal(err)
	}
	return &instance{engine: e, worker: awards.NewAchievementsWorker(e, awards.AchievementsWorkerConfig{Batch: 50}), pool: pool}
}

// flappingWorkload is n events of a few users, so that batches on different
// instances meet on the same user objectives: photos and reviews going
// active, blocked and active again, and trips.
func flappingWorkload(seed uint64, n int) []*busv1.EventRecord {
	r := rand.New(rand.NewPCG(seed, 16))
	statuses := []int32{1, 2, 2, 3}
	recs := make([]*busv1.EventRecord, n)
	for i := range recs {
		user := "u" + strconv.Itoa(r.IntN(8))
		switch r.IntN(3) {
		case 0:
			recs[i] = photoRecord(user, "p"+strconv.Itoa(r.IntN(6)), contentStatus(statuses[r.IntN(len(statuses))]))
		case 1:
			recs[i] = reviewRecord(user, "r"+strconv.Itoa(r.IntN(6)), "o"+strconv.Itoa(r.IntN(4)), contentStatus(statuses[r.IntN(len(statuses))]), int32(50+r.IntN(150)))
		default:
			recs[i] = tripRecord(user, "t"+strconv.Itoa(i), int64(r.IntN(3_000)))
		}
	}
	return recs
}

// progressSnapshot is every user objective's counters and every user
// achievement's progress and completion, as text to compare.
func progressSnapshot(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	var out string
	err := pool.QueryRow(t.Context(), `
		SELECT coalesce(string_agg(line, E'\n' ORDER BY line), '') FROM (
			SELECT 'objective ' || uo.user_id || ' ' || a.id || '/' || o.key || ' ' || uo.counters::text AS line
			FROM awards.user_objectives uo JOIN awards.objectives o ON o.id = uo.objective_id
			JOIN awards.achievements a ON a.id = o.achievement_id
			UNION ALL
			SELECT 'achievement ' || user_id || ' ' || achievement_id || ' ' || round(progress::numeric, 6) || ' ' || (completed_at IS NOT NULL)
			FROM awards.user_achievements) s`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInstancesApplyConcurrently: two instances take batches from one
// queue (as two pullers of one durable consumer do), with every batch
// delivered twice (a redelivery after a lost acknowledgement) and their
// achievements workers cycling meanwhile. The user objective locks
// serialise batches that meet on a user objective: the counters and
// achievements equal those of one instance applying the same events in
// order, each (event, objective) is in the processing log once, and the
// counters agree with the ledger.
func TestInstancesApplyConcurrently(t *testing.T) {
	recs := flappingWorkload(7, 1200)
	const batch = 40

	single := newInstance(t, pgtest.NewDatabase(t))
	for i := 0; i < len(recs); i += batch {
		if _, err := single.engine.ApplyBatch(t.Context(), recs[i:min(i+batch, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	drainWorker(t, single)

	url := pgtest.NewDatabase(t)
	instances := []*instance{newInstance(t, url), newInstance(t, url)}
	queue := make(chan []*busv1.EventRecord)
	go func() {
		defer close(queue)
		for i := 0; i < len(recs); i += batch {
			b := recs[i:min(i+batch, len(recs))]
			queue <- b
			queue <- b // redelivered, perhaps to the other instance
		}
	}()
	applied := make([]int, len(instances))
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(instances))
	done := make(chan struct{})
	for i, in := range instances {
		wg.Go(func() {
			for b := range queue {
				res, err := in.engine.ApplyBatch(t.Context(), b)
				if err != nil {
					errs <- fmt.Errorf("instance %d: %w", i, err)
					return
				}
				applied[i] += res.Applied
			}
		})
	}
	var cycles sync.WaitGroup
	for i, in := range instances {
		cycles.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := in.worker.Cycle(t.Context()); err != nil {
					errs <- fmt.Errorf("instance %d achievements cycle: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	cycles.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	drainWorker(t, instances[0])
	t.Logf("(event, objective) pairs applied: instance 0 %d, instance 1 %d", applied[0], applied[1])
	if applied[0] == 0 || applied[1] == 0 {
		t.Errorf("one instance did all the work: %v", applied)
	}

	want, got := progressSnapshot(t, single.pool), progressSnapshot(t, instances[0].pool)
	if got != want {
		t.Errorf("two instances made\n%s\n\none instance made\n%s", got, want)
	}
	pairs := count(t, single.pool, `SELECT count(*) FROM awards.processing_log`)
	if n := count(t, instances[0].pool, `SELECT count(*) FROM awards.processing_log`); n != pairs || applied[0]+applied[1] != pairs {
		t.Errorf("processing log has %d rows (instances applied %d), want %d as one instance", n, applied[0]+applied[1], pairs)
	}
	if n := count(t, instances[0].pool, `SELECT count(*) FROM (SELECT 1 FROM awards.processing_log GROUP BY record_id, objective_id HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d (event, objective) pairs applied more than once", n)
	}
	if drifts, err := instances[1].engine.Reconcile(t.Context(), ""); err != nil || len(drifts) != 0 {
		t.Errorf("reconcile: %v drifts %+v", err, drifts)
	}
}

// drainWorker runs an instance's achievements worker until it has caught up.
func drainWorker(t testing.TB, in *instance) {
	t.Helper()
	for {
		res, err := in.worker.Cycle(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if res.Changed == 0 && !res.Busy {
			return
		}
	}
}

// TestAchievementsWorkerFollowsAnotherInstancesSave: an achievement saved
// on one instance counts there at once; the other instance's achievements
// worker, whose configuration does not know it yet, reloads instead of
// moving its cursor past the new objective's rows.
func TestAchievementsWorkerFollowsAnotherInstancesSave(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := newInstance(t, url), newInstance(t, url)
	if _, err := a.engine.Save(t.Context(), reviewsConfig(), "operator"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.engine.Snapshot().Achievements["critic"]; ok {
		t.Fatal("instance b knows the new achievement already; the test needs it not to")
	}
	if _, err := a.engine.ApplyBatch(t.Context(), []*busv1.EventRecord{reviewRecord("u1", "r1", "o1", active, 150)}); err != nil {
		t.Fatal(err)
	}
	drainWorker(t, b)
	var progress float64
	if err := b.pool.QueryRow(t.Context(), `SELECT coalesce(max(progress), -1) FROM awards.user_achievements WHERE user_id = 'u1' AND achievement_id = 'critic'`).Scan(&progress); err != nil {
		t.Fatal(err)
	}
	if progress != 1 {
		t.Errorf("u1's critic progress is %v after instance b's cycle, want 1", progress)
	}
}

// TestAchievementsWorkerFoldsWithAnotherInstancesStrategy: a strategy
// changed on one instance is what the other instance's achievements worker
// folds with next, not the one it loaded.
func TestAchievementsWorkerFoldsWithAnotherInstancesStrategy(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := newInstance(t, url), newInstance(t, url)
	c := reviewsConfig()
	if _, err := a.engine.Save(t.Context(), c, "operator"); err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Strategy = []byte(`{"goal":1,"strategy":[{"objective_id":"reviews"}]}`)
	if _, err := a.engine.Save(t.Context(), c, "operator"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.engine.ApplyBatch(t.Context(), []*busv1.EventRecord{reviewRecord("u1", "r1", "o1", active, 150)}); err != nil {
		t.Fatal(err)
	}
	drainWorker(t, b)
	var (
		goal      float64
		completed bool
	)
	err := b.pool.QueryRow(t.Context(), `SELECT goal, completed_at IS NOT NULL FROM awards.user_achievements WHERE user_id = 'u1' AND achievement_id = 'critic'`).Scan(&goal, &completed)
	if err != nil {
		t.Fatal(err)
	}
	if goal != 1 || !completed {
		t.Errorf("u1's critic: goal %v completed %v after instance b's cycle, want goal 1 completed (the strategy saved on instance a)", goal, completed)
	}
}

// TestPauseStopsEveryInstance: a pause made through one instance's admin
// API stops the source on every instance when it returns: no batch of the
// other instance commits after it (the other instance's workers only learn
// of the pause at their next round), and after a resume everything is
// applied once.
func TestPauseStopsEveryInstance(t *testing.T) {
	url := pgtest.NewDatabase(t)
	bs := bustest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var (
		instances []*instance
		consumers []*awards.Consumers
	)
	for i := range 2 {
		in := newInstance(t, url)
		// The second instance looks at the pauses rarely.
		reconcile := 10 * time.Millisecond
		if i == 1 {
			reconcile = time.Hour
		}
		c := awards.NewConsumers(in.engine, bs.JetStream(), awards.ConsumersConfig{Batch: 20, FetchWait: 20 * time.Millisecond, Reconcile: reconcile})
		wg.Go(func() { _ = c.Run(ctx) })
		instances, consumers = append(instances, in), append(consumers, c)
	}
	for _, c := range consumers {
		waitFor(t, func() bool { return len(c.Sources()) == 3 })
	}
	var trips []*busv1.EventRecord
	for i := range 3000 {
		trips = append(trips, tripRecord("u"+strconv.Itoa(i%40), "pause-"+strconv.Itoa(i), 10))
	}
	publish(t, bs, trips)
	db := instances[0].pool
	navi := len(instances[0].engine.Snapshot().Objectives("NavigationTripFinished"))
	waitFor(t, func() bool { return count(t, db, `SELECT count(*) FROM awards.processing_log`) >= 20*navi })

	admin := awards.NewAdminAPI(instances[0].engine, consumers[0], nil)
	if _, err := admin.PauseSource(t.Context(), &awardsv1.PauseSourceRequest{Source: "navigation", Actor: "op"}); err != nil {
		t.Fatal(err)
	}
	logged := count(t, db, `SELECT count(*) FROM awards.processing_log`)
	time.Sleep(300 * time.Millisecond) // the second instance keeps fetching
	if n := count(t, db, `SELECT count(*) FROM awards.processing_log`); n != logged {
		t.Errorf("%d (event, objective) pairs applied after the pause returned (%d before)", n-logged, logged)
	}
	if logged >= navi*len(trips) {
		t.Fatal("everything was applied before the pause; the test needs events in flight")
	}
	if _, err := admin.ResumeSource(t.Context(), &awardsv1.ResumeSourceRequest{Source: "navigation", Actor: "op"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return drained(t, bs, consumers[0], sources) })
	if n := count(t, db, `SELECT count(*) FROM awards.processing_log`); n != navi*len(trips) {
		t.Errorf("%d processing log rows after the resume, want %d", n, navi*len(trips))
	}
	t.Logf("paused after %d of %d (event, objective) pairs", logged, navi*len(trips))
}

// TestBatchFollowsAnotherInstancesSave: an achievement saved on one
// instance counts the events the other instance applies next, before that
// instance's periodic reload: its batch finds the stored configuration
// newer than its own, reloads and applies with the new objective.
func TestBatchFollowsAnotherInstancesSave(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := newInstance(t, url), newInstance(t, url)
	if _, err := a.engine.Save(t.Context(), reviewsConfig(), "operator"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.engine.Snapshot().Achievements["critic"]; ok {
		t.Fatal("instance b knows the new achievement already; the test needs it not to")
	}
	res, err := b.engine.ApplyBatch(t.Context(), []*busv1.EventRecord{reviewRecord("u1", "r1", "o1", active, 150)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.engine.Snapshot().Achievements["critic"]; !ok {
		t.Error("instance b did not reload")
	}
	if n := count(t, b.pool, `SELECT count(*) FROM awards.processing_log l JOIN awards.objectives o ON o.id = l.objective_id
		WHERE o.achievement_id = 'critic' AND l.outcome = 'applied'`); n != 1 {
		t.Errorf("the review counted %d times for the new achievement on instance b, want once (batch %+v)", n, res)
	}
	// An unchanged configuration costs no reload: a second batch applies
	// at once.
	before := b.engine.Snapshot()
	if _, err := b.engine.ApplyBatch(t.Context(), []*busv1.EventRecord{reviewRecord("u1", "r2", "o2", active, 150)}); err != nil {
		t.Fatal(err)
	}
	if b.engine.Snapshot() != before {
		t.Error("instance b reloaded although nothing changed")
	}
}

// BenchmarkInstances measures events applied end to end (published on
// EVENTS, fetched, applied in PostgreSQL, acknowledged) by one instance and
// by two instances sharing the durable consumers and the database. Each
// iteration runs both, one after the other, so that both see the same
// machine (its load from other work changes by the minute); the ratio is
// what the second instance adds. Both instances run in this process on one
// machine, so the ratio is bounded by the cores PostgreSQL and the engines
// share, not by the design.
func BenchmarkInstances(b *testing.B) {
	events := 30_000
	if testing.Short() {
		events = 6_000
	}
	recs := benchWorkload(events)
	var one, two float64 // events/s summed over iterations
	for range b.N {
		b.StopTimer()
		one += consumeWith(b, 1, recs)
		b.StopTimer()
		two += consumeWith(b, 2, recs)
	}
	b.ReportMetric(one/float64(b.N), "events/s-1-instance")
	b.ReportMetric(two/float64(b.N), "events/s-2-instances")
	b.ReportMetric(two/one, "ratio-2-to-1")
}

// consumeWith runs n instances' consuming workers on one fresh database and
// bus, publishes recs and returns the events per second from the start of
// publishing until every consumer has acknowledged everything.
func consumeWith(b *testing.B, n int, recs []*busv1.EventRecord) float64 {
	url := pgtest.NewDatabase(b)
	// On a 3-node JetStream cluster with the streams at R3, as in production.
	nats := bustest.NewCluster(b, 3)
	bs, err := bus.Open(context.Background(), bus.Config{URL: nats.URL(), Streams: bus.StreamsConfig{Replicas: 3}})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		wg        sync.WaitGroup
		consumers []*awards.Consumers
	)
	defer wg.Wait()
	for range n {
		in := newInstance(b, url)
		c := awards.NewConsumers(in.engine, bs.JetStream(), awards.ConsumersConfig{Batch: 1000, FetchWait: 20 * time.Millisecond, Reconcile: 10 * time.Millisecond})
		wg.Go(func() { _ = c.Run(ctx) })
		consumers = append(consumers, c)
	}
	for _, c := range consumers {
		waitFor(b, func() bool { return len(c.Sources()) == 3 })
	}
	b.StartTimer()
	start := time.Now()
	publish(b, bs, recs)
	for !drained(b, bs, consumers[0], sources) {
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	pool := newInstancePool(b, url)
	if got := count(b, pool, `SELECT count(DISTINCT record_id) FROM awards.processing_log`); got == 0 {
		b.Fatal("nothing applied")
	}
	return float64(len(recs)) / elapsed.Seconds()
}

func newInstancePool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

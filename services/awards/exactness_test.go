package awards_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// process is one awards process: an engine and its achievements worker on
// the shared database, stopped by cancelling its context as a crash would
// (open transactions roll back; a batch that committed but was not
// acknowledged is delivered again to the next process).
type process struct {
	engine *awards.Engine
	worker *awards.AchievementsWorker
	ctx    context.Context
	stop   context.CancelFunc
}

// exactnessWorkload is what the property test sends: per source a list of
// batches, in bus order, and the expected final state per user.
type exactnessWorkload struct {
	batches map[string][][]*busv1.EventRecord // source → batches
	seqs    map[string][][]uint64
	// photo, review: item → last status (bus order); place of each review
	photoStatus, reviewStatus map[[2]string]eventsv1.ContentStatus
	reviewPlace               map[[2]string]string
	metres                    map[string]float64
	events                    int
}

func newExactnessWorkload(rng *rand.Rand, users, events int) *exactnessWorkload {
	w := &exactnessWorkload{
		batches: map[string][][]*busv1.EventRecord{}, seqs: map[string][][]uint64{},
		photoStatus: map[[2]string]eventsv1.ContentStatus{}, reviewStatus: map[[2]string]eventsv1.ContentStatus{},
		reviewPlace: map[[2]string]string{}, metres: map[string]float64{}, events: events,
	}
	statuses := []eventsv1.ContentStatus{active, active, active, blocked, deleted, moderation}
	var seq uint64
	pending := map[string][]*busv1.EventRecord{}
	pendingSeqs := map[string][]uint64{}
	// Items with event times get increasing times; the others none, so
	// that their bus position orders them.
	untimed := func(item string) bool { return (item[len(item)-1]-'0')%2 == 0 }
	for i := range events {
		seq++
		user := fmt.Sprintf("u%03d", rng.IntN(users))
		var (
			rec    *busv1.EventRecord
			source string
		)
		switch rng.IntN(3) {
		case 0:
			source = "photos"
			item := fmt.Sprintf("p%d", rng.IntN(6))
			st := statuses[rng.IntN(len(statuses))]
			rec = photoRecord(user, item, st)
			w.photoStatus[[2]string{user, item}] = st
			if untimed(item) {
				rec.OccurredAt = nil
			}
		case 1:
			source = "reviews"
			item := fmt.Sprintf("r%d", rng.IntN(8))
			// Two reviews per place, so that places change hands.
			place := fmt.Sprintf("place-%d", len(item)+int(item[1]-'0')/2)
			st := statuses[rng.IntN(len(statuses))]
			rec = reviewRecord(user, item, place, st, 150)
			w.reviewStatus[[2]string{user, item}] = st
			w.reviewPlace[[2]string{user, item}] = place
			if untimed(item) {
				rec.OccurredAt = nil
			}
		default:
			source = "trips"
			m := int64(100 + rng.IntN(3000))
			rec = tripRecord(user, fmt.Sprintf("trip-%d", i), m)
			w.metres[user] += float64(m)
		}
		if rec.OccurredAt != nil {
			rec.OccurredAt = timestamppb.New(baseTime.Add(time.Duration(seq) * time.Millisecond))
		}
		// Idempotency keys whose order differs from the bus order.
		rec.Id = fmt.Sprintf("key-%d-%d", rng.IntN(1000), seq)
		pending[source] = append(pending[source], rec)
		pendingSeqs[source] = append(pendingSeqs[source], seq)
		if len(pending[source]) >= 1+rng.IntN(25) {
			w.batches[source] = append(w.batches[source], pending[source])
			w.seqs[source] = append(w.seqs[source], pendingSeqs[source])
			pending[source], pendingSeqs[source] = nil, nil
		}
	}
	for source, recs := range pending {
		if len(recs) > 0 {
			w.batches[source] = append(w.batches[source], recs)
			w.seqs[source] = append(w.seqs[source], pendingSeqs[source])
		}
	}
	return w
}

// objectives is the expected progress of each user's objectives of the
// starter achievements, by achievement and objective key.
func (w *exactnessWorkload) objectives(user string) map[string]map[string]float64 {
	var photos, reviews float64
	places := map[string]bool{}
	for k, st := range w.photoStatus {
		if k[0] == user && st == active {
			photos++
		}
	}
	for k, st := range w.reviewStatus {
		if k[0] == user && st == active {
			reviews++
			places[w.reviewPlace[k]] = true
		}
	}
	m := w.metres[user]
	return map[string]map[string]float64{
		"local-guide":         {"photo": photos, "reviews": reviews, "navi": m},
		"navigator-10km":      {"navi": m},
		"photos-and-reviews":  {"photo": photos, "reviews": reviews},
		"reviews-or-photos":   {"reviews": reviews, "photo": photos},
		"thoughtful-reviewer": {"reviews": float64(len(places))},
	}
}

// TestProgressExactUnderConcurrencyAndRestarts is the exactness property:
// three sources apply their batches concurrently, every commit delayed at
// random, achievements cycles run meanwhile (their horizon delayed at
// random too), and the process is "killed" and restarted at random
// moments; a batch whose process died is delivered again, as JetStream
// does. At the end every objective equals what the events say, every
// objective's counters equal its ledger, and every user achievement equals
// a full fold of its objectives.
func TestProgressExactUnderConcurrencyAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) { checkExactness(t, seed) })
	}
}

func checkExactness(t *testing.T, seed uint64) {
	env := newEngineEnv(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	// Few users, so that sources often write the same user's objectives
	// while a cycle folds them.
	const users, events = 8, 3000
	w := newExactnessWorkload(rng, users, events)

	env.store.SetHooks(
		func() { time.Sleep(time.Duration(rand.IntN(8000)) * time.Microsecond) },
		func() { time.Sleep(time.Duration(rand.IntN(8000)) * time.Microsecond) },
	)
	var (
		mu        sync.Mutex
		current   *process
		restarts  atomic.Int64
		retried   atomic.Int64
		redeliver atomic.Int64
	)
	start := func() {
		e := awards.NewEngine(awards.EngineConfig{Store: env.store, Schemas: schemas, Logger: quiet})
		if err := e.Reload(t.Context()); err != nil {
			t.Error(err)
			return
		}
		ctx, cancel := context.WithCancel(t.Context())
		mu.Lock()
		current = &process{engine: e, worker: awards.NewAchievementsWorker(e, awards.AchievementsWorkerConfig{Batch: 200}), ctx: ctx, stop: cancel}
		mu.Unlock()
	}
	proc := func() *process { mu.Lock(); defer mu.Unlock(); return current }
	start()

	done := make(chan struct{})
	var wg sync.WaitGroup
	for source, batches := range w.batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, batch := range batches {
				opts := awards.ApplyOptions{Sequences: w.seqs[source][i]}
				for {
					p := proc()
					_, err := p.engine.ApplyBatchWith(p.ctx, batch, opts)
					if err == nil {
						break
					}
					if p.ctx.Err() == nil && !errors.Is(err, context.Canceled) {
						t.Errorf("%s batch %d: %v", source, i, err)
						return
					}
					retried.Add(1) // the process died: delivered again to the next one
					for proc() == p {
						time.Sleep(time.Millisecond)
					}
				}
				// Now and then an acknowledgement is lost: the batch
				// comes again (after later ones of other sources).
				if rand.IntN(10) == 0 {
					p := proc()
					if _, err := p.engine.ApplyBatchWith(p.ctx, batch, opts); err == nil {
						redeliver.Add(1)
					}
				}
			}
		}()
	}
	var (
		cycles            sync.WaitGroup
		snapshots, folded atomic.Int64
	)
	cycles.Add(3)
	go func() { // the invariant, checked on consistent snapshots meanwhile
		defer cycles.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(rand.IntN(5)) * time.Millisecond):
			}
			n, err := checkFoldedRows(t, env, proc().engine.Snapshot())
			if err != nil {
				t.Error(err)
				return
			}
			snapshots.Add(1)
			folded.Add(int64(n))
		}
	}()
	go func() { // achievements cycles
		defer cycles.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			p := proc()
			if _, err := p.worker.Cycle(p.ctx); err != nil && p.ctx.Err() == nil {
				t.Errorf("cycle: %v", err)
				return
			}
		}
	}()
	go func() { // crashes and restarts
		defer cycles.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(100+rand.IntN(400)) * time.Millisecond):
			}
			proc().stop()
			restarts.Add(1)
			start()
		}
	}()
	wg.Wait()
	close(done)
	cycles.Wait()
	if t.Failed() {
		return
	}

	// A last process catches up.
	env.store.SetHooks(nil, nil)
	start()
	env.worker = proc().worker
	env.engine = proc().engine
	env.cycle(t)

	drifts, err := env.engine.Reconcile(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drifts {
		t.Errorf("counters differ from the ledger: %+v", d)
	}
	stored := storedObjectives(t, env)
	cfg := env.engine.Snapshot()
	var objectivesChecked, achievementsChecked int
	for u := range users {
		user := fmt.Sprintf("u%03d", u)
		want := w.objectives(user)
		for id, keys := range want {
			for key, v := range keys {
				objectivesChecked++
				if got := stored[[3]string{user, id, key}]; math.Abs(got-v) > 1e-9 {
					t.Errorf("%s %s/%s: stored progress %v, the events say %v", user, id, key, got, v)
				}
			}
			a := cfg.Achievements[id]
			value, _ := a.Strategy.Evaluate(keys)
			value = math.Round(value*1e9) / 1e9
			got, completed := env.achievement(t, user, id)
			achievementsChecked++
			if math.Abs(got-value) > 1e-9 {
				t.Errorf("%s %s: achievement progress %v, a full fold of its objectives gives %v (objectives %v)", user, id, got, value, keys)
			}
			if a.Policy() == awards.PolicyRevocable && completed != (value >= a.Strategy.Goal()) {
				t.Errorf("%s %s (revocable): completed %v at progress %v of %v", user, id, completed, value, a.Strategy.Goal())
			}
			if value >= a.Strategy.Goal() && !completed {
				t.Errorf("%s %s: progress %v meets the goal %v but is not completed", user, id, value, a.Strategy.Goal())
			}
		}
	}
	t.Logf("seed %d: %d events in %d+%d+%d batches over 3 sources; %d restarts, %d batches delivered again after a crash, %d redelivered after a lost ack; "+
		"%d snapshots during the run checked %d folded user achievements; at the end %d objectives and %d user achievements checked, %d ledger drifts",
		seed, w.events, len(w.batches["photos"]), len(w.batches["reviews"]), len(w.batches["trips"]),
		restarts.Load(), retried.Load(), redeliver.Load(), snapshots.Load(), folded.Load(), objectivesChecked, achievementsChecked, len(drifts))
}

// storedObjectives reads every user objective's progress by (user,
// achievement, objective key).
func storedObjectives(t *testing.T, env *engineEnv) map[[3]string]float64 {
	t.Helper()
	rows, err := env.pool.Query(t.Context(), `
		SELECT uo.user_id, o.achievement_id, o.key, uo.progress
		FROM awards.user_objectives uo JOIN awards.objectives o ON o.id = uo.objective_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[[3]string]float64{}
	for rows.Next() {
		var (
			k [3]string
			p float64
		)
		if err := rows.Scan(&k[0], &k[1], &k[2], &p); err != nil {
			t.Fatal(err)
		}
		out[k] = p
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkFoldedRows checks, on one consistent snapshot, the invariant the
// achievements worker keeps at every commit: a user achievement includes
// every objective row at or below its version. So where no objective of a
// user achievement has a higher version than it (nothing is pending), its
// progress is the fold of its objectives' progress. It returns how many
// user achievements it could check.
func checkFoldedRows(t *testing.T, env *engineEnv, cfg *awards.Snapshot) (int, error) {
	tx, err := env.pool.BeginTx(t.Context(), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	type objective struct {
		progress float64
		version  int64
	}
	objectives := map[[3]string]objective{}
	rows, err := tx.Query(t.Context(), `
		SELECT uo.user_id, o.achievement_id, o.key, uo.progress, uo.version
		FROM awards.user_objectives uo JOIN awards.objectives o ON o.id = uo.objective_id`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var (
			k [3]string
			o objective
		)
		if err := rows.Scan(&k[0], &k[1], &k[2], &o.progress, &o.version); err != nil {
			return 0, err
		}
		objectives[k] = o
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	rows, err = tx.Query(t.Context(), `SELECT user_id, achievement_id, progress, version FROM awards.user_achievements`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	checked := 0
	for rows.Next() {
		var (
			user, id string
			progress float64
			version  int64
		)
		if err := rows.Scan(&user, &id, &progress, &version); err != nil {
			return checked, err
		}
		a := cfg.Achievements[id]
		keys := map[string]float64{}
		pending := false
		for _, o := range a.Objectives {
			st := objectives[[3]string{user, id, o.Key}]
			keys[o.Key] = st.progress
			pending = pending || st.version > version
		}
		if pending {
			continue
		}
		checked++
		value, _ := a.Strategy.Evaluate(keys)
		if value = math.Round(value*1e9) / 1e9; math.Abs(value-progress) > 1e-9 {
			t.Errorf("%s %s at version %d: progress %v, but its objectives (none newer) fold to %v: %v", user, id, version, progress, value, keys)
		}
	}
	return checked, rows.Err()
}

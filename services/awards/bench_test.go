package awards_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// benchWorkload is n events of 10,000 users: photo and review status
// changes (with reversals) and navigator trips, each counted by two to four
// starter objectives.
func benchWorkload(n int) []*busv1.EventRecord {
	r := rand.New(rand.NewPCG(1, 2))
	statuses := []int32{1, 2, 2, 2, 3}
	recs := make([]*busv1.EventRecord, n)
	for i := range recs {
		user := "u" + strconv.Itoa(r.IntN(10_000))
		switch r.IntN(3) {
		case 0:
			recs[i] = photoRecord(user, "p"+strconv.Itoa(r.IntN(50)), contentStatus(statuses[r.IntN(len(statuses))]))
		case 1:
			recs[i] = reviewRecord(user, "r"+strconv.Itoa(r.IntN(50)), "o"+strconv.Itoa(r.IntN(20)), contentStatus(statuses[r.IntN(len(statuses))]), int32(50+r.IntN(200)))
		default:
			recs[i] = tripRecord(user, "t"+strconv.Itoa(i), int64(r.IntN(20_000)))
		}
	}
	return recs
}

// BenchmarkConsumeFromBus measures events applied end to end: published on
// EVENTS, fetched by the consuming workers, applied to ledger, counters and
// processing log in PostgreSQL and acknowledged. The baseline in the same
// run reads and acknowledges the same messages with a bare JetStream
// consumer, so the ratio is what the awards work costs on top of the bus.
func BenchmarkConsumeFromBus(b *testing.B) {
	const events = 60_000
	recs := benchWorkload(events)

	var baseline float64
	b.Run("baseline=bus-only", func(b *testing.B) {
		for range b.N {
			bs := bustest.New(b)
			publish(b, bs, recs)
			b.ResetTimer()
			start := time.Now()
			readAll(b, bs, events)
			baseline = float64(events) / time.Since(start).Seconds()
			b.StopTimer()
		}
		b.ReportMetric(baseline, "events/s")
	})
	b.Run("awards", func(b *testing.B) {
		var rate float64
		for range b.N {
			b.StopTimer()
			env := newEngineEnv(b)
			bs := bustest.New(b)
			c := awards.NewConsumers(env.engine, bs.JetStream(), awards.ConsumersConfig{Batch: 1000, FetchWait: 20 * time.Millisecond, Reconcile: 10 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = c.Run(ctx) })
			waitFor(b, func() bool { return len(c.Sources()) == 3 })
			// Consumers start at new messages: publish after they exist,
			// then measure from the first to the last committed batch.
			publish(b, bs, recs)
			b.StartTimer()
			start := time.Now()
			for !drained(b, bs, c, sources) {
				time.Sleep(2 * time.Millisecond)
			}
			rate = float64(events) / time.Since(start).Seconds()
			b.StopTimer()
			cancel()
			wg.Wait()
			if n := count(b, env.pool, `SELECT count(DISTINCT record_id) FROM awards.processing_log`); n == 0 {
				b.Fatal("nothing applied")
			}
		}
		b.ReportMetric(rate, "events/s")
		if baseline > 0 {
			b.ReportMetric(rate/baseline, "ratio-to-bus-only")
		}
	})
}

// readAll reads n messages with a bare pull consumer, acknowledging each
// batch.
func readAll(b *testing.B, bs *bus.Bus, n int) {
	b.Helper()
	cons, err := bs.JetStream().CreateConsumer(b.Context(), bus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "bench", AckPolicy: jetstream.AckAllPolicy, MaxAckPending: 4000,
	})
	if err != nil {
		b.Fatal(err)
	}
	for read := 0; read < n; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		var last jetstream.Msg
		for m := range batch.Messages() {
			last = m
			read++
		}
		if last != nil {
			if err := last.Ack(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAchievementsCycle measures one achievements-worker cycle that
// finds and recomputes 1,000 changed user achievements, on a table of
// user objectives of the size in $AWARDS_BENCH_ROWS (default 10,000,000),
// against the same cycle on a table of 10,000 rows in the same run: a
// ratio near 1 shows the cycle's cost follows the changes, not the table.
func BenchmarkAchievementsCycle(b *testing.B) {
	rows := 10_000_000
	if s := os.Getenv("AWARDS_BENCH_ROWS"); s != "" {
		var err error
		if rows, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	var baseline time.Duration
	for _, size := range []int{10_000, rows} {
		b.Run(fmt.Sprintf("rows=%d", size), func(b *testing.B) {
			env := newEngineEnv(b)
			users := seedUserObjectives(b, env, size)
			r := rand.New(rand.NewPCG(3, 4))
			var total time.Duration
			for range b.N {
				b.StopTimer()
				changeAchievements(b, env, r, users, 1000)
				b.StartTimer()
				start := time.Now()
				res, err := env.worker.Cycle(b.Context())
				total += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if res.Recomputed != 1000 {
					b.Fatalf("recomputed %d user achievements, want 1000", res.Recomputed)
				}
			}
			per := total / time.Duration(b.N)
			b.ReportMetric(float64(per.Microseconds())/1000, "ms/cycle")
			if size == 10_000 {
				baseline = per
			} else if baseline > 0 {
				b.ReportMetric(float64(per)/float64(baseline), "ratio-to-10k-rows")
			}
		})
	}
}

// seedUserObjectives fills user_objectives with about size rows (every
// starter objective for size/objectives users), moves the worker's cursor
// past them and returns the number of users.
func seedUserObjectives(b *testing.B, env *engineEnv, size int) int {
	b.Helper()
	objectives := count(b, env.pool, `SELECT count(*) FROM awards.objectives WHERE active`)
	users := size / objectives
	ctx := b.Context()
	const chunk = 200_000
	for from := 1; from <= users; from += chunk {
		to := min(from+chunk-1, users)
		if _, err := env.pool.Exec(ctx, `
			INSERT INTO awards.user_objectives (user_id, objective_id, counters, progress, version)
			SELECT 'u' || u, o.id, '{"count": 1}', 1, nextval('awards.progress_version_seq')
			FROM generate_series($1::int, $2::int) u CROSS JOIN awards.objectives o WHERE o.active`, from, to); err != nil {
			b.Fatal(err)
		}
	}
	// Every user achievement exists and is up to date: the worker's
	// cursor stands at the sequence's last value.
	for from := 1; from <= users; from += chunk {
		to := min(from+chunk-1, users)
		if _, err := env.pool.Exec(ctx, `
			INSERT INTO awards.user_achievements (user_id, achievement_id, progress, goal, version)
			SELECT 'u' || u, a.id, 0, a.goal, (SELECT last_value FROM awards.progress_version_seq)
			FROM generate_series($1::int, $2::int) u CROSS JOIN awards.achievements a`, from, to); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO awards.worker_cursors (name, position) SELECT 'achievements', last_value FROM awards.progress_version_seq
		 ON CONFLICT (name) DO UPDATE SET position = excluded.position`,
		`VACUUM ANALYZE awards.user_objectives`, `VACUUM ANALYZE awards.user_achievements`,
	} {
		if _, err := env.pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	if res := env.cycle(b); res.Changed != 0 {
		b.Fatalf("the seeded state is not caught up: %+v", res)
	}
	return users
}

// changeAchievements bumps one objective of n distinct random users, as a
// consuming worker would: a new version each, under the writers' lock.
func changeAchievements(b *testing.B, env *engineEnv, r *rand.Rand, users, n int) {
	b.Helper()
	picked := map[string]bool{}
	var ids []string
	for len(ids) < n {
		u := "u" + strconv.Itoa(1+r.IntN(users))
		if !picked[u] {
			picked[u] = true
			ids = append(ids, u)
		}
	}
	tx, err := env.pool.Begin(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(b.Context(), awards.SQLProgressBarrierShared, int32(awards.LockClassProgress)); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Exec(b.Context(), `
		UPDATE awards.user_objectives uo SET progress = uo.progress + 1,
			counters = jsonb_build_object('count', uo.progress + 1), version = nextval('awards.progress_version_seq')
		FROM awards.objectives o
		WHERE o.id = uo.objective_id AND o.achievement_id = 'navigator-10km' AND uo.user_id = ANY($1)`, ids); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(b.Context()); err != nil {
		b.Fatal(err)
	}
}

// contentStatus converts a number to the event enum.
func contentStatus(n int32) eventsv1.ContentStatus { return eventsv1.ContentStatus(n) }

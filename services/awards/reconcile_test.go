package awards_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
)

// randomWorkload returns events over a few users with status reversals,
// then a delivery of them with duplicates, in a shuffled order.
func randomWorkload(r *rand.Rand, n int) []*busv1.EventRecord {
	statuses := []eventsv1.ContentStatus{
		eventsv1.ContentStatus_CONTENT_STATUS_MODERATION, eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE,
		eventsv1.ContentStatus_CONTENT_STATUS_BLOCKED, eventsv1.ContentStatus_CONTENT_STATUS_HIDDEN,
		eventsv1.ContentStatus_CONTENT_STATUS_DELETED,
	}
	var events []*busv1.EventRecord
	for range n {
		user := fmt.Sprintf("u%d", r.IntN(4))
		switch r.IntN(3) {
		case 0:
			events = append(events, photoRecord(user, fmt.Sprintf("p%d", r.IntN(8)), statuses[r.IntN(len(statuses))]))
		case 1:
			events = append(events, reviewRecord(user, fmt.Sprintf("r%d", r.IntN(8)), fmt.Sprintf("o%d", r.IntN(4)),
				statuses[r.IntN(len(statuses))], int32(90+r.IntN(20))))
		default:
			events = append(events, tripRecord(user, fmt.Sprintf("t%d", r.IntN(1000)), int64(r.IntN(3000))))
		}
	}
	delivery := append([]*busv1.EventRecord(nil), events...)
	for range n / 3 {
		delivery = append(delivery, events[r.IntN(len(events))]) // redelivery
	}
	r.Shuffle(len(delivery), func(i, j int) { delivery[i], delivery[j] = delivery[j], delivery[i] })
	return delivery
}

// TestIncrementalEqualsRecomputeFromLedger: for random event sequences with
// duplicates, reordering and status reversals, applied in random batches,
// the counters equal a full recomputation from the ledger; and the
// achievements equal their strategies over those counters.
func TestIncrementalEqualsRecomputeFromLedger(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			env := newEngineEnv(t)
			r := rand.New(rand.NewPCG(seed, 42))
			delivery := randomWorkload(r, 250)
			for len(delivery) > 0 {
				n := min(1+r.IntN(40), len(delivery))
				if _, err := env.engine.ApplyBatch(t.Context(), delivery[:n]); err != nil {
					t.Fatal(err)
				}
				delivery = delivery[n:]
				if r.IntN(3) == 0 {
					env.cycle(t)
				}
			}
			env.cycle(t)
			drifts, err := env.engine.Reconcile(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range drifts {
				t.Errorf("drift: %+v", d)
			}
			if n := count(t, env.pool, `SELECT count(*) FROM awards.user_objectives`); n == 0 {
				t.Fatal("the workload moved nothing; the property was not exercised")
			}
			checkAchievementsFollowStrategies(t, env)
		})
	}
}

// checkAchievementsFollowStrategies recomputes every user achievement from
// its objectives' stored progress with the strategy.
func checkAchievementsFollowStrategies(t *testing.T, env *engineEnv) {
	t.Helper()
	cfg := env.engine.Config()
	rows, err := env.pool.Query(t.Context(), `
		SELECT ua.user_id, ua.achievement_id, ua.progress, jsonb_object_agg(o.key, coalesce(uo.progress, 0))
		FROM awards.user_achievements ua
		JOIN awards.objectives o ON o.achievement_id = ua.achievement_id AND o.active
		LEFT JOIN awards.user_objectives uo ON uo.user_id = ua.user_id AND uo.objective_id = o.id
		GROUP BY 1, 2, 3`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			user, id string
			stored   float64
			progress map[string]float64
		)
		if err := rows.Scan(&user, &id, &stored, &progress); err != nil {
			t.Fatal(err)
		}
		want, _ := cfg.Achievements[id].Strategy.Evaluate(progress)
		if d := want - stored; d > 1e-6 || d < -1e-6 {
			t.Errorf("%s %s: stored progress %v, strategy over objectives %v gives %v", user, id, stored, progress, want)
		}
		n++
	}
	if n == 0 {
		t.Error("no user achievements to check")
	}
}

func TestReconcileReportsTheCorruptedRow(t *testing.T) {
	env := newEngineEnv(t)
	env.apply(t, photoRecord("u1", "p1", active), photoRecord("u1", "p2", active), photoRecord("u2", "p3", active))
	if _, err := env.pool.Exec(t.Context(), `
		UPDATE awards.user_objectives uo SET counters = '{"active": 5}'
		FROM awards.objectives o WHERE o.id = uo.objective_id AND uo.user_id = 'u1'
		AND o.achievement_id = 'photos-and-reviews' AND o.key = 'photo'`); err != nil {
		t.Fatal(err)
	}
	drifts, err := env.engine.Reconcile(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(drifts) != 1 {
		t.Fatalf("drifts = %+v, want exactly the corrupted row", drifts)
	}
	d := drifts[0]
	if d.UserID != "u1" || d.AchievementID != "photos-and-reviews" || d.ObjectiveKey != "photo" ||
		d.Stored["active"] != 5 || d.Recomputed["active"] != 2 {
		t.Errorf("drift = %+v, want u1 photos-and-reviews photo stored 5 recomputed 2", d)
	}
}

package awards_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/services/awards"
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
	cfg := env.engine.Snapshot()
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

// reconcileEnv is an engine env where u1 has three active photos and u2
// one, folded into their achievements: for u1, photos-and-reviews 3 of 10
// (revocable), reviews-or-photos 3 of 3 completed (sticky) and local-guide
// 3 of 15 (revocable).
func reconcileEnv(t *testing.T) *engineEnv {
	t.Helper()
	env := newEngineEnv(t)
	env.apply(t, photoRecord("u1", "p1", active), photoRecord("u1", "p2", active), photoRecord("u1", "p3", active),
		photoRecord("u2", "p4", active))
	env.wantAchievement(t, "u1", "photos-and-reviews", 3, false)
	env.wantAchievement(t, "u1", "reviews-or-photos", 3, true)
	env.wantAchievement(t, "u1", "local-guide", 3, false)
	return env
}

// exec runs SQL that corrupts the store, failing unless it changed a row.
func exec(t *testing.T, env *engineEnv, sql string, args ...any) {
	t.Helper()
	tag, err := env.pool.Exec(t.Context(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() == 0 {
		t.Fatalf("%s changed no row", sql)
	}
}

// sqlObjectiveOfU1 picks u1's user objective uo of achievement $1, key $2.
const sqlObjectiveOfU1 = `FROM awards.objectives o WHERE o.id = uo.objective_id AND uo.user_id = 'u1' AND o.achievement_id = $1 AND o.key = $2`

func reconcileWith(t *testing.T, env *engineEnv, opts awards.ReconcileOptions) awards.ReconcileReport {
	t.Helper()
	rep, err := env.engine.ReconcileWith(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestReconcileEachLevel corrupts one stored value per level directly in
// SQL and checks that reconcile reports exactly that drift with its stored
// and expected values, that repair writes the expected value and counts
// it, and that reconcile then reports nothing, before and after the
// achievements worker refolds.
func TestReconcileEachLevel(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, env *engineEnv)
		want    awards.Drift
		count   func(c awards.DriftCounts) int
		after   func(t *testing.T, env *engineEnv) // checks the repaired state
	}{{
		name: "counters",
		corrupt: func(t *testing.T, env *engineEnv) {
			exec(t, env, `UPDATE awards.user_objectives uo SET counters = '{"active": 5}' `+sqlObjectiveOfU1, "photos-and-reviews", "photo")
		},
		want:  awards.Drift{Level: awards.LevelCounters, ObjectiveKey: "photo", Stored: awards.Deltas{"active": 5}, Recomputed: awards.Deltas{"active": 3}},
		count: func(c awards.DriftCounts) int { return c.Counters },
		after: func(t *testing.T, env *engineEnv) {
			var counters string
			if err := env.pool.QueryRow(t.Context(), `SELECT uo.counters::text FROM awards.user_objectives uo JOIN awards.objectives o ON o.id = uo.objective_id WHERE uo.user_id = 'u1' AND o.achievement_id = $1 AND o.key = $2`, "photos-and-reviews", "photo").Scan(&counters); err != nil {
				t.Fatal(err)
			}
			if counters != `{"active": 3}` {
				t.Errorf("repaired counters %s, want 3 active", counters)
			}
		},
	}, {
		name: "objective progress",
		corrupt: func(t *testing.T, env *engineEnv) {
			exec(t, env, `UPDATE awards.user_objectives uo SET progress = 7 `+sqlObjectiveOfU1, "photos-and-reviews", "photo")
		},
		want:  awards.Drift{Level: awards.LevelObjectiveProgress, ObjectiveKey: "photo", StoredProgress: 7, ExpectedProgress: 3},
		count: func(c awards.DriftCounts) int { return c.ObjectiveProgress },
		after: func(t *testing.T, env *engineEnv) {
			if n := count(t, env.pool, `SELECT count(*) FROM awards.user_objectives uo JOIN awards.objectives o ON o.id = uo.objective_id WHERE uo.user_id = 'u1' AND o.achievement_id = $1 AND o.key = $2 AND uo.progress = 3`, "photos-and-reviews", "photo"); n != 1 {
				t.Error("objective progress not repaired to 3")
			}
		},
	}, {
		// The stale achievement: progress lower than its
		// objectives give, with a version that covers them.
		name: "achievement progress",
		corrupt: func(t *testing.T, env *engineEnv) {
			exec(t, env, `UPDATE awards.user_achievements SET progress = 2 WHERE user_id = 'u1' AND achievement_id = 'local-guide'`)
		},
		want:  awards.Drift{Level: awards.LevelAchievementProgress, AchievementID: "local-guide", StoredProgress: 2, ExpectedProgress: 3, StoredGoal: 15, ExpectedGoal: 15},
		count: func(c awards.DriftCounts) int { return c.AchievementProgress },
		after: func(t *testing.T, env *engineEnv) { env.wantAchievement(t, "u1", "local-guide", 3, false) },
	}, {
		name: "achievement goal",
		corrupt: func(t *testing.T, env *engineEnv) {
			exec(t, env, `UPDATE awards.user_achievements SET goal = 12 WHERE user_id = 'u1' AND achievement_id = 'photos-and-reviews'`)
		},
		want:  awards.Drift{Level: awards.LevelAchievementProgress, StoredProgress: 3, ExpectedProgress: 3, StoredGoal: 12, ExpectedGoal: 10},
		count: func(c awards.DriftCounts) int { return c.AchievementProgress },
		after: func(t *testing.T, env *engineEnv) {
			if n := count(t, env.pool, `SELECT count(*) FROM awards.user_achievements WHERE user_id = 'u1' AND achievement_id = 'photos-and-reviews' AND goal = 10`); n != 1 {
				t.Error("goal not repaired to 10")
			}
		},
	}, {
		name: "missing user achievement",
		corrupt: func(t *testing.T, env *engineEnv) {
			exec(t, env, `DELETE FROM awards.user_achievements WHERE user_id = 'u1' AND achievement_id = 'local-guide'`)
		},
		want:  awards.Drift{Level: awards.LevelAchievementProgress, AchievementID: "local-guide", Missing: true, ExpectedProgress: 3, ExpectedGoal: 15},
		count: func(c awards.DriftCounts) int { return c.AchievementProgress },
		after: func(t *testing.T, env *engineEnv) { env.wantAchievement(t, "u1", "local-guide", 3, false) },
	}, {
		// A revocable achievement completed below its goal is revoked,
		// with a notification.
		name: "completion revocable",
		corrupt: func(t *testing.T, env *engineEnv) {
			exec(t, env, `UPDATE awards.user_achievements SET completed_at = now() WHERE user_id = 'u1' AND achievement_id = 'photos-and-reviews'`)
		},
		want:  awards.Drift{Level: awards.LevelCompletion, StoredCompleted: true, ExpectedCompleted: false},
		count: func(c awards.DriftCounts) int { return c.Completion },
		after: func(t *testing.T, env *engineEnv) {
			env.wantAchievement(t, "u1", "photos-and-reviews", 3, false)
			if got := fmt.Sprint(env.outbox(t)); got != "[granted u1 reviews-or-photos revoked u1 photos-and-reviews]" {
				t.Errorf("outbox %s, want the repair's revocation after the first grant", got)
			}
		},
	}, {
		// A sticky achievement at its goal but not completed is granted,
		// with a notification.
		name: "completion sticky",
		corrupt: func(t *testing.T, env *engineEnv) {
			exec(t, env, `UPDATE awards.user_achievements SET completed_at = NULL WHERE user_id = 'u1' AND achievement_id = 'reviews-or-photos'`)
		},
		want:  awards.Drift{Level: awards.LevelCompletion, AchievementID: "reviews-or-photos", StoredCompleted: false, ExpectedCompleted: true},
		count: func(c awards.DriftCounts) int { return c.Completion },
		after: func(t *testing.T, env *engineEnv) {
			env.wantAchievement(t, "u1", "reviews-or-photos", 3, true)
			if got := fmt.Sprint(env.outbox(t)); got != "[granted u1 reviews-or-photos granted u1 reviews-or-photos]" {
				t.Errorf("outbox %s, want the repair's grant after the first", got)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := reconcileEnv(t)
			if rep := reconcileWith(t, env, awards.ReconcileOptions{}); len(rep.Drifts) != 0 {
				t.Fatalf("drifts before corruption: %+v", rep.Drifts)
			}
			tt.corrupt(t, env)
			want := tt.want
			want.UserID = "u1"
			if want.AchievementID == "" {
				want.AchievementID = "photos-and-reviews"
			}

			rep := reconcileWith(t, env, awards.ReconcileOptions{})
			t.Logf("found: %d drifts %+v over %d users, %d pending", len(rep.Drifts), rep.Found, rep.Users, rep.Pending)
			if len(rep.Drifts) != 1 || !reflect.DeepEqual(rep.Drifts[0], want) {
				t.Fatalf("drifts = %+v\nwant exactly %+v", rep.Drifts, want)
			}
			if tt.count(rep.Found) != 1 || rep.Found.Total() != 1 || rep.Users != 2 {
				t.Errorf("found %+v over %d users, want 1 at the level over 2 users", rep.Found, rep.Users)
			}
			if one := reconcileWith(t, env, awards.ReconcileOptions{UserID: "u2"}); len(one.Drifts) != 0 || one.Users != 1 {
				t.Errorf("u2 alone: %+v", one)
			}

			rep = reconcileWith(t, env, awards.ReconcileOptions{Repair: true})
			t.Logf("repair: %+v, repaired %+v", rep.Drifts, rep.Repaired)
			want.Repaired = true
			if len(rep.Drifts) != 1 || !reflect.DeepEqual(rep.Drifts[0], want) || tt.count(rep.Repaired) != 1 || rep.Repaired.Total() != 1 {
				t.Fatalf("repair: drifts %+v repaired %+v, want exactly %+v repaired once", rep.Drifts, rep.Repaired, want)
			}
			tt.after(t, env)

			rep = reconcileWith(t, env, awards.ReconcileOptions{})
			t.Logf("after repair: %d drifts, %d pending", len(rep.Drifts), rep.Pending)
			if len(rep.Drifts) != 0 {
				t.Errorf("drifts after repair: %+v", rep.Drifts)
			}
			env.cycle(t)
			tt.after(t, env)
			rep = reconcileWith(t, env, awards.ReconcileOptions{})
			t.Logf("after a cycle: %d drifts, %d pending", len(rep.Drifts), rep.Pending)
			if len(rep.Drifts) != 0 || rep.Pending != 0 {
				t.Errorf("after a cycle: drifts %+v, %d pending", rep.Drifts, rep.Pending)
			}
		})
	}
}

// TestReconcileStickyGrantBelowGoalIsNoDrift: a sticky achievement once
// granted stays granted, so completed below the goal is not a drift.
func TestReconcileStickyGrantBelowGoalIsNoDrift(t *testing.T) {
	env := reconcileEnv(t)
	exec(t, env, `UPDATE awards.user_achievements SET completed_at = now() WHERE user_id = 'u2' AND achievement_id = 'reviews-or-photos'`)
	if rep := reconcileWith(t, env, awards.ReconcileOptions{}); len(rep.Drifts) != 0 {
		t.Errorf("drifts: %+v", rep.Drifts)
	}
	// The same for a revocable achievement is a drift.
	exec(t, env, `UPDATE awards.user_achievements SET completed_at = now() WHERE user_id = 'u2' AND achievement_id = 'local-guide'`)
	if rep := reconcileWith(t, env, awards.ReconcileOptions{}); len(rep.Drifts) != 1 || rep.Found.Completion != 1 {
		t.Errorf("drifts: %+v, want the revocable one", rep.Drifts)
	}
}

// TestReconcileInactiveUsers: a banned user's counters are checked, their
// achievements are not (they have none to show or grant).
func TestReconcileInactiveUsers(t *testing.T) {
	env := reconcileEnv(t)
	exec(t, env, `INSERT INTO awards.users (user_id, status) VALUES ('u2', 'banned')`)
	exec(t, env, `UPDATE awards.user_achievements SET progress = 0.5 WHERE user_id = 'u2' AND achievement_id = 'local-guide'`)
	rep := reconcileWith(t, env, awards.ReconcileOptions{})
	t.Logf("%d drifts, %d inactive users", len(rep.Drifts), rep.InactiveUsers)
	if len(rep.Drifts) != 0 || rep.InactiveUsers != 1 {
		t.Errorf("drifts %+v, %d inactive users; want none and 1", rep.Drifts, rep.InactiveUsers)
	}
	exec(t, env, `UPDATE awards.user_objectives SET counters = '{"active": 2}' WHERE user_id = 'u2' AND progress = 1`)
	rep = reconcileWith(t, env, awards.ReconcileOptions{})
	if rep.Found.Counters == 0 || rep.Found.Total() != rep.Found.Counters {
		t.Errorf("found %+v, want the banned user's counters only", rep.Found)
	}
	rep = reconcileWith(t, env, awards.ReconcileOptions{Repair: true})
	if rep.Repaired.Counters != rep.Found.Counters {
		t.Errorf("repaired %+v of %+v", rep.Repaired, rep.Found)
	}
	if rep := reconcileWith(t, env, awards.ReconcileOptions{}); len(rep.Drifts) != 0 {
		t.Errorf("after repair: %+v", rep.Drifts)
	}
}

// TestRecomputeUserReportsWhatItChanged: a stale achievement and wrong
// counters are corrected and reported with their values before and after
// (recompute once answered corrected: 0 for a stale achievement).
func TestRecomputeUserReportsWhatItChanged(t *testing.T) {
	env := reconcileEnv(t)
	exec(t, env, `UPDATE awards.user_achievements SET progress = 2 WHERE user_id = 'u1' AND achievement_id = 'local-guide'`)
	exec(t, env, `UPDATE awards.user_objectives uo SET counters = '{"active": 9}' `+sqlObjectiveOfU1, "reviews-or-photos", "photo")
	rep, err := env.engine.RecomputeUser(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recompute: %+v repaired %+v, %d refreshed", rep.Drifts, rep.Repaired, rep.Refreshed)
	if rep.Repaired != (awards.DriftCounts{Counters: 1, AchievementProgress: 1}) || len(rep.Drifts) != 2 {
		t.Fatalf("repaired %+v, drifts %+v; want the counters and the achievement progress", rep.Repaired, rep.Drifts)
	}
	if d := rep.Drifts[0]; d.AchievementID != "local-guide" || d.StoredProgress != 2 || d.ExpectedProgress != 3 || !d.Repaired {
		t.Errorf("achievement drift %+v, want local-guide 2 → 3", d)
	}
	if d := rep.Drifts[1]; d.AchievementID != "reviews-or-photos" || d.Stored["active"] != 9 || d.Recomputed["active"] != 3 || !d.Repaired {
		t.Errorf("counters drift %+v, want 9 → 3", d)
	}
	if n := count(t, env.pool, `SELECT count(*) FROM awards.user_objectives WHERE user_id = 'u1'`); rep.Refreshed != n || n == 0 {
		t.Errorf("refreshed %d of u1's %d user objectives", rep.Refreshed, n)
	}
	env.wantAchievement(t, "u1", "local-guide", 3, false)
	env.cycle(t)
	env.wantAchievement(t, "u1", "local-guide", 3, false)
	env.wantAchievement(t, "u1", "reviews-or-photos", 3, true)
	if rep := reconcileWith(t, env, awards.ReconcileOptions{}); len(rep.Drifts) != 0 {
		t.Errorf("after recompute: %+v", rep.Drifts)
	}
	// Nothing to correct: recompute reports 0 and still refreshes.
	rep, err = env.engine.RecomputeUser(t.Context(), "u1")
	if err != nil || rep.Repaired.Total() != 0 || rep.Refreshed == 0 {
		t.Errorf("second recompute: %+v %v", rep, err)
	}
}

// TestReconcileReadsEveryoneInPages: reconcile of everyone reads users a
// page at a time and reaches the last one.
func TestReconcileReadsEveryoneInPages(t *testing.T) {
	env := newEngineEnv(t)
	var recs []*busv1.EventRecord
	for i := range 450 {
		recs = append(recs, photoRecord(fmt.Sprintf("user-%03d", i), fmt.Sprintf("p%d", i), active))
	}
	env.apply(t, recs...)
	exec(t, env, `UPDATE awards.user_achievements SET progress = 0 WHERE user_id = 'user-449' AND achievement_id = 'photos-and-reviews'`)
	exec(t, env, `UPDATE awards.user_achievements SET progress = 0 WHERE user_id = 'user-000' AND achievement_id = 'photos-and-reviews'`)
	rep := reconcileWith(t, env, awards.ReconcileOptions{})
	t.Logf("%d users checked, %d drifts", rep.Users, len(rep.Drifts))
	if rep.Users != 450 || len(rep.Drifts) != 2 || rep.Drifts[0].UserID != "user-000" || rep.Drifts[1].UserID != "user-449" {
		t.Errorf("%d users, drifts %+v; want 450 users and the first and last user's drift", rep.Users, rep.Drifts)
	}
}

// TestSavingANewGoalRefoldsUserAchievements: a changed strategy refolds
// every user achievement of the achievement, so the stored progress and
// goal follow the new strategy at the next cycle and reconcile (and the
// audit) see no drift.
func TestSavingANewGoalRefoldsUserAchievements(t *testing.T) {
	env := newEngineEnv(t)
	ctx := t.Context()
	env.apply(t, tripRecord("u1", "t1", 6000), tripRecord("u2", "t2", 12000))
	env.wantAchievement(t, "u2", "navigator-10km", 10, true)

	c := env.engine.Snapshot().Achievements["navigator-10km"].Config
	c.Strategy = json.RawMessage(`{"goal":20,"strategy":[{"objective_id":"navi","normalization_factor":0.001}]}`)
	res, err := env.engine.Save(ctx, c, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Refolded != 2 {
		t.Errorf("save = %+v, want changed and 2 user objectives refolded", res)
	}
	env.cycle(t)
	var goal float64
	if err := env.pool.QueryRow(ctx, `SELECT goal FROM awards.user_achievements WHERE user_id = 'u2' AND achievement_id = 'navigator-10km'`).Scan(&goal); err != nil {
		t.Fatal(err)
	}
	if goal != 20 {
		t.Errorf("u2's goal after the save = %v, want 20", goal)
	}
	env.wantAchievement(t, "u1", "navigator-10km", 6, false)
	env.wantAchievement(t, "u2", "navigator-10km", 12, true) // sticky: granted at 10 stays granted
	drifts, err := env.engine.Reconcile(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drifts {
		t.Errorf("drift after the save: %+v", d)
	}
	t.Logf("goal 10 → 20: %d user objectives refolded, %d drifts", res.Refolded, len(drifts))
}

package awards_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"

	"github.com/clickstream-dev/clickstream/services/awards"
)

// writeObjective plays a consuming worker's transaction by hand: it takes
// the writers' shared lock and a version for one user objective, and is
// left open for the test to commit.
func writeObjective(t *testing.T, env *engineEnv, user, achievement, key string, progress float64) (pgx.Tx, int64) {
	t.Helper()
	tx, err := env.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(t.Context(), awards.SQLProgressBarrierShared, int32(awards.LockClassProgress)); err != nil {
		t.Fatal(err)
	}
	var version int64
	err = tx.QueryRow(t.Context(), `
		INSERT INTO awards.user_objectives (user_id, objective_id, counters, progress, version)
		SELECT $1, id, jsonb_build_object('sum', $4::float8), $4, nextval('awards.progress_version_seq')
		FROM awards.objectives WHERE achievement_id = $2 AND key = $3
		RETURNING version`, user, achievement, key, progress).Scan(&version)
	if err != nil {
		t.Fatal(err)
	}
	return tx, version
}

// TestWorkerDoesNotMissOutOfOrderCommits: transaction A takes a lower
// version than B but commits after it. A cycle started after B committed
// must not move its cursor past A's version while A is open; it waits for
// A, and both achievements are recomputed.
func TestWorkerDoesNotMissOutOfOrderCommits(t *testing.T) {
	env := newEngineEnv(t)
	txA, va := writeObjective(t, env, "u1", "navigator-10km", "navi", 10000)
	txB, vb := writeObjective(t, env, "u2", "navigator-10km", "navi", 3000)
	if va >= vb {
		t.Fatalf("versions %d, %d: A must take the lower one", va, vb)
	}
	if err := txB.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		res awards.CycleResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := env.worker.Cycle(t.Context())
		done <- outcome{res, err}
	}()
	// The cycle must be waiting for A: its exclusive lock request is queued
	// behind A's shared lock. Wait for that state, deterministically.
	waitFor(t, func() bool {
		return count(t, env.pool, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND NOT granted`,
			int64(awards.LockClassProgress)) == 1
	})
	select {
	case o := <-done:
		t.Fatalf("the cycle finished while A was still open: %+v %v", o.res, o.err)
	default:
	}
	if err := txA.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.res.Changed != 2 || o.res.Recomputed != 2 || o.res.To < vb {
		t.Errorf("cycle = %+v, want both changes read and recomputed, cursor at %d or later", o.res, vb)
	}
	env.wantAchievement(t, "u1", "navigator-10km", 10, true)
	env.wantAchievement(t, "u2", "navigator-10km", 3, false)
	if res := env.cycle(t); res.Changed != 0 {
		t.Errorf("a second cycle read %d changes, want none", res.Changed)
	}
}

// TestWorkerCursorFollowsChanges: a cycle reads only what changed since the
// previous one, and a full batch leaves the rest for the next cycle.
func TestWorkerCursorFollowsChanges(t *testing.T) {
	env := newEngineEnv(t)
	worker := awards.NewAchievementsWorker(env.engine, awards.AchievementsWorkerConfig{Batch: 2})
	if _, err := env.engine.ApplyBatch(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	var recs = []string{"u1", "u2", "u3"}
	for _, u := range recs {
		if _, err := env.engine.ApplyBatch(t.Context(), []*busv1.EventRecord{tripRecord(u, "t-"+u, 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	// Each trip changes two objectives (local-guide and navigator-10km).
	first, err := worker.Cycle(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if first.Changed != 2 {
		t.Errorf("first cycle read %d changes, want a full batch of 2", first.Changed)
	}
	total := first.Changed
	for range 5 {
		res, err := worker.Cycle(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		total += res.Changed
	}
	if total != 6 {
		t.Errorf("cycles read %d changes in all, want 6", total)
	}
	for _, u := range recs {
		env.wantAchievement(t, u, "navigator-10km", 1, false)
		env.wantAchievement(t, u, "local-guide", 1, false)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStaleProgressFromAnotherSourcesLateCommit is the commit order that
// left an achievement stale: a cycle reads its horizon; then source A takes
// a version and stays open while source B takes a higher one and commits;
// the cycle folds what it sees (B, not A); A commits. Every later cycle
// must fold A in: the achievement ends equal to its objectives.
func TestStaleProgressFromAnotherSourcesLateCommit(t *testing.T) {
	env := newEngineEnv(t)
	tx0, v0 := writeObjective(t, env, "u1", "local-guide", "photo", 1)
	if err := tx0.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	var (
		txA    pgx.Tx
		va, vb int64
		once   bool
	)
	env.store.SetHooks(func() {
		if once {
			return
		}
		once = true
		txA, va = writeObjective(t, env, "u1", "local-guide", "reviews", 2)
		var txB pgx.Tx
		txB, vb = writeObjective(t, env, "u1", "local-guide", "navi", 3000)
		if err := txB.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
	}, nil)
	res, err := env.worker.Cycle(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !(v0 < va && va < vb) || res.To != v0 {
		t.Fatalf("versions photo %d, reviews %d, navi %d; cycle %+v: want the cycle's horizon at the photo's version", v0, va, vb, res)
	}
	// The cycle saw the photo and B's kilometres, not A's reviews.
	env.wantAchievement(t, "u1", "local-guide", 1+3, false)
	if err := txA.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	env.cycle(t)
	// min(photo 1 + reviews 2, 5) + min(3000 m × 0.001, 10)
	env.wantAchievement(t, "u1", "local-guide", 3+3, false)
	t.Logf("versions: photo %d (horizon), reviews %d (committed last), navi %d; local-guide after the cycles: 6", v0, va, vb)
}

package awards

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"
)

// AchievementsWorker recomputes the user achievements whose objectives
// changed. Every user objective write takes the next value of one global
// sequence; the worker keeps a cursor in that sequence and reads the rows
// above it through the version index, so a cycle costs what changed, not
// the size of the table.
//
// A writer may take a sequence value and commit after another writer that
// took a higher one. Reading "version > cursor" right then would see the
// higher row, move the cursor past the lower one and miss it for good. So
// writers hold a shared advisory lock for their transaction, and each cycle
// first takes that lock exclusively for a moment and reads the sequence's
// last value S: once the lock is granted no writer that took a value up to
// S is still open, and every later writer takes a value above S. The cycle
// then reads (cursor, S] and moves the cursor to S (or to the last row read
// when the batch was full).
//
// Several instances: every instance runs the worker, and the cursor row is
// the lock that makes them take turns. A cycle locks it FOR UPDATE SKIP
// LOCKED, so while one instance runs a cycle the others skip theirs
// (CycleResult.Busy) instead of queueing behind it with a connection idle
// in a transaction; there is no leader to elect or lose, and an instance
// that stops leaves the work to the others at their next interval. A cycle
// is sequential by nature (one cursor), so more instances do not make it
// faster; they make it survive the loss of one. A configuration saved on
// another instance since this one loaded its own (the stored generation
// moved, or a changed row names an objective it does not know) makes the
// cycle reload before it folds anything.
type AchievementsWorker struct {
	engine   *Engine
	batch    int
	interval time.Duration
	log      *slog.Logger
}

// AchievementsWorkerConfig configures the worker.
type AchievementsWorkerConfig struct {
	// Batch bounds the changed user objectives read per cycle; default 5000.
	Batch int
	// Interval is the pause after a cycle that found less than a full
	// batch; default 200ms.
	Interval time.Duration
}

// NewAchievementsWorker returns the worker for e.
func NewAchievementsWorker(e *Engine, cfg AchievementsWorkerConfig) *AchievementsWorker {
	if cfg.Batch <= 0 {
		cfg.Batch = 5000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	return &AchievementsWorker{engine: e, batch: cfg.Batch, interval: cfg.Interval, log: e.log.With("worker", "achievements")}
}

// CycleResult says what one cycle did.
type CycleResult struct {
	From, To   int64 // the cursor before and after
	Changed    int   // changed user objectives read
	Recomputed int   // user achievements written
	Granted    int
	Revoked    int
	// Held counts changed user objectives of banned or deleted users: not
	// folded until the user is active again.
	Held int
	// Busy is set when another instance held the cursor: this cycle did
	// nothing.
	Busy bool
}

// Cycle runs one cycle.
func (w *AchievementsWorker) Cycle(ctx context.Context) (CycleResult, error) {
	res, err := w.engine.store.recomputeChanged(ctx, w.engine.Snapshot(), w.batch, true)
	if errors.Is(err, errConfigChanged) || errors.Is(err, errUnknownObjective) {
		// Saved on another instance since this one last reloaded.
		if err := w.engine.Reload(ctx); err != nil {
			return res, err
		}
		res, err = w.engine.store.recomputeChanged(ctx, w.engine.Snapshot(), w.batch, false)
	}
	if err != nil {
		return res, err
	}
	m := w.engine.metrics
	m.recomputed.Add(float64(res.Recomputed))
	m.grants.WithLabelValues("granted").Add(float64(res.Granted))
	m.grants.WithLabelValues("revoked").Add(float64(res.Revoked))
	return res, nil
}

// Run cycles until ctx is done. Errors are logged and retried after the
// interval; a full batch is followed by the next cycle at once.
func (w *AchievementsWorker) Run(ctx context.Context) error {
	for {
		res, err := w.Cycle(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Error("achievements cycle failed", "err", err)
		}
		if err == nil && res.Changed >= w.batch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.interval):
		}
	}
}

// recomputation is one user achievement to recompute.
type recomputation struct {
	user        string
	achievement *CompiledAchievement
	// backfillID is set when a backfill caused the change; suppress when
	// its grants are not to be notified.
	backfillID int64
	suppress   bool
}

// userAchievementState is a stored user achievement.
type userAchievementState struct {
	progress, goal float64
	completed      bool
	version        int64
}

// userAchievementWrite is a user achievement to write.
type userAchievementWrite struct {
	user, achievement string
	progress, goal    float64
	version           int64
	complete, revoke  bool // set completed_at now / clear it
}

// fold computes a user achievement from its objectives' progress and
// decides the grant or revocation. version is the highest objective version
// the cycle may vouch for (at most its horizon). ok is false when the
// stored row already says all of it.
//
// The decision compares values, never versions alone. A cycle reads its
// objectives' progress after its horizon, so it may see a row another
// source committed later (version above the horizon) while a row of a
// third source with a version between the two is still uncommitted. Had
// the row stored that newer version and later cycles skipped every row
// whose version it covered, the slower row would never be folded in: the
// progress stayed stale with nothing to report it. Folding every changed
// row again costs one evaluation; the write happens only when something
// differs.
func fold(a *CompiledAchievement, progress map[string]float64, version int64, prev *userAchievementState) (w userAchievementWrite, kind string, ok bool) {
	value, _ := a.Strategy.Evaluate(progress)
	// Normalisation factors such as 0.001 are not exact in binary; round
	// away the noise so that 10,000 m make exactly 10 km.
	value = roundProgress(value)
	goal := a.Strategy.Goal()
	if prev != nil {
		version = max(version, prev.version)
	}
	w = userAchievementWrite{achievement: a.Config.ID, progress: value, goal: goal, version: version}
	completed := prev != nil && prev.completed
	switch {
	case value >= goal && !completed:
		w.complete, kind = true, "granted"
	case value < goal && completed && a.Policy() == PolicyRevocable:
		w.revoke, kind = true, "revoked"
	}
	if prev != nil && kind == "" && prev.progress == value && prev.goal == goal && prev.version == version {
		return w, "", false
	}
	return w, kind, true
}

// roundProgress rounds a folded progress to 1e-9, the precision progress is
// kept at.
func roundProgress(v float64) float64 { return math.Round(v*1e9) / 1e9 }

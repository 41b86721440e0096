package awards

import (
	"context"
	"log/slog"
	"time"
)

// The audit's defaults: 100 users every 10 seconds is 36,000 users an hour
// per instance, each a handful of indexed reads.
const (
	DefaultAuditInterval = 10 * time.Second
	DefaultAuditSample   = 100
)

// Audit reconciles a sample of users continuously, so a drift is seen
// without anyone asking: each round takes the next users in id order
// (round robin, wrapping around at the end, so every user is visited in
// turn), checks every level for them as reconcile does, adds each drift
// to clickstream_awards_drift_total{level} and logs it as an error. It
// repairs nothing: that is an operator's decision (reconcile --repair).
//
// The achievements worker's normal lag is not drift: a user sampled
// between an objective's commit and the cycle that folds it has a user
// achievement behind its objectives for a moment. Reconcile compares a
// user achievement only when all its objectives' versions are at or below
// the worker's cursor, read in the same snapshot (see Snapshot.compare), so
// the audit counts only what the worker should already have folded.
//
// Every instance runs its own audit from its own position; with several,
// users are sampled more often (a drift seen by two instances counts
// twice: alert on any increase, not on the number).
type Audit struct {
	engine   *Engine
	interval time.Duration
	sample   int
	log      *slog.Logger
	after    string // the last user of the previous round
}

// AuditConfig configures the audit. A zero Interval or Sample disables it.
type AuditConfig struct {
	// Interval is the pause between rounds.
	Interval time.Duration
	// Sample is the number of users per round.
	Sample int
}

// NewAudit returns the audit of e.
func NewAudit(e *Engine, cfg AuditConfig) *Audit {
	return &Audit{engine: e, interval: cfg.Interval, sample: cfg.Sample, log: e.log.With("worker", "audit")}
}

// AuditRound says what one round found.
type AuditRound struct {
	Users   int         // users checked
	Found   DriftCounts // drifts found, per level
	Pending int         // user achievements not compared yet: the worker's lag
}

// Round checks the next sample of users.
func (a *Audit) Round(ctx context.Context) (AuditRound, error) {
	users, err := a.engine.store.reconcileUsers(ctx, a.after, a.sample)
	if err != nil {
		return AuditRound{}, err
	}
	next := "" // where the next round starts; "" is the first user
	if len(users) == a.sample {
		next = users[len(users)-1]
	} else if a.after != "" {
		// The end: fill the sample from the first users on, up to where
		// this round started.
		more, err := a.engine.store.reconcileUsers(ctx, "", a.sample-len(users))
		if err != nil {
			return AuditRound{}, err
		}
		for _, u := range more {
			if u > a.after {
				break
			}
			users, next = append(users, u), u
		}
	}
	a.after = next
	if len(users) == 0 {
		return AuditRound{}, nil
	}
	rep, err := a.engine.ReconcileWith(ctx, ReconcileOptions{Users: users})
	if err != nil {
		return AuditRound{}, err
	}
	for _, d := range rep.Drifts {
		a.engine.metrics.drifts.WithLabelValues(string(d.Level)).Inc()
		a.log.Error("awards drift", driftAttrs(d)...)
	}
	return AuditRound{Users: rep.Users, Found: rep.Found, Pending: rep.Pending}, nil
}

// driftAttrs are a drift's log fields; the level is "drift" (slog's
// "level" is the record's).
func driftAttrs(d Drift) []any {
	attrs := []any{"drift", string(d.Level), "user", d.UserID, "achievement", d.AchievementID}
	switch d.Level {
	case LevelCounters:
		attrs = append(attrs, "objective", d.ObjectiveKey, "stored", d.Stored, "expected", d.Recomputed)
	case LevelObjectiveProgress:
		attrs = append(attrs, "objective", d.ObjectiveKey, "stored", d.StoredProgress, "expected", d.ExpectedProgress)
	case LevelAchievementProgress:
		attrs = append(attrs, "stored", d.StoredProgress, "expected", d.ExpectedProgress, "stored_goal", d.StoredGoal, "expected_goal", d.ExpectedGoal)
	case LevelCompletion:
		attrs = append(attrs, "stored", d.StoredCompleted, "expected", d.ExpectedCompleted)
	}
	if d.Missing {
		attrs = append(attrs, "missing", true)
	}
	return attrs
}

// Run runs rounds until ctx is done; it returns at once when the audit is
// disabled. A failed round is logged and the next one runs after the
// interval.
func (a *Audit) Run(ctx context.Context) error {
	if a.interval <= 0 || a.sample <= 0 {
		a.log.Info("audit disabled")
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.interval):
		}
		if _, err := a.Round(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("audit round failed", "err", err)
		}
	}
}

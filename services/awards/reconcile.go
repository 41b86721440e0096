package awards

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// DriftLevel names the level of a drift. Each level is checked against the
// expected value of the level below it, starting from the ledger, so a
// drift says that the stored value differs from what the ledger gives, and
// a corrupted level does not make the levels above it drift when those are
// right.
type DriftLevel string

// The levels, bottom up.
const (
	// LevelCounters: a user objective's counters equal the sum over its
	// ledger entries of the rule's Counters.
	LevelCounters DriftLevel = "counters"
	// LevelObjectiveProgress: a user objective's progress equals the
	// rule's progress counter of those counters.
	LevelObjectiveProgress DriftLevel = "objective_progress"
	// LevelAchievementProgress: a user achievement's progress and goal are
	// what the achievements worker folds from its objectives' progress
	// (the strategy, rounded as fold rounds). A missing user achievement
	// where its objectives give progress is a drift too.
	LevelAchievementProgress DriftLevel = "achievement_progress"
	// LevelCompletion: a user achievement is completed iff its progress
	// reaches the goal, except that a sticky achievement once granted
	// stays granted.
	LevelCompletion DriftLevel = "completion"
)

// DriftLevels lists the levels bottom up.
var DriftLevels = []DriftLevel{LevelCounters, LevelObjectiveProgress, LevelAchievementProgress, LevelCompletion}

// Drift is a stored value that differs from what the level below gives.
type Drift struct {
	Level         DriftLevel
	UserID        string
	AchievementID string
	ObjectiveKey  string // the counters and objective progress levels
	// Stored and Recomputed are the counters level's stored counters and
	// their sum over the ledger.
	Stored     Deltas
	Recomputed Deltas
	// StoredProgress and ExpectedProgress are the objective or achievement
	// progress; StoredGoal and ExpectedGoal the achievement's goal.
	StoredProgress, ExpectedProgress float64
	StoredGoal, ExpectedGoal         float64
	// StoredCompleted and ExpectedCompleted are the completion level's.
	StoredCompleted, ExpectedCompleted bool
	// Missing is set when no row is stored where the level below gives a
	// value.
	Missing bool
	// Repaired is set once a repair wrote the expected value.
	Repaired bool
}

// DriftCounts counts drifts per level.
type DriftCounts struct {
	Counters, ObjectiveProgress, AchievementProgress, Completion int
}

func (c *DriftCounts) add(l DriftLevel) {
	switch l {
	case LevelCounters:
		c.Counters++
	case LevelObjectiveProgress:
		c.ObjectiveProgress++
	case LevelAchievementProgress:
		c.AchievementProgress++
	case LevelCompletion:
		c.Completion++
	}
}

// Total is the sum over the levels.
func (c DriftCounts) Total() int {
	return c.Counters + c.ObjectiveProgress + c.AchievementProgress + c.Completion
}

// ReconcileOptions say whom to reconcile and whether to repair.
type ReconcileOptions struct {
	// UserID limits reconcile to one user; every user when empty.
	UserID string
	// Users, when set, are the users to reconcile (the audit's sample).
	Users []string
	// Repair writes the expected values of every drift found.
	Repair bool
}

// ReconcileReport is what reconcile found and did.
type ReconcileReport struct {
	// Drifts are ordered by user, achievement, objective and level.
	Drifts          []Drift
	Found, Repaired DriftCounts
	// Users is the number of users checked.
	Users int
	// Pending counts user achievements not compared because the
	// achievements worker has not folded their latest objective changes
	// yet: normal lag, not drift (see compare).
	Pending int
	// InactiveUsers counts users checked at the counters and objective
	// progress levels only: banned and deleted users have no achievements.
	InactiveUsers int
	// Refreshed counts the user objectives RecomputeUser gave a new
	// version.
	Refreshed int
}

// reconcilePage is how many users reconcile reads at a time when it
// checks everyone.
const reconcilePage = 200

// Reconcile checks every level for one user, or for everyone when userID
// is empty, and returns the drifts, ordered by user, achievement,
// objective and level. It repairs nothing.
func (e *Engine) Reconcile(ctx context.Context, userID string) ([]Drift, error) {
	rep, err := e.ReconcileWith(ctx, ReconcileOptions{UserID: userID})
	return rep.Drifts, err
}

// ReconcileWith checks every level (ledger → counters → objective
// progress → achievement progress and completion) for the users opts
// names, and repairs the drifts when opts.Repair is set.
func (e *Engine) ReconcileWith(ctx context.Context, opts ReconcileOptions) (rep ReconcileReport, err error) {
	defer derrors.Wrap(&err, "reconcile")
	mode := reconcileReport
	if opts.Repair {
		mode = reconcileRepairDrifts
	}
	switch {
	case opts.Users != nil:
		err = e.reconcileUsers(ctx, opts.Users, mode, &rep)
	case opts.UserID != "":
		err = e.reconcileUsers(ctx, []string{opts.UserID}, mode, &rep)
	default:
		after := ""
		for {
			users, err := e.store.reconcileUsers(ctx, after, reconcilePage)
			if err != nil {
				return rep, err
			}
			if err := e.reconcileUsers(ctx, users, mode, &rep); err != nil {
				return rep, err
			}
			if len(users) < reconcilePage {
				break
			}
			after = users[len(users)-1]
		}
	}
	if err != nil {
		return rep, err
	}
	rep.finish()
	return rep, nil
}

// RecomputeUser repairs every drift of a user, as ReconcileWith with
// Repair does, and gives each of the user's objectives a new version, so
// the achievements worker refolds all their achievements. The report's
// drifts are what it changed: stored is the value before, expected the
// value after.
func (e *Engine) RecomputeUser(ctx context.Context, userID string) (rep ReconcileReport, err error) {
	defer derrors.Wrap(&err, "recompute user %q", userID)
	if err := e.reconcileUsers(ctx, []string{userID}, reconcileRecompute, &rep); err != nil {
		return rep, err
	}
	rep.finish()
	return rep, nil
}

// reconcileMode is what reconcileUsers does with what it finds.
type reconcileMode int

const (
	reconcileReport       reconcileMode = iota // report drifts
	reconcileRepairDrifts                      // report and repair them
	reconcileRecompute                         // repair, and refresh every objective of the user
)

// reconcileUsers checks users and adds to rep. It reads their state at one
// moment (a snapshot); with repair, each user with drifts is then read
// again and repaired under the writers' locks, and what was found there is
// what the report says for that user.
func (e *Engine) reconcileUsers(ctx context.Context, users []string, mode reconcileMode, rep *ReconcileReport) error {
	if len(users) == 0 {
		return nil
	}
	var found comparison
	if mode == reconcileRecompute {
		// The user is read under the locks below; nothing to read first.
		found.users = map[string]*userComparison{users[0]: {}}
	} else {
		for attempt := 1; ; attempt++ {
			cfg := e.Snapshot()
			objectives, achievements := cfg.reconcileScope()
			st, err := e.store.reconcileSnapshot(ctx, users, objectives, achievements)
			if err != nil {
				return err
			}
			if st.generation != cfg.generation && attempt <= maxConfigReloads {
				// Saved on another instance since this one loaded its
				// configuration: compare with the stored one.
				if err := e.Reload(ctx); err != nil {
					return err
				}
				continue
			}
			found = cfg.compare(users, st)
			break
		}
	}
	rep.Users += len(users)
	for _, u := range users {
		c := found.users[u]
		if c == nil {
			continue
		}
		if mode != reconcileReport && (len(c.drifts) > 0 || mode == reconcileRecompute) {
			repaired, err := e.repairUser(ctx, u, mode == reconcileRecompute, rep)
			if err != nil {
				return err
			}
			c = repaired
		}
		rep.Drifts = append(rep.Drifts, c.drifts...)
		rep.Pending += c.pending
		if c.inactive {
			rep.InactiveUsers++
		}
	}
	return nil
}

// repairUser reads a user under the writers' locks, compares, and writes
// the expected value of each drift found.
func (e *Engine) repairUser(ctx context.Context, user string, refreshAll bool, rep *ReconcileReport) (*userComparison, error) {
	for attempt := 1; ; attempt++ {
		cfg := e.Snapshot()
		objectives, achievements := cfg.reconcileScope()
		generation := cfg.generation
		if attempt > maxConfigReloads {
			generation = -1 // compare with the newest configuration regardless
		}
		var c *userComparison
		res, refreshed, err := e.store.repairUser(ctx, user, objectives, achievements, generation, refreshAll, func(st *reconcileState) (reconcileRepair, error) {
			c = cfg.compare([]string{user}, st).users[user]
			return c.repair, nil
		})
		if errors.Is(err, errConfigChanged) {
			if err := e.Reload(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		for i := range c.drifts {
			c.drifts[i].Repaired = true
		}
		rep.Refreshed += refreshed
		e.metrics.grants.WithLabelValues("granted").Add(float64(res.Granted))
		e.metrics.grants.WithLabelValues("revoked").Add(float64(res.Revoked))
		return c, nil
	}
}

// finish orders the drifts and counts them.
func (r *ReconcileReport) finish() {
	slices.SortStableFunc(r.Drifts, func(a, b Drift) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.AchievementID, b.AchievementID),
			cmp.Compare(a.ObjectiveKey, b.ObjectiveKey), cmp.Compare(slices.Index(DriftLevels, a.Level), slices.Index(DriftLevels, b.Level)))
	})
	r.Found, r.Repaired = DriftCounts{}, DriftCounts{}
	for _, d := range r.Drifts {
		r.Found.add(d.Level)
		if d.Repaired {
			r.Repaired.add(d.Level)
		}
	}
}

// reconcileScope lists the running objectives and achievements.
func (c *Snapshot) reconcileScope() (objectives []int64, achievements []string) {
	for id := range c.objectives {
		objectives = append(objectives, id)
	}
	slices.Sort(objectives)
	return objectives, sortedKeys(c.Achievements)
}

// comparison is what compare found, per user.
type comparison struct {
	users map[string]*userComparison
}

// userComparison is one user's drifts and what repairing them writes.
type userComparison struct {
	drifts   []Drift
	pending  int  // user achievements not compared: not folded yet
	inactive bool // a user who is not active: achievements not compared
	repair   reconcileRepair
}

// compare checks every level of users' state with the configuration.
//
// The achievements worker folds a user objective's change into its
// achievements some time after the change commits (its next cycle), so a
// user achievement is compared only when every one of its objectives has a
// version at or below the worker's cursor, read in the same snapshot: the
// cycle that moved the cursor there committed the user achievements it
// folded together with the cursor, so such a user achievement must already
// include every one of its objectives' values. The others are counted as
// pending, not reported: a user sampled between an objective's commit and
// the next cycle is the worker's normal lag, not a drift, and the audit
// would otherwise count it. (Re-checking a drift after the next cycle would
// work too, but takes two reads and still races a busy user; the cursor
// makes one read exact.) Counters and objective progress have no lag: a
// batch writes the ledger and the counters in one transaction.
//
// Users who are not active are compared at the counters and objective
// progress levels only: their events may update the ledger and counters,
// but they have no achievements to show or grant.
func (c *Snapshot) compare(users []string, st *reconcileState) comparison {
	out := comparison{users: map[string]*userComparison{}}
	ids := sortedKeys(c.Achievements)
	for _, u := range users {
		uc := &userComparison{}
		out.users[u] = uc
		_, uc.inactive = st.inactive[u]
		for _, id := range ids {
			a := c.Achievements[id]
			progress := make(map[string]float64, len(a.Objectives))
			pending := false
			for _, o := range a.Objectives {
				k := progressKey{u, o.ID}
				expected := Deltas{}
				for _, entry := range st.ledger[k] {
					for name, v := range o.Rule.Counters(entry) {
						expected[name] += v
					}
				}
				expected = nonZero(expected)
				want := expected[o.Rule.ProgressCounter()]
				stored, ok := st.objectives[k]
				if stored.counters == nil {
					stored.counters = Deltas{}
				}
				drift := Drift{UserID: u, AchievementID: id, ObjectiveKey: o.Key, Missing: !ok}
				bad := false
				if !sameCounters(stored.counters, expected) {
					d := drift
					d.Level, d.Stored, d.Recomputed = LevelCounters, stored.counters, expected
					uc.drifts, bad = append(uc.drifts, d), true
				}
				if !near(stored.progress, want) {
					d := drift
					d.Level, d.StoredProgress, d.ExpectedProgress = LevelObjectiveProgress, stored.progress, want
					uc.drifts, bad = append(uc.drifts, d), true
				}
				if bad {
					uc.repair.objectives = append(uc.repair.objectives, objectiveRepair{objective: o.ID, counters: expected, progress: want})
				}
				progress[o.Key] = want
				pending = pending || (ok && stored.version > st.cursor)
			}
			if uc.inactive {
				continue
			}
			if pending {
				uc.pending++
				continue
			}
			stored, ok := st.achievements[[2]string{u, id}]
			// fold is how the worker computes a user achievement and
			// decides the grant or revocation the stored completion calls
			// for.
			var prev *userAchievementState
			if ok {
				prev = &userAchievementState{progress: stored.progress, completed: stored.completed}
			}
			w, _, _ := fold(a, progress, 1, prev)
			completed := w.complete || (stored.completed && !w.revoke)
			drift := Drift{UserID: u, AchievementID: id, Missing: !ok}
			bad := false
			if (ok && (!near(stored.progress, w.progress) || !near(stored.goal, w.goal))) || (!ok && w.progress > 0) {
				d := drift
				d.Level, d.StoredProgress, d.ExpectedProgress, d.StoredGoal, d.ExpectedGoal = LevelAchievementProgress,
					stored.progress, w.progress, stored.goal, w.goal
				uc.drifts, bad = append(uc.drifts, d), true
			}
			if completed != stored.completed {
				d := drift
				d.Level, d.StoredCompleted, d.ExpectedCompleted = LevelCompletion, stored.completed, completed
				uc.drifts, bad = append(uc.drifts, d), true
			}
			if bad {
				uc.repair.refold = append(uc.repair.refold, &recomputation{user: u, achievement: a})
			}
		}
	}
	return out
}

// sameCounters compares counters, a missing counter being zero.
func sameCounters(a, b Deltas) bool {
	for k, v := range a {
		if !near(v, b[k]) {
			return false
		}
	}
	for k, v := range b {
		if !near(v, a[k]) {
			return false
		}
	}
	return true
}

// near compares two stored numbers up to the noise of summing floats in
// another order.
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b))
}

func nonZero(d Deltas) Deltas {
	out := Deltas{}
	for k, v := range d {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

package awards

import (
	"context"
	"fmt"
	"math"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// Explanation answers "why didn't I get it?": an achievement's strategy
// evaluated for one user, with each objective's counters and the ledger
// entries (and the events that set them) behind them.
type Explanation struct {
	UserID, AchievementID string
	UserStatus            string
	Progress, Goal        float64
	Completed             bool
	Nodes                 []NodeValue
	Objectives            []ObjectiveExplanation
}

// ObjectiveExplanation is one objective's part in an Explanation.
type ObjectiveExplanation struct {
	Key           string
	Progress      float64
	Counters      Deltas
	Contributions []Contribution
}

// Explain evaluates achievementID's strategy for userID from the stored
// counters.
func (e *Engine) Explain(ctx context.Context, userID, achievementID string) (x Explanation, err error) {
	defer derrors.Wrap(&err, "explain achievement %q for user %q", achievementID, userID)
	a, err := e.runningAchievement(achievementID)
	if err != nil {
		return x, err
	}
	ids := make([]int64, len(a.Objectives))
	for i, o := range a.Objectives {
		ids[i] = o.ID
	}
	rows, err := e.store.explainRows(ctx, userID, achievementID, ids)
	if err != nil {
		return x, err
	}
	x = Explanation{UserID: userID, AchievementID: achievementID, Goal: a.Strategy.Goal(), UserStatus: rows.status, Completed: rows.completed}
	x.Objectives = make([]ObjectiveExplanation, len(a.Objectives))
	progress := map[string]float64{}
	for i, o := range a.Objectives {
		stored := rows.objectives[o.ID]
		counters := stored.counters
		if counters == nil {
			counters = Deltas{}
		}
		x.Objectives[i] = ObjectiveExplanation{Key: o.Key, Progress: stored.progress, Counters: counters, Contributions: rows.ledger[o.ID]}
		progress[o.Key] = stored.progress
	}
	x.Progress, x.Nodes = a.Strategy.Evaluate(progress)
	x.Progress = math.Round(x.Progress*1e9) / 1e9
	return x, nil
}

// runningAchievement returns a running achievement, or an error saying why
// it is not running.
func (e *Engine) runningAchievement(id string) (*CompiledAchievement, error) {
	cfg := e.Snapshot()
	if a, ok := cfg.Achievements[id]; ok {
		return a, nil
	}
	if reason, ok := cfg.Broken[id]; ok {
		return nil, fmt.Errorf("achievement %q is disabled: %s", id, reason)
	}
	return nil, fmt.Errorf("achievement %q: %w", id, ErrNotFound)
}

package awards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
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

const (
	sqlExplainObjectives   = `SELECT objective_id, counters, progress FROM awards.user_objectives WHERE user_id = $1 AND objective_id = ANY($2)`
	sqlExplainContribution = `
		SELECT objective_id, content_id, item_id, status, value, occurred_at, record_id
		FROM awards.contributions WHERE user_id = $1 AND objective_id = ANY($2)
		ORDER BY objective_id, occurred_at, content_id`
	sqlExplainCompleted = `SELECT completed_at IS NOT NULL FROM awards.user_achievements WHERE user_id = $1 AND achievement_id = $2`
)

// Explain evaluates achievementID's strategy for userID from the stored
// counters.
func (e *Engine) Explain(ctx context.Context, userID, achievementID string) (x Explanation, err error) {
	defer wrapErr(&err, fmt.Sprintf("explain achievement %q for user %q", achievementID, userID))
	a, err := e.runningAchievement(achievementID)
	if err != nil {
		return x, err
	}
	status, err := e.store.UserStatus(ctx, userID)
	if err != nil {
		return x, err
	}
	x = Explanation{UserID: userID, AchievementID: achievementID, Goal: a.Strategy.Goal(), UserStatus: status}
	ids := make([]int64, len(a.Objectives))
	byID := map[int64]*ObjectiveExplanation{}
	x.Objectives = make([]ObjectiveExplanation, len(a.Objectives))
	for i, o := range a.Objectives {
		ids[i] = o.ID
		x.Objectives[i] = ObjectiveExplanation{Key: o.Key, Counters: Deltas{}}
		byID[o.ID] = &x.Objectives[i]
	}
	pool := e.store.pool
	b := &pgx.Batch{}
	b.Queue(sqlExplainObjectives, userID, ids).Query(func(rows pgx.Rows) error {
		var (
			id       int64
			raw      []byte
			progress float64
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &raw, &progress}, func() error {
			o := byID[id]
			o.Progress = progress
			return json.Unmarshal(raw, &o.Counters)
		})
		return err
	})
	b.Queue(sqlExplainContribution, userID, ids).Query(func(rows pgx.Rows) error {
		var (
			id int64
			c  Contribution
			at *time.Time
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &c.ContentID, &c.ItemID, &c.Status, &c.Value, &at, &c.RecordID}, func() error {
			entry := c
			if at != nil {
				entry.OccurredAt = *at
			}
			byID[id].Contributions = append(byID[id].Contributions, entry)
			return nil
		})
		return err
	})
	b.Queue(sqlExplainCompleted, userID, achievementID).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&x.Completed); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return nil
	})
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return x, err
	}
	progress := map[string]float64{}
	for _, o := range x.Objectives {
		progress[o.Key] = o.Progress
	}
	x.Progress, x.Nodes = a.Strategy.Evaluate(progress)
	x.Progress = math.Round(x.Progress*1e9) / 1e9
	return x, nil
}

// runningAchievement returns a running achievement, or an error saying why
// it is not running.
func (e *Engine) runningAchievement(id string) (*CompiledAchievement, error) {
	cfg := e.Config()
	if a, ok := cfg.Achievements[id]; ok {
		return a, nil
	}
	if reason, ok := cfg.Broken[id]; ok {
		return nil, fmt.Errorf("achievement %q is disabled: %s", id, reason)
	}
	return nil, fmt.Errorf("achievement %q: %w", id, ErrNotFound)
}

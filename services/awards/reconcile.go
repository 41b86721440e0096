package awards

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Drift is a user objective whose stored counters differ from a full
// recomputation from its ledger entries.
type Drift struct {
	UserID        string
	AchievementID string
	ObjectiveKey  string
	Stored        Deltas // the counters in user_objectives
	Recomputed    Deltas // the sum over the ledger
}

const sqlLedgerForReconcile = `
	SELECT c.user_id, c.objective_id, c.content_id, c.item_id, c.status, c.value, c.occurred_at, c.record_id
	FROM awards.contributions c
	WHERE ($1 = '' OR c.user_id = $1) AND c.objective_id = ANY($2)
	ORDER BY c.user_id, c.objective_id`

const sqlCountersForReconcile = `
	SELECT user_id, objective_id, counters FROM awards.user_objectives
	WHERE ($1 = '' OR user_id = $1) AND objective_id = ANY($2)`

// Reconcile recomputes the counters of every running objective (of one
// user, or of everyone when userID is empty) from the contribution ledger
// and returns the user objectives whose stored counters differ, ordered by
// user, achievement and objective.
func (e *Engine) Reconcile(ctx context.Context, userID string) (drifts []Drift, err error) {
	defer wrapErr(&err, "reconcile counters with the ledger")
	cfg := e.Config()
	ids := make([]int64, 0, len(cfg.objectives))
	for id := range cfg.objectives {
		ids = append(ids, id)
	}
	recomputed := map[progressKey]Deltas{}
	rows, err := e.store.pool.Query(ctx, sqlLedgerForReconcile, userID, ids)
	if err != nil {
		return nil, err
	}
	var (
		k  progressKey
		c  Contribution
		at *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&k.user, &k.objective, &c.ContentID, &c.ItemID, &c.Status, &c.Value, &at, &c.RecordID}, func() error {
		if at != nil {
			c.OccurredAt = *at
		}
		sum := recomputed[k]
		if sum == nil {
			sum = Deltas{}
			recomputed[k] = sum
		}
		for name, v := range cfg.objectives[k.objective].Rule.Counters(c) {
			sum[name] += v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	stored := map[progressKey]Deltas{}
	rows, err = e.store.pool.Query(ctx, sqlCountersForReconcile, userID, ids)
	if err != nil {
		return nil, err
	}
	var raw []byte
	_, err = pgx.ForEachRow(rows, []any{&k.user, &k.objective, &raw}, func() error {
		d := Deltas{}
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("counters of user %q objective %d: %w", k.user, k.objective, err)
		}
		stored[k] = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	for k := range recomputed {
		if _, ok := stored[k]; !ok {
			stored[k] = Deltas{}
		}
	}
	for k, s := range stored {
		r := recomputed[k]
		if !sameCounters(s, r) {
			o := cfg.objectives[k.objective]
			drifts = append(drifts, Drift{UserID: k.user, AchievementID: o.Achievement.Config.ID, ObjectiveKey: o.Key,
				Stored: s, Recomputed: nonZero(r)})
		}
	}
	slices.SortFunc(drifts, func(a, b Drift) int {
		return strings.Compare(a.UserID+"\x00"+a.AchievementID+"\x00"+a.ObjectiveKey, b.UserID+"\x00"+b.AchievementID+"\x00"+b.ObjectiveKey)
	})
	return drifts, nil
}

// sameCounters compares counters, a missing counter being zero.
func sameCounters(a, b Deltas) bool {
	for k, v := range a {
		if math.Abs(v-b[k]) > 1e-9 {
			return false
		}
	}
	for k, v := range b {
		if math.Abs(v-a[k]) > 1e-9 {
			return false
		}
	}
	return true
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

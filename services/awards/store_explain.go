package awards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// explainRows is what Explain reads of a user and an achievement: the
// user's status, each objective's stored counters and progress and its
// ledger entries (in the order the events happened), and whether the user
// achievement is completed.
type explainRows struct {
	status     string
	objectives map[int64]storedObjective
	ledger     map[int64][]Contribution
	completed  bool
}

const (
	sqlExplainObjectives   = `SELECT objective_id, counters, progress FROM awards.user_objectives WHERE user_id = $1 AND objective_id = ANY($2)`
	sqlExplainContribution = `
		SELECT objective_id, content_id, item_id, status, value, occurred_at, record_id
		FROM awards.contributions WHERE user_id = $1 AND objective_id = ANY($2)
		ORDER BY objective_id, occurred_at, content_id`
	sqlExplainCompleted = `SELECT completed_at IS NOT NULL FROM awards.user_achievements WHERE user_id = $1 AND achievement_id = $2`
)

// explainRows reads what Explain shows of userID in achievementID, whose
// objectives are objectives.
func (s *PostgresStore) explainRows(ctx context.Context, userID, achievementID string, objectives []int64) (x explainRows, err error) {
	defer derrors.Wrap(&err, "read achievement %q of user %q", achievementID, userID)
	if x.status, err = s.UserStatus(ctx, userID); err != nil {
		return x, err
	}
	x.objectives, x.ledger = map[int64]storedObjective{}, map[int64][]Contribution{}
	b := &pgx.Batch{}
	b.Queue(sqlExplainObjectives, userID, objectives).Query(func(rows pgx.Rows) error {
		var (
			id  int64
			raw []byte
			uo  storedObjective
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &raw, &uo.progress}, func() error {
			entry := uo
			entry.counters = Deltas{}
			if err := json.Unmarshal(raw, &entry.counters); err != nil {
				return fmt.Errorf("counters of objective %d: %w", id, err)
			}
			x.objectives[id] = entry
			return nil
		})
		return err
	})
	b.Queue(sqlExplainContribution, userID, objectives).Query(func(rows pgx.Rows) error {
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
			x.ledger[id] = append(x.ledger[id], entry)
			return nil
		})
		return err
	})
	b.Queue(sqlExplainCompleted, userID, achievementID).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&x.completed); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return nil
	})
	return x, s.pool.SendBatch(ctx, b).Close()
}

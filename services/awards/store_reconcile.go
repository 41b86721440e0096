package awards

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// reconcileState is what reconcile compares, for a set of users, read at
// one moment: their ledger entries, user objectives and user achievements
// in the running configuration, the users who are not active, and the
// achievements worker's cursor.
type reconcileState struct {
	// cursor is the achievements worker's position: every user objective
	// version up to it has been folded into its achievements.
	cursor int64
	// generation is the stored configuration generation.
	generation   int64
	inactive     map[string]string // user → status, for users not active
	ledger       map[progressKey][]Contribution
	objectives   map[progressKey]storedObjective
	achievements map[[2]string]storedAchievement // (user, achievement)
}

// storedObjective is a stored user objective.
type storedObjective struct {
	counters Deltas
	progress float64
	version  int64
}

// storedAchievement is a stored user achievement.
type storedAchievement struct {
	progress, goal float64
	completed      bool
}

// reconcileRepair is what a repair writes for one user: user objectives'
// counters and progress (each with a new version), and the user
// achievements to refold, whose objectives get a new version first.
type reconcileRepair struct {
	objectives []objectiveRepair
	refold     []*recomputation
}

// objectiveRepair is a user objective's expected counters and progress.
type objectiveRepair struct {
	objective int64
	counters  Deltas
	progress  float64
}

const (
	sqlReconcileUsers = `
		SELECT user_id FROM (
			(SELECT DISTINCT user_id FROM awards.user_objectives WHERE user_id > $1 ORDER BY user_id LIMIT $2)
			UNION (SELECT DISTINCT user_id FROM awards.contributions WHERE user_id > $1 ORDER BY user_id LIMIT $2)
			UNION (SELECT DISTINCT user_id FROM awards.user_achievements WHERE user_id > $1 ORDER BY user_id LIMIT $2)
		) u ORDER BY user_id LIMIT $2`
	sqlReconcileCursor     = `SELECT coalesce((SELECT position FROM awards.worker_cursors WHERE name = $1), 0)`
	sqlReconcileLockCursor = `SELECT position FROM awards.worker_cursors WHERE name = $1 FOR UPDATE`
	sqlReconcileEnsure     = `INSERT INTO awards.worker_cursors (name) VALUES ($1) ON CONFLICT DO NOTHING`
	sqlReconcileInactive   = `SELECT user_id, status FROM awards.users WHERE user_id = ANY($1) AND status <> 'active'`
	sqlReconcileLedger     = `
		SELECT user_id, objective_id, content_id, item_id, status, value, occurred_at, record_id
		FROM awards.contributions WHERE user_id = ANY($1) AND objective_id = ANY($2)`
	sqlReconcileObjectives = `
		SELECT user_id, objective_id, counters, progress, version
		FROM awards.user_objectives WHERE user_id = ANY($1) AND objective_id = ANY($2)`
	sqlReconcileAchievements = `
		SELECT user_id, achievement_id, progress, goal, completed_at IS NOT NULL
		FROM awards.user_achievements WHERE user_id = ANY($1) AND achievement_id = ANY($2)`
	// sqlRepairObjectives writes expected counters and progress with a new
	// version, so the achievements worker refolds their achievements.
	sqlRepairObjectives = `
		INSERT INTO awards.user_objectives (user_id, objective_id, counters, progress)
		SELECT $1, k.o, k.c, k.p FROM unnest($2::int8[], $3::jsonb[], $4::float8[]) AS k(o, c, p)
		ON CONFLICT (user_id, objective_id) DO UPDATE SET counters = excluded.counters, progress = excluded.progress,
			version = nextval('awards.progress_version_seq'), backfill_id = NULL, updated_at = now()`
	// sqlTouchObjectives gives user objectives a new version (creating the
	// empty ones missing), so that folding them is not skipped as already
	// done.
	sqlTouchObjectives = `
		INSERT INTO awards.user_objectives (user_id, objective_id) SELECT $1, unnest($2::int8[])
		ON CONFLICT (user_id, objective_id) DO UPDATE SET
			version = nextval('awards.progress_version_seq'), backfill_id = NULL, updated_at = now()`
	sqlTouchUserObjectives = `
		UPDATE awards.user_objectives SET version = nextval('awards.progress_version_seq'), backfill_id = NULL, updated_at = now()
		WHERE user_id = $1`
)

// reconcileUsers returns up to limit users after the given one, in order,
// who have ledger entries, user objectives or user achievements.
func (s *PostgresStore) reconcileUsers(ctx context.Context, after string, limit int) (users []string, err error) {
	defer derrors.Wrap(&err, "list users after %q", after)
	rows, err := s.pool.Query(ctx, sqlReconcileUsers, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// reconcileSnapshot reads the state of users in one read-only, repeatable
// read transaction: the ledger and the counters a batch writes together,
// and the user achievements and the cursor a cycle writes together, are
// seen as committed at one moment.
func (s *PostgresStore) reconcileSnapshot(ctx context.Context, users []string, objectives []int64, achievements []string) (st *reconcileState, err error) {
	defer derrors.Wrap(&err, "read the state of %d users", len(users))
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		st = &reconcileState{}
		b := &pgx.Batch{}
		b.Queue(sqlReconcileCursor, achievementsCursor).QueryRow(func(row pgx.Row) error { return row.Scan(&st.cursor) })
		queueReconcileState(b, st, users, objectives, achievements)
		return tx.SendBatch(ctx, b).Close()
	})
	return st, err
}

// queueReconcileState queues the reads of users' state (all but the
// cursor) into st.
func queueReconcileState(b *pgx.Batch, st *reconcileState, users []string, objectives []int64, achievements []string) {
	st.inactive = map[string]string{}
	st.ledger = map[progressKey][]Contribution{}
	st.objectives = map[progressKey]storedObjective{}
	st.achievements = map[[2]string]storedAchievement{}
	b.Queue(sqlConfigGeneration).QueryRow(func(row pgx.Row) error { return row.Scan(&st.generation) })
	b.Queue(sqlReconcileInactive, users).Query(func(rows pgx.Rows) error {
		var user, status string
		_, err := pgx.ForEachRow(rows, []any{&user, &status}, func() error {
			st.inactive[user] = status
			return nil
		})
		return err
	})
	b.Queue(sqlReconcileLedger, users, objectives).Query(func(rows pgx.Rows) error {
		var (
			k  progressKey
			c  Contribution
			at *time.Time
		)
		_, err := pgx.ForEachRow(rows, []any{&k.user, &k.objective, &c.ContentID, &c.ItemID, &c.Status, &c.Value, &at, &c.RecordID}, func() error {
			entry := c
			if at != nil {
				entry.OccurredAt = *at
			}
			st.ledger[k] = append(st.ledger[k], entry)
			return nil
		})
		return err
	})
	b.Queue(sqlReconcileObjectives, users, objectives).Query(func(rows pgx.Rows) error {
		var (
			k   progressKey
			raw []byte
			uo  storedObjective
		)
		_, err := pgx.ForEachRow(rows, []any{&k.user, &k.objective, &raw, &uo.progress, &uo.version}, func() error {
			entry := uo
			entry.counters = Deltas{}
			if err := json.Unmarshal(raw, &entry.counters); err != nil {
				return fmt.Errorf("counters of user %q objective %d: %w", k.user, k.objective, err)
			}
			st.objectives[k] = entry
			return nil
		})
		return err
	})
	b.Queue(sqlReconcileAchievements, users, achievements).Query(func(rows pgx.Rows) error {
		var (
			user, id string
			ua       storedAchievement
		)
		_, err := pgx.ForEachRow(rows, []any{&user, &id, &ua.progress, &ua.goal, &ua.completed}, func() error {
			st.achievements[[2]string{user, id}] = ua
			return nil
		})
		return err
	})
}

// repairUser repairs one user under the locks the writers use: the
// progress lock shared and the user's objective locks (as a consuming
// batch: no batch changes the user's ledger or counters meanwhile), then
// the achievements worker's cursor row (as a cycle: no cycle writes user
// achievements meanwhile, and the cursor read is where it stands). It reads
// the user's state under them and hands it to plan, which says what to
// write; the user achievements to refold are folded with the worker's own
// recompute after their objectives got a new version.
//
// It returns errConfigChanged when the stored configuration generation
// differs from generation, unless that is negative (plan is not called).
//
// With refreshAll, every user objective of the user gets a new version at
// the end, so the achievements worker refolds all their achievements;
// refreshed counts them.
func (s *PostgresStore) repairUser(ctx context.Context, userID string, objectives []int64, achievements []string, generation int64,
	refreshAll bool, plan func(*reconcileState) (reconcileRepair, error)) (res CycleResult, refreshed int, err error) {
	defer derrors.Wrap(&err, "repair user %q", userID)
	if _, err := s.pool.Exec(ctx, sqlReconcileEnsure, achievementsCursor); err != nil {
		return res, 0, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		res, refreshed = CycleResult{}, 0
		st := &reconcileState{}
		if err := lockForRepair(ctx, tx, userID, objectives, st); err != nil {
			return err
		}
		b := &pgx.Batch{}
		queueReconcileState(b, st, []string{userID}, objectives, achievements)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if generation >= 0 && st.generation != generation {
			return fmt.Errorf("%w (generation %d, stored %d)", errConfigChanged, generation, st.generation)
		}
		fix, err := plan(st)
		if err != nil {
			return err
		}
		if len(fix.objectives) > 0 {
			ids := make([]int64, len(fix.objectives))
			counters := make([]string, len(fix.objectives))
			progress := make([]float64, len(fix.objectives))
			for i, o := range fix.objectives {
				js, err := json.Marshal(o.counters)
				if err != nil {
					return err
				}
				ids[i], counters[i], progress[i] = o.objective, string(js), o.progress
			}
			if _, err := tx.Exec(ctx, sqlRepairObjectives, userID, ids, counters, progress); err != nil {
				return err
			}
		}
		if len(fix.refold) > 0 {
			var touch []int64
			for _, r := range fix.refold {
				for _, o := range r.achievement.Objectives {
					touch = append(touch, o.ID)
				}
			}
			if _, err := tx.Exec(ctx, sqlTouchObjectives, userID, touch); err != nil {
				return err
			}
			// No horizon: the user's objective locks keep every writer of
			// this user's objectives out until this transaction commits.
			if err := s.recompute(ctx, tx, fix.refold, math.MaxInt64, &res); err != nil {
				return err
			}
		}
		if !refreshAll {
			return nil
		}
		tag, err := tx.Exec(ctx, sqlTouchUserObjectives, userID)
		refreshed = int(tag.RowsAffected())
		return err
	})
	return res, refreshed, err
}

// lockForRepair takes the locks of repairUser and reads the cursor into st.
func lockForRepair(ctx context.Context, tx pgx.Tx, userID string, objectives []int64, st *reconcileState) error {
	locks := make([]int32, len(objectives))
	for i, id := range objectives {
		locks[i] = userObjectiveLock(progressKey{userID, id})
	}
	b := &pgx.Batch{}
	b.Queue(sqlXactLockShared, int32(lockClassProgress))
	b.Queue(sqlLockUserObjectives, int32(lockClassUserObjective), locks)
	b.Queue(sqlReconcileLockCursor, achievementsCursor).QueryRow(func(row pgx.Row) error { return row.Scan(&st.cursor) })
	return tx.SendBatch(ctx, b).Close()
}

package awards

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const achievementsCursor = "achievements"

const (
	sqlSequenceValue = `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM awards.progress_version_seq`
	sqlEnsureCursor  = `INSERT INTO awards.worker_cursors (name) VALUES ($1) ON CONFLICT DO NOTHING`
	sqlLockCursor    = `SELECT position FROM awards.worker_cursors WHERE name = $1 FOR UPDATE SKIP LOCKED`
	sqlChanged       = `
		SELECT uo.user_id, uo.objective_id, uo.version, coalesce(uo.backfill_id, 0), coalesce(b.notify, true),
			coalesce(us.status, 'active') = 'active'
		FROM awards.user_objectives uo LEFT JOIN awards.backfills b ON b.id = uo.backfill_id
		LEFT JOIN awards.users us ON us.user_id = uo.user_id
		WHERE uo.version > $1 AND uo.version <= $2 ORDER BY uo.version LIMIT $3`
	sqlObjectiveStates = `
		SELECT uo.user_id, uo.objective_id, uo.progress, uo.version
		FROM unnest($1::text[], $2::int8[]) AS k(u, o)
		JOIN awards.user_objectives uo ON uo.user_id = k.u AND uo.objective_id = k.o`
	sqlAchievementStates = `
		SELECT ua.user_id, ua.achievement_id, ua.progress, ua.goal, ua.completed_at IS NOT NULL, ua.version
		FROM unnest($1::text[], $2::text[]) AS k(u, a)
		JOIN awards.user_achievements ua ON ua.user_id = k.u AND ua.achievement_id = k.a`
	sqlInsertUserAchievements = `
		INSERT INTO awards.user_achievements (user_id, achievement_id, progress, goal, version, completed_at)
		SELECT k.u, k.a, k.p, k.g, k.v, CASE WHEN k.complete THEN now() END
		FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::int8[], $6::bool[]) AS k(u, a, p, g, v, complete)`
	sqlUpdateUserAchievements = `
		UPDATE awards.user_achievements ua SET progress = k.p, goal = k.g, version = k.v,
			completed_at = CASE WHEN k.complete THEN now() WHEN k.revoke THEN NULL ELSE ua.completed_at END
		FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::int8[], $6::bool[], $7::bool[])
			AS k(u, a, p, g, v, complete, revoke)
		WHERE ua.user_id = k.u AND ua.achievement_id = k.a`
	sqlInsertOutbox = `
		INSERT INTO awards.outbox (kind, user_id, achievement_id, progress, goal, backfill_id, suppressed)
		SELECT k, u, a, p, g, nullif(b, 0), s
		FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::int8[], $7::bool[]) AS x(k, u, a, p, g, b, s)`
	sqlMoveCursor = `UPDATE awards.worker_cursors SET position = $2, updated_at = now() WHERE name = $1`
)

// errUnknownObjective stops a strict achievements cycle that met a changed
// user objective of an objective its configuration does not know.
var errUnknownObjective = errors.New("changed user objective of an objective the running configuration does not know")

// progressHorizon waits until no writer holding a progress version is
// still open and returns the sequence's last value: every version up to it
// is committed (or rolled back) and every later one will be higher.
func (s *PostgresStore) progressHorizon(ctx context.Context) (horizon int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlXactLock, int32(lockClassProgress)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, sqlSequenceValue).Scan(&horizon)
	})
	return horizon, err
}

// recomputeChanged runs one achievements-worker cycle: it reads the user
// objectives changed since the cursor, recomputes their achievements with
// cfg, writes progress, grants, revocations and outbox rows and moves the
// cursor, in one transaction.
//
// When strict, the cycle stops before the cursor moves when cfg is older
// than the stored configuration (errConfigChanged: another instance saved
// an achievement since cfg was loaded, and folding with its old strategy
// would store progress the new one does not give), or when a changed row
// belongs to an objective cfg does not know (errUnknownObjective: moving
// the cursor past its rows would miss them for good). The caller reloads
// and runs the cycle again not strict, skipping objectives that are no
// longer configured.
func (s *PostgresStore) recomputeChanged(ctx context.Context, cfg *Snapshot, limit int, strict bool) (res CycleResult, err error) {
	defer derrors.Wrap(&err, "recompute changed achievements")
	horizon, err := s.progressHorizon(ctx)
	if err != nil {
		return res, err
	}
	if s.hooks.afterHorizon != nil {
		s.hooks.afterHorizon()
	}
	if _, err := s.pool.Exec(ctx, sqlEnsureCursor, achievementsCursor); err != nil {
		return res, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, sqlLockCursor, achievementsCursor).Scan(&res.From)
		if errors.Is(err, pgx.ErrNoRows) {
			// Another instance is running a cycle: it does this work.
			res.Busy = true
			return nil
		}
		if err != nil {
			return err
		}
		res.To = res.From
		if horizon <= res.From {
			return nil
		}
		if strict {
			var generation int64
			if err := tx.QueryRow(ctx, sqlConfigGeneration).Scan(&generation); err != nil {
				return err
			}
			if generation != cfg.generation {
				return fmt.Errorf("%w (generation %d, stored %d)", errConfigChanged, cfg.generation, generation)
			}
		}
		rows, err := tx.Query(ctx, sqlChanged, res.From, horizon, limit)
		if err != nil {
			return err
		}
		var (
			user     string
			objID    int64
			version  int64
			backfill int64
			notify   bool
			active   bool
			todo     []*recomputation
			seen     = map[[2]string]*recomputation{}
		)
		_, err = pgx.ForEachRow(rows, []any{&user, &objID, &version, &backfill, &notify, &active}, func() error {
			res.Changed++
			res.To = version
			if !active {
				// A banned or deleted user: nothing is granted or shown.
				// Their return gives every objective of theirs a new
				// version, and the cycle then folds what their events say.
				res.Held++
				return nil
			}
			o := cfg.objectives[objID]
			if o == nil {
				if strict {
					return fmt.Errorf("%w: objective %d", errUnknownObjective, objID)
				}
				return nil // an objective no longer configured
			}
			key := [2]string{user, o.Achievement.Config.ID}
			r := seen[key]
			if r == nil {
				r = &recomputation{user: user, achievement: o.Achievement}
				seen[key] = r
				todo = append(todo, r)
			}
			if backfill != 0 {
				// A backfill's change: its grants are marked and, unless
				// it asked otherwise, not notified.
				r.backfillID, r.suppress = backfill, !notify
			}
			return nil
		})
		if err != nil {
			return err
		}
		if res.Changed < limit {
			res.To = horizon
		}
		if len(todo) > 0 {
			if err := s.recompute(ctx, tx, todo, horizon, &res); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, sqlMoveCursor, achievementsCursor, res.To)
		return err
	})
	return res, err
}

// recompute folds the objectives of each user achievement in todo and
// writes the results, grants and revocations (with outbox rows).
//
// Objective rows may be newer than horizon (committed after it was read);
// their progress is folded in, but the version stored stays at most
// horizon: the next cycle reads those rows again and folds whatever
// committed meanwhile.
func (s *PostgresStore) recompute(ctx context.Context, tx pgx.Tx, todo []*recomputation, horizon int64, res *CycleResult) error {
	var (
		ou []string
		oo []int64
		au []string
		aa []string
	)
	for _, r := range todo {
		for _, o := range r.achievement.Objectives {
			ou, oo = append(ou, r.user), append(oo, o.ID)
		}
		au, aa = append(au, r.user), append(aa, r.achievement.Config.ID)
	}
	type objectiveState struct {
		progress float64
		version  int64
	}
	objectives := map[progressKey]objectiveState{}
	achievements := map[[2]string]*userAchievementState{}
	b := &pgx.Batch{}
	b.Queue(sqlObjectiveStates, ou, oo).Query(func(rows pgx.Rows) error {
		var (
			k  progressKey
			st objectiveState
		)
		_, err := pgx.ForEachRow(rows, []any{&k.user, &k.objective, &st.progress, &st.version}, func() error {
			objectives[k] = st
			return nil
		})
		return err
	})
	b.Queue(sqlAchievementStates, au, aa).Query(func(rows pgx.Rows) error {
		var (
			u, a string
			st   userAchievementState
		)
		_, err := pgx.ForEachRow(rows, []any{&u, &a, &st.progress, &st.goal, &st.completed, &st.version}, func() error {
			v := st
			achievements[[2]string{u, a}] = &v
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}

	var (
		inserts, updates userAchievementColumns
		ok, xu, xa       []string
		xp, xg           []float64
		xb               []int64
		xs               []bool
	)
	for _, r := range todo {
		progress := make(map[string]float64, len(r.achievement.Objectives))
		var version int64
		for _, o := range r.achievement.Objectives {
			st := objectives[progressKey{r.user, o.ID}]
			progress[o.Key] = st.progress
			version = max(version, min(st.version, horizon))
		}
		prev := achievements[[2]string{r.user, r.achievement.Config.ID}]
		w, kind, changed := fold(r.achievement, progress, version, prev)
		if !changed {
			continue
		}
		w.user = r.user
		if prev == nil {
			inserts.add(w)
		} else {
			updates.add(w)
		}
		switch kind {
		case "granted":
			res.Granted++
		case "revoked":
			res.Revoked++
		}
		if kind != "" {
			ok, xu, xa, xp, xg = append(ok, kind), append(xu, r.user), append(xa, w.achievement), append(xp, w.progress), append(xg, w.goal)
			xb, xs = append(xb, r.backfillID), append(xs, r.suppress)
		}
	}
	res.Recomputed += len(inserts.users) + len(updates.users)
	b = &pgx.Batch{}
	if c := inserts; len(c.users) > 0 {
		b.Queue(sqlInsertUserAchievements, c.users, c.achievements, c.progress, c.goals, c.versions, c.complete)
	}
	if c := updates; len(c.users) > 0 {
		b.Queue(sqlUpdateUserAchievements, c.users, c.achievements, c.progress, c.goals, c.versions, c.complete, c.revoke)
	}
	if len(ok) > 0 {
		b.Queue(sqlInsertOutbox, ok, xu, xa, xp, xg, xb, xs)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write %d user achievements: %w", res.Recomputed, err)
	}
	return nil
}

// userAchievementColumns are user achievement writes as column arrays.
type userAchievementColumns struct {
	users, achievements []string
	progress, goals     []float64
	versions            []int64
	complete, revoke    []bool
}

func (c *userAchievementColumns) add(w userAchievementWrite) {
	c.users, c.achievements = append(c.users, w.user), append(c.achievements, w.achievement)
	c.progress, c.goals, c.versions = append(c.progress, w.progress), append(c.goals, w.goal), append(c.versions, w.version)
	c.complete, c.revoke = append(c.complete, w.complete), append(c.revoke, w.revoke)
}

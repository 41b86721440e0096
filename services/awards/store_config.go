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

// SaveResult says what saving an achievement's configuration did.
type SaveResult struct {
	// Version is the configuration version now stored.
	Version int
	// Changed is false when the stored configuration was already equal.
	Changed bool
	// Refolded counts the user objectives given a new version so that the
	// achievements worker folds the achievement's user achievements again
	// with the saved strategy (an existing achievement that changed).
	Refolded int
}

// StoredAchievement is an achievement's configuration as stored, with the
// row ids of its objectives by key.
type StoredAchievement struct {
	Config         AchievementConfig
	ObjectiveIDs   map[string]int64
	Version        int
	DisabledReason string
}

const (
	sqlLockAchievement = `
		SELECT a.config_version, a.disabled_reason,
		       coalesce((SELECT h.config = $2::jsonb FROM awards.config_history h
		                 WHERE h.achievement_id = a.id ORDER BY h.version DESC LIMIT 1), false)
		FROM awards.achievements a WHERE a.id = $1 FOR UPDATE`
	sqlSaveAchievement = `
		INSERT INTO awards.achievements (id, title, description, image_url, goal, active, strategy, policy,
			starts_at, ends_at, config_version, disabled_reason)
		VALUES ($1, $2, $3, $4, $5, true, $6, $7, $8, $9, $10, '')
		ON CONFLICT (id) DO UPDATE SET title = excluded.title, description = excluded.description,
			image_url = excluded.image_url, goal = excluded.goal, active = true, strategy = excluded.strategy,
			policy = excluded.policy, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
			config_version = excluded.config_version, disabled_reason = '', updated_at = now()`
	sqlSaveObjective = `
		INSERT INTO awards.objectives (achievement_id, key, sources, filters, rule)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (achievement_id, key) DO UPDATE SET sources = excluded.sources, filters = excluded.filters,
			rule = excluded.rule, active = true, updated_at = now()
		RETURNING id`
	sqlDeactivateObjectives = `
		UPDATE awards.objectives SET active = false, updated_at = now()
		WHERE achievement_id = $1 AND active AND NOT (key = ANY($2))`
	// sqlRefoldAchievement gives every user objective of an achievement's
	// active objectives a new progress version, so that the achievements
	// worker folds its user achievements again with the saved strategy.
	// Rows are locked in (user, objective) order, the order consuming
	// batches write them in, so the two never deadlock.
	sqlRefoldAchievement = `
		UPDATE awards.user_objectives uo SET version = nextval('awards.progress_version_seq'), updated_at = now()
		FROM (SELECT u.user_id, u.objective_id FROM awards.user_objectives u
		      JOIN awards.objectives o ON o.id = u.objective_id AND o.active
		      WHERE o.achievement_id = $1
		      ORDER BY u.user_id, u.objective_id FOR UPDATE OF u) k
		WHERE uo.user_id = k.user_id AND uo.objective_id = k.objective_id`
	sqlInsertHistory = `
		INSERT INTO awards.config_history (achievement_id, version, author, config) VALUES ($1, $2, $3, $4)`
	sqlLoadAchievements = `
		SELECT a.id, a.title, a.description, a.image_url, a.policy, a.starts_at, a.ends_at, a.strategy,
		       a.config_version, a.disabled_reason,
		       o.id, o.key, o.sources, o.filters, o.rule
		FROM awards.achievements a
		JOIN awards.objectives o ON o.achievement_id = a.id AND o.active
		WHERE a.active AND a.strategy IS NOT NULL
		ORDER BY a.id, o.id`
	sqlDisableAchievement = `
		UPDATE awards.achievements SET disabled_reason = $2, updated_at = now()
		WHERE id = $1 AND disabled_reason IS DISTINCT FROM $2`
)

// SaveAchievement stores a validated configuration: the achievement, its
// objectives (new keys added, removed keys deactivated) and a history entry
// with author and time, in one transaction. Saving an equal configuration
// changes nothing. It sets the objectives' row ids in a. Concurrent saves
// of one achievement (instances applying the same file at start) take
// turns, so each version is written once.
func (s *PostgresStore) SaveAchievement(ctx context.Context, a *CompiledAchievement, author string) (res SaveResult, err error) {
	defer derrors.Wrap(&err, "save achievement %q", a.Config.ID)
	c := a.Config.Canonical()
	config, err := json.Marshal(c)
	if err != nil {
		return res, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			version  int
			disabled string
			same     bool
		)
		if _, err := tx.Exec(ctx, sqlXactLockName, int32(lockClassConfig), c.ID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, sqlLockAchievement, c.ID, config).Scan(&version, &disabled, &same)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		res.Version = version
		if same && disabled == "" {
			return s.objectiveIDs(ctx, tx, a)
		}
		res.Version, res.Changed = version+1, true
		_, err = tx.Exec(ctx, sqlSaveAchievement, c.ID, c.Title, c.Description, c.ImageURL, a.Strategy.Goal(),
			[]byte(c.Strategy), string(c.Policy), c.StartsAt, c.EndsAt, res.Version)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(c.Objectives))
		for i, oc := range c.Objectives {
			filters := oc.Filters
			if len(filters) == 0 {
				filters = json.RawMessage("[]")
			}
			if err := tx.QueryRow(ctx, sqlSaveObjective, c.ID, oc.Key, a.Objectives[i].Subjects, []byte(filters), []byte(oc.Rule)).Scan(&a.Objectives[i].ID); err != nil {
				return fmt.Errorf("objective %q: %w", oc.Key, err)
			}
			keys = append(keys, oc.Key)
		}
		if _, err := tx.Exec(ctx, sqlDeactivateObjectives, c.ID, keys); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlInsertHistory, c.ID, res.Version, author, config); err != nil {
			return err
		}
		if version > 0 {
			// A changed strategy, goal or policy changes what users'
			// progress folds to: every user achievement of it is folded
			// again (counters are not: a changed filter or rule counts
			// from now on, or from a backfill). This writes progress
			// versions, so it holds the writers' lock like a batch.
			if _, err := tx.Exec(ctx, sqlXactLockShared, int32(lockClassProgress)); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, sqlRefoldAchievement, c.ID)
			if err != nil {
				return fmt.Errorf("refold its user achievements: %w", err)
			}
			res.Refolded = int(tag.RowsAffected())
		}
		if version == 0 {
			// A new achievement is announced to everyone.
			_, err = tx.Exec(ctx, `INSERT INTO awards.outbox (kind, achievement_id, goal) VALUES ('announced', $1, $2)`, c.ID, a.Strategy.Goal())
		}
		return err
	})
	return res, err
}

// objectiveIDs fills in the row ids of a's objectives.
func (s *PostgresStore) objectiveIDs(ctx context.Context, tx pgx.Tx, a *CompiledAchievement) error {
	rows, err := tx.Query(ctx, `SELECT key, id FROM awards.objectives WHERE achievement_id = $1 AND active`, a.Config.ID)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		key string
		id  int64
	}, error) {
		var v struct {
			key string
			id  int64
		}
		return v, r.Scan(&v.key, &v.id)
	})
	if err != nil {
		return err
	}
	for _, v := range ids {
		if o := a.Objective(v.key); o != nil {
			o.ID = v.id
		}
	}
	return nil
}

// LoadAchievements returns every active, configured achievement with its
// active objectives, ordered by id.
func (s *PostgresStore) LoadAchievements(ctx context.Context) (out []StoredAchievement, err error) {
	defer derrors.Wrap(&err, "load achievements")
	rows, err := s.pool.Query(ctx, sqlLoadAchievements)
	if err != nil {
		return nil, err
	}
	var (
		id, title, description, image, policy, disabled, key string
		startsAt, endsAt                                     *time.Time
		strategy, filters, rule                              []byte
		version                                              int
		objectiveID                                          int64
		sources                                              []string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &title, &description, &image, &policy, &startsAt, &endsAt, &strategy,
		&version, &disabled, &objectiveID, &key, &sources, &filters, &rule}, func() error {
		if len(out) == 0 || out[len(out)-1].Config.ID != id {
			out = append(out, StoredAchievement{
				Config: AchievementConfig{ID: id, Title: title, Description: description, ImageURL: image,
					Policy: Policy(policy), StartsAt: startsAt, EndsAt: endsAt, Strategy: json.RawMessage(strategy)},
				ObjectiveIDs: map[string]int64{}, Version: version, DisabledReason: disabled,
			})
		}
		a := &out[len(out)-1]
		a.Config.Objectives = append(a.Config.Objectives, ObjectiveConfig{Key: key, Sources: sources,
			Filters: json.RawMessage(filters), Rule: json.RawMessage(rule)})
		a.ObjectiveIDs[key] = objectiveID
		return nil
	})
	return out, err
}

// DisableAchievement records why an achievement's configuration cannot run;
// the engine skips it until a valid configuration is saved.
func (s *PostgresStore) DisableAchievement(ctx context.Context, id, reason string) error {
	if _, err := s.pool.Exec(ctx, sqlDisableAchievement, id, reason); err != nil {
		return fmt.Errorf("disable achievement %q: %w", id, err)
	}
	return nil
}

const (
	sqlSetSourcePaused = `
		INSERT INTO awards.sources (name, paused, actor) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, actor = excluded.actor, updated_at = now()`
	sqlSourceIsPaused = `SELECT coalesce((SELECT paused FROM awards.sources WHERE name = $1), false)`
)

// SetSourcePaused pauses or resumes consuming a source. A pause returns
// once no batch of the source is in flight on any instance; none commits
// after it.
func (s *PostgresStore) SetSourcePaused(ctx context.Context, source string, paused bool, actor string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlSetSourcePaused, source, paused, actor); err != nil || !paused {
			return err
		}
		_, err := tx.Exec(ctx, sqlXactLockName, int32(lockClassSource), source)
		return err
	})
	if err != nil {
		return fmt.Errorf("set source %q paused=%v: %w", source, paused, err)
	}
	return nil
}

// PausedSources returns the sources an operator paused.
func (s *PostgresStore) PausedSources(ctx context.Context) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM awards.sources WHERE paused`)
	if err != nil {
		return nil, fmt.Errorf("paused sources: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("paused sources: %w", err)
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

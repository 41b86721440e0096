package awards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// PostgresStore is the Store on PostgreSQL (schema "awards").
type PostgresStore struct {
	pool  *pgxpool.Pool
	hooks storeHooks
}

// storeHooks let tests stop the store between the steps of its protocols,
// to make concurrent transactions interleave in a chosen order. Nil in
// production.
type storeHooks struct {
	// afterHorizon runs when an achievements cycle has read its horizon,
	// before it reads the changed rows.
	afterHorizon func()
	// beforeCommit runs when a batch of events has written its progress,
	// before its transaction commits.
	beforeCommit func()
}

// NewPostgresStore returns a store using pool.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore {
	return &PostgresStore{pool: pool}
}

// The read queries of the public API page by keyset on the achievement id
// (the primary key), so a page costs the same wherever it is. LIMIT NULL
// (page size 0) means every row.
const (
	sqlUpsertAchievement = `
		INSERT INTO awards.achievements (id, title, description, image_url, goal, active)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET title = excluded.title, description = excluded.description,
			image_url = excluded.image_url, goal = excluded.goal, active = excluded.active, updated_at = now()`
	sqlUserAchievements = `
		SELECT a.id, a.title, a.description, a.image_url, a.goal, a.active, a.policy, a.starts_at, a.ends_at,
		       coalesce(u.progress, 0), u.started_at, u.completed_at, coalesce(o.objectives, '[]')
		FROM awards.achievements a
		LEFT JOIN awards.user_achievements u ON u.achievement_id = a.id AND u.user_id = $1
		LEFT JOIN LATERAL (
			SELECT jsonb_agg(jsonb_build_object('key', ob.key, 'progress', coalesce(uo.progress, 0),
			                                    'counters', coalesce(uo.counters, '{}')) ORDER BY ob.id) AS objectives
			FROM awards.objectives ob
			LEFT JOIN awards.user_objectives uo ON uo.user_id = $1 AND uo.objective_id = ob.id
			WHERE ob.achievement_id = a.id AND ob.active
		) o ON true
		WHERE a.active AND a.id > $2
		ORDER BY a.id
		LIMIT nullif($3::int, 0)`
	sqlAchievements = `
		SELECT a.id, a.title, a.description, a.image_url, a.goal, a.active, a.policy, a.starts_at, a.ends_at,
		       coalesce((SELECT array_agg(ob.key ORDER BY ob.id) FROM awards.objectives ob
		                 WHERE ob.achievement_id = a.id AND ob.active), '{}')
		FROM awards.achievements a
		WHERE a.active AND a.id > $1
		ORDER BY a.id
		LIMIT nullif($2::int, 0)`
	sqlStatusOfUser = `SELECT status FROM awards.users WHERE user_id = $1`
	// A user is seen once anything of theirs is stored: a status, a ledger
	// entry, counters, progress or notification settings (each table's
	// primary key starts with user_id).
	sqlUserSeen = `
		SELECT EXISTS (SELECT 1 FROM awards.users WHERE user_id = $1)
		    OR EXISTS (SELECT 1 FROM awards.user_objectives WHERE user_id = $1)
		    OR EXISTS (SELECT 1 FROM awards.user_achievements WHERE user_id = $1)
		    OR EXISTS (SELECT 1 FROM awards.contributions WHERE user_id = $1)
		    OR EXISTS (SELECT 1 FROM awards.notification_settings WHERE user_id = $1)`
)

// UpsertAchievement implements Store.
func (s *PostgresStore) UpsertAchievement(ctx context.Context, a Achievement) error {
	if _, err := s.pool.Exec(ctx, sqlUpsertAchievement, a.ID, a.Title, a.Description, a.ImageURL, a.Goal, a.Active); err != nil {
		return fmt.Errorf("upsert achievement %q: %w", a.ID, err)
	}
	return nil
}

// UserAchievements implements Store: one query for the page, with each
// achievement's active objectives and the user's counters in them.
func (s *PostgresStore) UserAchievements(ctx context.Context, userID string, page Page) (out []UserAchievement, err error) {
	defer derrors.Wrap(&err, "user %q achievements after %q", userID, page.After)
	rows, err := s.pool.Query(ctx, sqlUserAchievements, userID, page.After, max(page.Size, 0))
	if err != nil {
		return nil, err
	}
	var (
		ua         UserAchievement
		policy     string
		started    *time.Time
		objectives []byte
	)
	a := &ua.Achievement
	_, err = pgx.ForEachRow(rows, []any{&a.ID, &a.Title, &a.Description, &a.ImageURL, &a.Goal, &a.Active,
		&policy, &a.StartsAt, &a.EndsAt, &ua.Progress, &started, &ua.CompletedAt, &objectives}, func() error {
		item := ua
		item.Achievement.Policy = Policy(policy)
		if started != nil {
			item.StartedAt = *started
		}
		if err := json.Unmarshal(objectives, &item.Objectives); err != nil {
			return fmt.Errorf("objectives of %q: %w", a.ID, err)
		}
		item.Achievement.Objectives = make([]string, len(item.Objectives))
		for i, o := range item.Objectives {
			item.Achievement.Objectives[i] = o.Key
		}
		out = append(out, item)
		return nil
	})
	return out, err
}

// Achievements implements Store.
func (s *PostgresStore) Achievements(ctx context.Context, page Page) (out []Achievement, err error) {
	defer derrors.Wrap(&err, "achievements after %q", page.After)
	rows, err := s.pool.Query(ctx, sqlAchievements, page.After, max(page.Size, 0))
	if err != nil {
		return nil, err
	}
	var (
		a      Achievement
		policy string
	)
	_, err = pgx.ForEachRow(rows, []any{&a.ID, &a.Title, &a.Description, &a.ImageURL, &a.Goal, &a.Active,
		&policy, &a.StartsAt, &a.EndsAt, &a.Objectives}, func() error {
		item := a
		item.Policy = Policy(policy)
		out = append(out, item)
		return nil
	})
	return out, err
}

// UserSeen implements PublicStore.
func (s *PostgresStore) UserSeen(ctx context.Context, userID string) (seen bool, err error) {
	defer derrors.Wrap(&err, "whether user %q was seen", userID)
	err = s.pool.QueryRow(ctx, sqlUserSeen, userID).Scan(&seen)
	return seen, err
}

// UserStatus implements Store.
func (s *PostgresStore) UserStatus(ctx context.Context, userID string) (string, error) {
	var status string
	err := s.pool.QueryRow(ctx, sqlStatusOfUser, userID).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "active", nil
	case err != nil:
		return "", fmt.Errorf("status of user %q: %w", userID, err)
	}
	return status, nil
}

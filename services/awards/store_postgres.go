package awards

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresStore is the Store on PostgreSQL (schema "awards").
type PostgresStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a store using pool.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore {
	return &PostgresStore{pool: pool}
}

const (
	sqlUpsertAchievement = `
		INSERT INTO awards.achievements (id, title, description, image_url, goal, active)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET title = excluded.title, description = excluded.description,
			image_url = excluded.image_url, goal = excluded.goal, active = excluded.active, updated_at = now()`
	sqlUserAchievements = `
		SELECT a.id, a.title, a.description, a.image_url, a.goal, a.active,
		       coalesce(u.progress, 0), u.started_at, u.completed_at
		FROM awards.achievements a
		LEFT JOIN awards.user_achievements u ON u.achievement_id = a.id AND u.user_id = $1
		WHERE a.active
		ORDER BY a.id`
)

// UpsertAchievement implements Store.
func (s *PostgresStore) UpsertAchievement(ctx context.Context, a Achievement) error {
	if _, err := s.pool.Exec(ctx, sqlUpsertAchievement, a.ID, a.Title, a.Description, a.ImageURL, a.Goal, a.Active); err != nil {
		return fmt.Errorf("upsert achievement %q: %w", a.ID, err)
	}
	return nil
}

// UserAchievements implements Store.
func (s *PostgresStore) UserAchievements(ctx context.Context, userID string) ([]UserAchievement, error) {
	rows, err := s.pool.Query(ctx, sqlUserAchievements, userID)
	if err != nil {
		return nil, fmt.Errorf("user %q achievements: %w", userID, err)
	}
	var (
		out     []UserAchievement
		ua      UserAchievement
		started *time.Time
	)
	a := &ua.Achievement
	_, err = pgx.ForEachRow(rows, []any{&a.ID, &a.Title, &a.Description, &a.ImageURL, &a.Goal, &a.Active, &ua.Progress, &started, &ua.CompletedAt}, func() error {
		item := ua
		if started != nil {
			item.StartedAt = *started
		}
		out = append(out, item)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("user %q achievements: %w", userID, err)
	}
	return out, nil
}

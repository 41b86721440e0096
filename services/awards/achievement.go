// Package awards turns the event stream into achievements: objectives,
// counters, strategies and each user's progress.
package awards

import (
	"context"
	"time"
)

// Achievement is something a user can earn.
type Achievement struct {
	ID          string
	Title       string
	Description string
	ImageURL    string
	Goal        float64
	Active      bool
}

// UserAchievement is one achievement with one user's progress in it.
type UserAchievement struct {
	Achievement Achievement
	Progress    float64
	StartedAt   time.Time  // zero when the user has not started
	CompletedAt *time.Time // nil until completed
}

// Completed reports whether the user has earned the achievement.
func (u UserAchievement) Completed() bool { return u.CompletedAt != nil }

// Store keeps achievements and progress.
type Store interface {
	// UpsertAchievement creates an achievement or updates its metadata.
	UpsertAchievement(ctx context.Context, a Achievement) error
	// UserAchievements lists every active achievement with the user's
	// progress (zero for those not started), ordered by id.
	UserAchievements(ctx context.Context, userID string) ([]UserAchievement, error)
}

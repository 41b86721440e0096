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
	// Policy is "sticky" or "revocable"; StartsAt and EndsAt bound the
	// active period when it has one. Objectives are the keys of the active
	// objectives, in the order they were added. These are read only: they
	// come from the achievement's configuration (SaveAchievement), not from
	// UpsertAchievement.
	Policy     Policy
	StartsAt   *time.Time
	EndsAt     *time.Time
	Objectives []string
}

// UserAchievement is one achievement with one user's progress in it.
type UserAchievement struct {
	Achievement Achievement
	Progress    float64
	StartedAt   time.Time  // zero when the user has not started
	CompletedAt *time.Time // nil until completed
	// Objectives is the user's progress in each active objective of the
	// achievement, in the order of Achievement.Objectives; zero for those
	// the user has not started.
	Objectives []ObjectiveProgress
}

// ObjectiveProgress is a user's progress in one objective.
type ObjectiveProgress struct {
	Key string `json:"key"`
	// Progress is the counter the objective's rule reads.
	Progress float64 `json:"progress"`
	// Counters are every counter of the objective, e.g. {"active": 3, "blocked": 1}.
	Counters map[string]float64 `json:"counters"`
}

// Completed reports whether the user has earned the achievement.
func (u UserAchievement) Completed() bool { return u.CompletedAt != nil }

// Percent is progress / goal × 100, from 0 to 100.
func (u UserAchievement) Percent() float64 {
	if u.Achievement.Goal <= 0 {
		return 0
	}
	return min(max(u.Progress/u.Achievement.Goal*100, 0), 100)
}

// Remaining is how far the user is from the goal: goal − progress, never
// below zero.
func (u UserAchievement) Remaining() float64 {
	return max(u.Achievement.Goal-u.Progress, 0)
}

// Page asks for one page of a list ordered by achievement id: at most Size
// items (every item when Size is 0) with an id after After ("" for the
// first page).
type Page struct {
	Size  int
	After string
}

// Store keeps achievements and progress.
type Store interface {
	// UpsertAchievement creates an achievement or updates its metadata.
	UpsertAchievement(ctx context.Context, a Achievement) error
	// UserAchievements lists one page of the active achievements with the
	// user's progress (zero for those not started), ordered by id.
	UserAchievements(ctx context.Context, userID string, page Page) ([]UserAchievement, error)
	// Achievements lists one page of the active achievements, ordered by id.
	Achievements(ctx context.Context, page Page) ([]Achievement, error)
	// UserStatus returns the user's status: "active", "deleted" or
	// "banned"; "active" for a user the store has no record of.
	UserStatus(ctx context.Context, userID string) (string, error)
}

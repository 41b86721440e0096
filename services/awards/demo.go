package awards

import (
	"context"
	"fmt"
)

// DemoAchievements are loaded by `clickstream dev` so a new user sees the
// public API answer with something real.
func DemoAchievements() []Achievement {
	return []Achievement{
		{ID: "cafe-expert", Title: "Cafe expert", Description: "Photos and reviews of cafes, and kilometres driven to them.", Goal: 15, Active: true},
		{ID: "theatre-critic", Title: "Theatre critic", Description: "Reviews of theatres longer than 100 characters, one per theatre.", Goal: 10, Active: true},
		{ID: "map-keeper", Title: "Map keeper", Description: "Accepted corrections of opening hours.", Goal: 5, Active: true},
	}
}

// LoadDemo upserts the demo achievements.
func LoadDemo(ctx context.Context, store Store) error {
	for _, a := range DemoAchievements() {
		if err := store.UpsertAchievement(ctx, a); err != nil {
			return fmt.Errorf("load demo achievements: %w", err)
		}
	}
	return nil
}

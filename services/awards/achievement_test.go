package awards_test

import (
	"testing"

	"github.com/clickstream-dev/clickstream/services/awards"
)

// TestRemainingAndPercent: the figures derived from progress are rounded
// to what the inputs carry, so a subtraction's binary noise never shows,
// and percent reaches 100 only with the goal.
func TestRemainingAndPercent(t *testing.T) {
	sum := func(a, b float64) float64 { return a + b } // not folded at compile time
	for _, tc := range []struct {
		goal, progress     float64
		remaining, percent float64
	}{
		{15, 8.098, 6.902, 53.99},
		{15, 7, 8, 46.67},
		{15, 7.5, 7.5, 50},
		{0.3, sum(0.1, 0), 0.2, 33.33},
		{10, sum(1.234, 0.0000000000000002), 8.766, 12.34}, // noise in progress itself
		{1, sum(0.1, 0.2), 0.7, 30},                        // 0.30000000000000004
		{15, 14.9999, 0.0001, 99.99},                       // not 100 before the goal
		{15, 15, 0, 100},
		{15, 20, 0, 100},
		{15, 0, 15, 0},
		{0, 3, 0, 0},
		{1000, 0.001, 999.999, 0},
	} {
		ua := awards.UserAchievement{Achievement: awards.Achievement{Goal: tc.goal}, Progress: tc.progress}
		if got := ua.Remaining(); got != tc.remaining {
			t.Errorf("goal %v, progress %v: remaining %v, want %v", tc.goal, tc.progress, got, tc.remaining)
		}
		if got := ua.Percent(); got != tc.percent {
			t.Errorf("goal %v, progress %v: percent %v, want %v", tc.goal, tc.progress, got, tc.percent)
		}
	}
}

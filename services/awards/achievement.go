package awards

import (
	"math"
	"strconv"
	"strings"
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

// Percent is progress / goal × 100, from 0 to 100, rounded to 2 decimal
// places; below 100 while progress is below the goal (99.999% is shown as
// 99.99, not 100).
func (u UserAchievement) Percent() float64 {
	if u.Achievement.Goal <= 0 {
		return 0
	}
	p := roundDecimals(min(max(u.Progress/u.Achievement.Goal*100, 0), 100), 2)
	if p == 100 && u.Progress < u.Achievement.Goal {
		p = 99.99
	}
	return p
}

// Remaining is how far the user is from the goal: goal − progress, never
// below zero, rounded to the decimal places of goal and progress (at most
// maxDecimals) so that the subtraction's binary noise does not show: goal
// 15 and progress 8.098 give 6.902, not 6.901999999999999.
func (u UserAchievement) Remaining() float64 {
	d := max(decimals(u.Achievement.Goal), decimals(u.Progress))
	return roundDecimals(max(u.Achievement.Goal-u.Progress, 0), d)
}

// maxDecimals bounds the decimal places of the figures derived from
// progress: beyond it a value's digits are binary noise (0.1+0.2 is
// 0.30000000000000004), not information.
const maxDecimals = 6

// decimals is how many decimal places x has, written in the fewest digits
// that read back as x, at most maxDecimals.
func decimals(x float64) int {
	s := strconv.FormatFloat(x, 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return min(len(s)-i-1, maxDecimals)
	}
	return 0
}

// roundDecimals rounds x to d decimal places, to the float64 nearest that
// decimal (decimal rounding, not x*10^d, which brings its own error).
func roundDecimals(x float64, d int) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', d, 64), 64)
	if err != nil || math.IsInf(r, 0) {
		return x
	}
	return r
}

// Page asks for one page of a list ordered by achievement id: at most Size
// items (every item when Size is 0) with an id after After ("" for the
// first page).
type Page struct {
	Size  int
	After string
}

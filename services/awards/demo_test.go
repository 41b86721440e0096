package awards_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/services/awards"
)

func TestLoadDemo(t *testing.T) {
	store, pool := newStore(t)
	for range 2 {
		if err := awards.LoadDemo(t.Context(), store); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM awards.achievements`); n != 3 {
		t.Errorf("%d achievements after loading the demo twice, want 3", n)
	}
	list, err := store.UserAchievements(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	var want []awards.UserAchievement
	for _, a := range awards.DemoAchievements() {
		want = append(want, awards.UserAchievement{Achievement: a})
	}
	slices.SortFunc(want, func(a, b awards.UserAchievement) int {
		return strings.Compare(a.Achievement.ID, b.Achievement.ID)
	})
	if diff := diffAchievements(want, list); diff != "" {
		t.Errorf("demo achievements:\n%s", diff)
	}
}

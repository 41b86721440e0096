package awards_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/services/awards"
)

func TestUpsertAchievement(t *testing.T) {
	store, _ := newStore(t)
	a := awards.Achievement{ID: "cafe-expert", Title: "Cafe expert", Description: "Cafes.", ImageURL: "https://img/cafe.png", Goal: 15, Active: true}
	upsert(t, store, a)
	list, err := store.UserAchievements(t.Context(), "u1", awards.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffAchievements([]awards.UserAchievement{{Achievement: a}}, list); diff != "" {
		t.Errorf("after create:\n%s", diff)
	}

	a.Title, a.Description, a.ImageURL, a.Goal = "Cafe connoisseur", "More cafes.", "https://img/cafe2.png", 20
	upsert(t, store, a)
	list, err = store.UserAchievements(t.Context(), "u1", awards.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffAchievements([]awards.UserAchievement{{Achievement: a}}, list); diff != "" {
		t.Errorf("after update:\n%s", diff)
	}
}

func TestUpsertAchievementDeactivates(t *testing.T) {
	store, _ := newStore(t)
	active := awards.Achievement{ID: "map-keeper", Title: "Map keeper", Goal: 5, Active: true}
	retired := awards.Achievement{ID: "old-badge", Title: "Old badge", Goal: 1, Active: true}
	upsert(t, store, active, retired)
	retired.Active = false
	upsert(t, store, retired, awards.Achievement{ID: "never-shown", Title: "Never shown", Goal: 1})

	list, err := store.UserAchievements(t.Context(), "u1", awards.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffAchievements([]awards.UserAchievement{{Achievement: active}}, list); diff != "" {
		t.Errorf("only active achievements are listed:\n%s", diff)
	}
}

func TestUpsertAchievementInvalid(t *testing.T) {
	tests := []struct {
		name string
		a    awards.Achievement
	}{
		{"uppercase id", awards.Achievement{ID: "Cafe-Expert", Title: "x", Goal: 1, Active: true}},
		{"space in id", awards.Achievement{ID: "cafe expert", Title: "x", Goal: 1, Active: true}},
		{"leading dash", awards.Achievement{ID: "-cafe", Title: "x", Goal: 1, Active: true}},
		{"empty id", awards.Achievement{ID: "", Title: "x", Goal: 1, Active: true}},
		{"zero goal", awards.Achievement{ID: "cafe", Title: "x", Goal: 0, Active: true}},
		{"negative goal", awards.Achievement{ID: "cafe", Title: "x", Goal: -3, Active: true}},
	}
	store, pool := newStore(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := store.UpsertAchievement(t.Context(), tt.a)
			if err == nil {
				t.Fatalf("UpsertAchievement(%+v) succeeded, want an error", tt.a)
			}
			if !strings.Contains(err.Error(), `"`+tt.a.ID+`"`) {
				t.Errorf("error %q does not name the id %q", err, tt.a.ID)
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
				t.Errorf("error %v, want a check violation (23514)", err)
			}
		})
	}
	if n := count(t, pool, `SELECT count(*) FROM awards.achievements`); n != 0 {
		t.Errorf("%d achievements stored, want none", n)
	}
}

func TestUserAchievements(t *testing.T) {
	store, pool := newStore(t)
	// Upserted out of order: the list is ordered by id.
	zebra := awards.Achievement{ID: "zebra", Title: "Zebra", Goal: 3, Active: true}
	alpha := awards.Achievement{ID: "alpha", Title: "Alpha", Goal: 10, Active: true}
	middle := awards.Achievement{ID: "middle", Title: "Middle", Goal: 5, Active: true}
	hidden := awards.Achievement{ID: "hidden", Title: "Hidden", Goal: 1, Active: true}
	upsert(t, store, zebra, alpha, middle, hidden)

	started := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	doneAlpha := time.Date(2024, 3, 5, 12, 30, 0, 0, time.UTC)
	doneZebra := time.Date(2024, 4, 2, 8, 0, 0, 0, time.UTC)
	insertProgress(t, pool, "u1", "alpha", 10, started, &doneAlpha)
	insertProgress(t, pool, "u1", "middle", 2.5, started.Add(time.Hour), nil)
	insertProgress(t, pool, "u1", "zebra", 3, started, &doneZebra)
	insertProgress(t, pool, "u1", "hidden", 1, started, &doneZebra)
	insertProgress(t, pool, "u2", "middle", 4, started, nil)
	hidden.Active = false
	upsert(t, store, hidden)

	tests := []struct {
		user string
		want []awards.UserAchievement
	}{{
		user: "u1",
		want: []awards.UserAchievement{
			{Achievement: alpha, Progress: 10, StartedAt: started, CompletedAt: &doneAlpha},
			{Achievement: middle, Progress: 2.5, StartedAt: started.Add(time.Hour)},
			{Achievement: zebra, Progress: 3, StartedAt: started, CompletedAt: &doneZebra},
		},
	}, {
		user: "u2",
		want: []awards.UserAchievement{
			{Achievement: alpha},
			{Achievement: middle, Progress: 4, StartedAt: started},
			{Achievement: zebra},
		},
	}, {
		user: "nobody",
		want: []awards.UserAchievement{{Achievement: alpha}, {Achievement: middle}, {Achievement: zebra}},
	}}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got, err := store.UserAchievements(t.Context(), tt.user, awards.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := diffAchievements(tt.want, got); diff != "" {
				t.Errorf("UserAchievements(%q):\n%s", tt.user, diff)
			}
			for _, ua := range got {
				if ua.Completed() != (ua.CompletedAt != nil) {
					t.Errorf("%s: Completed() = %v with completed_at %v", ua.Achievement.ID, ua.Completed(), ua.CompletedAt)
				}
			}
		})
	}
}

func TestUserAchievementsNone(t *testing.T) {
	store, _ := newStore(t)
	got, err := store.UserAchievements(t.Context(), "u1", awards.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("no achievements defined: got %v, want none", got)
	}
}

// insertProgress writes a user_achievements row, as the achievements worker
// will.
func insertProgress(t *testing.T, pool *pgxpool.Pool, user, achievement string, progress float64, started time.Time, completed *time.Time) {
	t.Helper()
	_, err := pool.Exec(t.Context(), `
		INSERT INTO awards.user_achievements (user_id, achievement_id, progress, goal, started_at, completed_at)
		SELECT $1, id, $3, goal, $4, $5 FROM awards.achievements WHERE id = $2`,
		user, achievement, progress, started, completed)
	if err != nil {
		t.Fatalf("insert progress of %s in %s: %v", user, achievement, err)
	}
}

// count runs a SELECT count(*) query.
func count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// diffAchievements describes how got differs from want, or returns "".
func diffAchievements(want, got []awards.UserAchievement) string {
	w, g := describeAll(want), describeAll(got)
	if slices.Equal(w, g) {
		return ""
	}
	return fmt.Sprintf("got:\n\t%s\nwant:\n\t%s", strings.Join(g, "\n\t"), strings.Join(w, "\n\t"))
}

func describeAll(list []awards.UserAchievement) []string {
	out := make([]string, len(list))
	for i, ua := range list {
		a := ua.Achievement
		completed := "not completed"
		if ua.CompletedAt != nil {
			completed = "completed " + ua.CompletedAt.UTC().Format(time.RFC3339Nano)
		}
		started := "not started"
		if !ua.StartedAt.IsZero() {
			started = "started " + ua.StartedAt.UTC().Format(time.RFC3339Nano)
		}
		out[i] = fmt.Sprintf("%s %q %q %q goal %g active %v: progress %g, %s, %s",
			a.ID, a.Title, a.Description, a.ImageURL, a.Goal, a.Active, ua.Progress, started, completed)
	}
	return out
}

// TestUserAchievementsObjectives: each achievement carries its active
// objectives with the user's counters, zero where the user has none.
func TestUserAchievementsObjectives(t *testing.T) {
	env := newEngineEnv(t)
	env.apply(t, photoRecord("u1", "p1", active), photoRecord("u1", "p2", active), photoRecord("u1", "p2", blocked))
	list, err := env.store.UserAchievements(t.Context(), "u1", awards.Page{After: "local-guide", Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ua := range list {
		got = append(got, fmt.Sprintf("%s %v %v", ua.Achievement.ID, ua.Achievement.Objectives, ua.Objectives))
	}
	want := []string{
		"navigator-10km [navi] [{navi 0 map[]}]",
		"photos-and-reviews [photo reviews] [{photo 1 map[active:1 blocked:1]} {reviews 0 map[]}]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("page after local-guide:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestAchievementsPage(t *testing.T) {
	env := newEngineEnv(t)
	list, err := env.store.Achievements(t.Context(), awards.Page{After: "navigator-10km"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range list {
		got = append(got, fmt.Sprintf("%s %s %v", a.ID, a.Policy, a.Objectives))
	}
	want := []string{"photos-and-reviews revocable [photo reviews]", "reviews-or-photos sticky [reviews photo]", "thoughtful-reviewer sticky [reviews]"}
	if !slices.Equal(got, want) {
		t.Errorf("achievements after navigator-10km: %v, want %v", got, want)
	}
}

func TestUserStatus(t *testing.T) {
	store, pool := newStore(t)
	if _, err := pool.Exec(t.Context(), `INSERT INTO awards.users (user_id, status) VALUES ('b', 'banned'), ('d', 'deleted'), ('a', 'active')`); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]string{"b": "banned", "d": "deleted", "a": "active", "unknown": "active"} {
		if got, err := store.UserStatus(t.Context(), user); err != nil || got != want {
			t.Errorf("UserStatus(%q) = %q, %v; want %q", user, got, err, want)
		}
	}
}

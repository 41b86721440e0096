package awards_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	"github.com/clickstream-dev/clickstream/services/awards"
)

func TestListUserAchievements(t *testing.T) {
	store, pool := newStore(t)
	upsert(t, store,
		awards.Achievement{ID: "cafe-expert", Title: "Cafe expert", Description: "Cafes.", ImageURL: "https://img/cafe.png", Goal: 15, Active: true},
		awards.Achievement{ID: "map-keeper", Title: "Map keeper", Description: "Hours.", ImageURL: "https://img/map.png", Goal: 5, Active: true},
		awards.Achievement{ID: "theatre-critic", Title: "Theatre critic", Goal: 10, Active: true},
	)
	started := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	completed := time.Date(2024, 3, 9, 18, 45, 30, 0, time.UTC)
	insertProgress(t, pool, "u1", "cafe-expert", 7.5, started, nil)
	insertProgress(t, pool, "u1", "map-keeper", 5, started.Add(time.Minute), &completed)

	resp, err := awards.NewPublicAPI(store).ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetAchievements()
	if len(got) != 3 {
		t.Fatalf("%d achievements, want 3: %v", len(got), got)
	}

	cafe := got[0]
	if a := cafe.GetAchievement(); a.GetId() != "cafe-expert" || a.GetTitle() != "Cafe expert" || a.GetDescription() != "Cafes." ||
		a.GetImageUrl() != "https://img/cafe.png" || a.GetGoal() != 15 {
		t.Errorf("achievement = %v, want cafe-expert with its metadata", a)
	}
	if cafe.GetProgress() != 7.5 || cafe.GetCompleted() || cafe.GetCompletedAt() != nil || !cafe.GetStartedAt().AsTime().Equal(started) {
		t.Errorf("cafe-expert: progress %g, completed %v at %v, started %v; want 7.5, not completed, started %v",
			cafe.GetProgress(), cafe.GetCompleted(), cafe.GetCompletedAt(), cafe.GetStartedAt(), started)
	}

	mapKeeper := got[1]
	if mapKeeper.GetAchievement().GetId() != "map-keeper" || mapKeeper.GetProgress() != 5 || !mapKeeper.GetCompleted() ||
		!mapKeeper.GetCompletedAt().AsTime().Equal(completed) || !mapKeeper.GetStartedAt().AsTime().Equal(started.Add(time.Minute)) {
		t.Errorf("map-keeper = %v, want progress 5, completed at %v, started %v", mapKeeper, completed, started.Add(time.Minute))
	}

	theatre := got[2]
	if theatre.GetAchievement().GetId() != "theatre-critic" || theatre.GetProgress() != 0 || theatre.GetCompleted() ||
		theatre.GetStartedAt() != nil || theatre.GetCompletedAt() != nil {
		t.Errorf("theatre-critic = %v, want not started: no progress, no timestamps", theatre)
	}
}

func TestListUserAchievementsErrors(t *testing.T) {
	store, pool := newStore(t)
	api := awards.NewPublicAPI(store)

	_, err := api.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{})
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "user_id is required") {
		t.Errorf("empty user_id: %v (%v), want InvalidArgument saying user_id is required", err, connect.CodeOf(err))
	}

	pool.Close()
	_, err = api.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: "u1"})
	if connect.CodeOf(err) != connect.CodeInternal {
		t.Errorf("store failure: %v (%v), want Internal", err, connect.CodeOf(err))
	}
}

// TestListUserAchievementsConnect calls the API through its Connect handler,
// the way apps do.
func TestListUserAchievementsConnect(t *testing.T) {
	store, _ := newStore(t)
	if err := loadStarter(t, store); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(awardsv1connect.NewAwardsServiceHandler(awards.NewPublicAPI(store)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := awardsv1connect.NewAwardsServiceClient(srv.Client(), srv.URL)

	resp, err := client.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(resp.GetAchievements()); got != 5 {
		t.Errorf("%d achievements over Connect, want the 5 starter achievements", got)
	}
	_, err = client.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{})
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("empty user_id over Connect: %v (%v), want InvalidArgument", err, connect.CodeOf(err))
	}
}

// loadStarter saves the starter achievements.
func loadStarter(t *testing.T, store *awards.PostgresStore) error {
	t.Helper()
	_, err := awards.NewEngine(awards.EngineConfig{Store: store, Schemas: schemas, Logger: quiet}).ApplyFile(t.Context(), awards.StarterAchievements(), "test")
	return err
}

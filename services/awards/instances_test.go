package awards_test

import (
	"sync"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// TestApplyFileConcurrently: instances started at once with the same
// achievements file apply it at the same moment; every one succeeds and
// the file is stored once: one configuration revision and one
// announcement per achievement (issue 16: config_history_pkey).
func TestApplyFileConcurrently(t *testing.T) {
	const instances = 4
	url := pgtest.NewDatabase(t)
	var engines []*awards.Engine
	for range instances {
		// An instance of its own: its own pool, store and engine.
		pool, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		engines = append(engines, awards.NewEngine(awards.EngineConfig{Store: awards.NewPostgresStore(pool), Schemas: schemas, Logger: quiet}))
	}
	check, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(check.Close)
	file, err := awards.ParseConfigFile(awards.StarterAchievements())
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make([]error, instances)
		for i, e := range engines {
			wg.Go(func() { _, errs[i] = e.ApplyFile(t.Context(), awards.StarterAchievements(), "instance") })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: instance %d: %v", round, i, err)
			}
		}
	}
	for _, a := range file.Achievements {
		if n := count(t, check, `SELECT count(*) FROM awards.config_history WHERE achievement_id = $1`, a.ID); n != 1 {
			t.Errorf("achievement %q: %d configuration revisions, want 1", a.ID, n)
		}
		if n := count(t, check, `SELECT count(*) FROM awards.achievements WHERE id = $1 AND config_version = 1`, a.ID); n != 1 {
			t.Errorf("achievement %q is not at configuration version 1", a.ID)
		}
		if n := count(t, check, `SELECT count(*) FROM awards.outbox WHERE kind = 'announced' AND achievement_id = $1`, a.ID); n != 1 {
			t.Errorf("achievement %q announced %d times, want once", a.ID, n)
		}
	}
	for i, e := range engines {
		if got, want := len(e.Config().Achievements), len(file.Achievements); got != want {
			t.Errorf("instance %d runs %d achievements, want %d", i, got, want)
		}
	}
}

package awards_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/services/awards"
)

// reviewsConfig is a valid configuration the table below breaks one way at
// a time.
func reviewsConfig() awards.AchievementConfig {
	return awards.AchievementConfig{
		ID: "critic", Title: "Critic", Policy: awards.PolicySticky,
		Objectives: []awards.ObjectiveConfig{{
			Key: "reviews", Sources: []string{"reviews"},
			Filters: json.RawMessage(`[{"name":"ReviewsLengthFilter","config":{"allowed_length":100}}]`),
			Rule:    json.RawMessage(`{"name":"ReviewUniqueByObjectRule","config":{}}`),
		}},
		Strategy: json.RawMessage(`{"goal":5,"strategy":[{"objective_id":"reviews"}]}`),
	}
}

func TestCompileErrorsNameWhatIsWrong(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *awards.AchievementConfig)
		want   []string // substrings of the error
	}{
		{"unknown filter", func(c *awards.AchievementConfig) {
			c.Objectives[0].Filters = json.RawMessage(`[{"name":"LengthFilter","config":{}}]`)
		}, []string{`achievement "critic"`, `objective "reviews"`, `unknown filter "LengthFilter"`, "ReviewsLengthFilter"}},
		{"bad filter config", func(c *awards.AchievementConfig) {
			c.Objectives[0].Filters = json.RawMessage(`[{"name":"ReviewsLengthFilter","config":{"allowed_length":"long"}}]`)
		}, []string{`objective "reviews"`, `setting "allowed_length"`, "integer"}},
		{"field the event lacks", func(c *awards.AchievementConfig) {
			c.Objectives[0].Filters = json.RawMessage(`[{"name":"FieldEqualsFilter","config":{"field":"city","value":"Paris"}}]`)
		}, []string{`objective "reviews"`, `setting "field"`, `no field "city"`, "ReviewStatusChangedV1"}},
		{"unknown rule", func(c *awards.AchievementConfig) {
			c.Objectives[0].Rule = json.RawMessage(`{"name":"UniqueRule"}`)
		}, []string{`unknown rule "UniqueRule"`, "ReviewUniqueByObjectRule"}},
		{"unknown source", func(c *awards.AchievementConfig) {
			c.Objectives[0].Sources = []string{"Reviews"}
		}, []string{`source "Reviews" is not a registered event`}},
		{"strategy names a missing objective", func(c *awards.AchievementConfig) {
			c.Strategy = json.RawMessage(`{"goal":5,"strategy":[{"objective_id":"photo"}]}`)
		}, []string{"strategy", `objective "photo" does not exist`}},
		{"goal not positive", func(c *awards.AchievementConfig) {
			c.Strategy = json.RawMessage(`{"goal":0,"strategy":[{"objective_id":"reviews"}]}`)
		}, []string{"goal must be greater than 0"}},
		{"duplicate objective key", func(c *awards.AchievementConfig) {
			c.Objectives = append(c.Objectives, c.Objectives[0])
		}, []string{`objective "reviews": key appears twice`}},
		{"bad policy", func(c *awards.AchievementConfig) { c.Policy = "forever" }, []string{`policy "forever" is not valid`}},
		{"bad id", func(c *awards.AchievementConfig) { c.ID = "Critic!" }, []string{"id must be lowercase"}},
		{"no rule", func(c *awards.AchievementConfig) { c.Objectives[0].Rule = nil }, []string{"rule is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := reviewsConfig()
			tc.change(&c)
			_, err := awards.Compile(awards.NewComponents(), schemas, c)
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := awards.Compile(awards.NewComponents(), schemas, reviewsConfig()); err != nil {
		t.Fatalf("the valid configuration: %v", err)
	}
}

func TestSaveVersionsAndHistory(t *testing.T) {
	env := newEngineEnv(t)
	c := reviewsConfig()
	first, err := env.engine.Save(t.Context(), c, "operator-a")
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.engine.Save(t.Context(), c, "operator-a")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Changed || first.Version != 1 || again.Changed || again.Version != 1 {
		t.Errorf("save, save again = %+v, %+v; want version 1 changed, then unchanged", first, again)
	}
	c.Strategy = json.RawMessage(`{"goal":3,"strategy":[{"objective_id":"reviews"}]}`)
	second, err := env.engine.Save(t.Context(), c, "operator-b")
	if err != nil {
		t.Fatal(err)
	}
	if !second.Changed || second.Version != 2 {
		t.Errorf("changed save = %+v, want version 2", second)
	}
	if n := count(t, env.pool, `SELECT count(*) FROM awards.config_history WHERE achievement_id = 'critic'`); n != 2 {
		t.Errorf("%d history rows, want 2", n)
	}
	if n := count(t, env.pool, `SELECT count(*) FROM awards.config_history WHERE achievement_id = 'critic' AND version = 2 AND author = 'operator-b' AND config->'strategy'->>'goal' = '3'`); n != 1 {
		t.Error("version 2 is not recorded with its author and configuration")
	}
	if n := count(t, env.pool, `SELECT count(*) FROM awards.outbox WHERE kind = 'announced' AND achievement_id = 'critic'`); n != 1 {
		t.Errorf("%d announcements of the new achievement, want 1 (on creation only)", n)
	}
	if n := count(t, env.pool, `SELECT count(*) FROM awards.achievements WHERE id = 'critic' AND goal = 3`); n != 1 {
		t.Error("the achievement's goal does not follow the strategy")
	}

	// An invalid configuration stores nothing.
	bad := reviewsConfig()
	bad.ID = "broken"
	bad.Objectives[0].Rule = json.RawMessage(`{"name":"Nope"}`)
	if _, err := env.engine.Save(t.Context(), bad, "operator-a"); err == nil {
		t.Fatal("saved an invalid configuration")
	}
	if n := count(t, env.pool, `SELECT count(*) FROM awards.achievements WHERE id = 'broken'`); n != 0 {
		t.Error("the invalid configuration was stored")
	}
}

// TestBrokenStoredConfigurationIsDisabled: a stored configuration that no
// longer validates disables its achievement with the reason; the engine
// keeps running the others.
func TestBrokenStoredConfigurationIsDisabled(t *testing.T) {
	env := newEngineEnv(t)
	if _, err := env.pool.Exec(t.Context(), `
		UPDATE awards.objectives SET filters = '[{"name":"FieldEqualsFilter","config":{"field":"colour","value":"red"}}]'
		WHERE achievement_id = 'thoughtful-reviewer'`); err != nil {
		t.Fatal(err)
	}
	if err := env.engine.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	reason, ok := env.engine.Snapshot().Broken["thoughtful-reviewer"]
	if !ok || !strings.Contains(reason, `no field "colour"`) {
		t.Fatalf("broken = %v, want thoughtful-reviewer reported with the missing field", env.engine.Snapshot().Broken)
	}
	if n := count(t, env.pool, `SELECT count(*) FROM awards.achievements WHERE id = 'thoughtful-reviewer' AND disabled_reason LIKE '%colour%'`); n != 1 {
		t.Error("the disabled reason is not stored")
	}
	env.apply(t, reviewRecord("u1", "r1", "o1", active, 300))
	env.wantAchievement(t, "u1", "thoughtful-reviewer", 0, false)
	env.wantAchievement(t, "u1", "reviews-or-photos", 1, false)

	// Saving a valid configuration enables it again.
	f, err := awards.ParseConfigFile(awards.StarterAchievements())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Achievements {
		if c.ID == "thoughtful-reviewer" {
			if _, err := env.engine.Save(t.Context(), c, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, broken := env.engine.Snapshot().Broken["thoughtful-reviewer"]; broken {
		t.Error("still broken after a valid save")
	}
	if n := count(t, env.pool, `SELECT count(*) FROM awards.achievements WHERE id = 'thoughtful-reviewer' AND disabled_reason = ''`); n != 1 {
		t.Error("the disabled reason was not cleared")
	}
}

func TestParseConfigFile(t *testing.T) {
	f, err := awards.ParseConfigFile(awards.StarterAchievements())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Achievements) != 5 {
		t.Errorf("%d starter achievements, want 5", len(f.Achievements))
	}
	for _, c := range f.Achievements {
		if _, err := awards.Compile(awards.NewComponents(), schemas, c); err != nil {
			t.Errorf("starter %s: %v", c.ID, err)
		}
	}
	js := `{"achievements":[{"id":"a","title":"A","objectives":[{"key":"k","sources":["photos"],"rule":{"name":"CountRule"}}],"strategy":{"goal":1,"strategy":[{"objective_id":"k"}]}}]}`
	if _, err := awards.ParseConfigFile([]byte(js)); err != nil {
		t.Errorf("JSON file: %v", err)
	}
	for name, bad := range map[string]string{
		"unknown key":  "achievements:\n  - id: a\n    titel: A\n",
		"duplicate id": "achievements:\n  - id: a\n    title: A\n  - id: a\n    title: B\n",
		"not yaml":     "achievements: [",
	} {
		if _, err := awards.ParseConfigFile([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzConfigFile(f *testing.F) {
	f.Add(awards.StarterAchievements())
	f.Add([]byte(`{"achievements":[{"id":"a","title":"A","objectives":[{"key":"k","sources":["photos"],"rule":{"name":"CountRule"}}],"strategy":{"goal":1,"strategy":[{"objective_id":"k"}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := awards.ParseConfigFile(data)
		if err != nil {
			return
		}
		for _, c := range file.Achievements {
			a, err := awards.Compile(awards.NewComponents(), schemas, c)
			if err == nil && !(a.Strategy.Goal() > 0) {
				t.Errorf("compiled %s with goal %v", c.ID, a.Strategy.Goal())
			}
		}
	})
}

package awards_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/clickstream-dev/clickstream/services/awards"
)

// referenceStrategy is the design's reference example:
// goal 15 = sum(min(photo+reviews, 5), min(navi_meters*0.001, 10)).
const referenceStrategy = `{"goal":15,"operation":"sum","strategy":[` +
	`{"goal":5,"operation":"sum","strategy":[{"objective_id":"photo"},{"objective_id":"reviews"}]},` +
	`{"goal":10,"operation":"sum","strategy":[{"objective_id":"navi","normalization_factor":0.001}]}]}`

var strategyObjectives = []string{"photo", "reviews", "navi"}

func parseStrategy(t testing.TB, data string) *awards.Strategy {
	t.Helper()
	s, err := awards.ParseStrategy([]byte(data), strategyObjectives)
	if err != nil {
		t.Fatalf("ParseStrategy(%s): %v", data, err)
	}
	return s
}

func TestStrategyEvaluate(t *testing.T) {
	threeOrThree := `{"goal":3,"operation":"max","strategy":[{"objective_id":"reviews"},{"objective_id":"photo"}]}`
	bothFive := `{"goal":10,"operation":"sum","strategy":[` +
		`{"objective_id":"photo","goal":5},{"objective_id":"reviews","goal":5}]}`
	bothFiveMin := `{"goal":5,"operation":"min","strategy":[{"objective_id":"photo"},{"objective_id":"reviews"}]}`
	drive := `{"goal":10,"objective_id":"navi","normalization_factor":0.001}`
	tests := []struct {
		name     string
		strategy string
		progress map[string]float64
		want     float64
	}{
		{"reference", referenceStrategy, map[string]float64{"reviews": 1, "photo": 2, "navi": 4000}, 7},
		{"reference capped", referenceStrategy, map[string]float64{"reviews": 10, "photo": 10, "navi": 50000}, 15},
		{"reference nothing", referenceStrategy, nil, 0},
		{"reference inner capped only", referenceStrategy, map[string]float64{"photo": 9, "navi": 1500}, 6.5},
		{"reviews or photos", threeOrThree, map[string]float64{"reviews": 1, "photo": 2}, 2},
		{"reviews or photos completed", threeOrThree, map[string]float64{"reviews": 1, "photo": 3}, 3},
		{"reviews or photos over goal", threeOrThree, map[string]float64{"reviews": 7}, 3},
		{"leaf caps", bothFive, map[string]float64{"photo": 9, "reviews": 2}, 7},
		{"min", bothFiveMin, map[string]float64{"photo": 4, "reviews": 2}, 2},
		{"min completed", bothFiveMin, map[string]float64{"photo": 6, "reviews": 5}, 5},
		{"min missing objective", bothFiveMin, map[string]float64{"photo": 6}, 0},
		{"root leaf", drive, map[string]float64{"navi": 4200}, 4.2},
		{"negative progress counts zero", drive, map[string]float64{"navi": -300}, 0},
		{"NaN progress counts zero", drive, map[string]float64{"navi": math.NaN()}, 0},
		{"default operation is sum", `{"goal":9,"strategy":[{"objective_id":"photo"},{"objective_id":"reviews"}]}`,
			map[string]float64{"photo": 2, "reviews": 3}, 5},
		{"group factor", `{"goal":9,"normalization_factor":0.5,"strategy":[{"objective_id":"photo"},{"objective_id":"reviews"}]}`,
			map[string]float64{"photo": 2, "reviews": 3}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parseStrategy(t, tt.strategy)
			got, _ := s.Evaluate(tt.progress)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Evaluate(%v) = %v, want %v", tt.progress, got, tt.want)
			}
		})
	}
}

func TestStrategyExplain(t *testing.T) {
	s := parseStrategy(t, referenceStrategy)
	if s.Goal() != 15 {
		t.Errorf("Goal() = %v, want 15", s.Goal())
	}
	if got, want := s.Objectives(), []string{"navi", "photo", "reviews"}; !slices.Equal(got, want) {
		t.Errorf("Objectives() = %q, want %q", got, want)
	}
	got, nodes := s.Evaluate(map[string]float64{"reviews": 1, "photo": 2, "navi": 4000})
	if got != 7 {
		t.Errorf("Evaluate = %v, want 7", got)
	}
	want := []awards.NodeValue{
		{Path: "", Operation: awards.OperationSum, Uncapped: 7, Goal: 15, Value: 7},
		{Path: "strategy[0]", Operation: awards.OperationSum, Uncapped: 3, Goal: 5, Value: 3},
		{Path: "strategy[0].strategy[0]", ObjectiveID: "photo", Uncapped: 2, Value: 2},
		{Path: "strategy[0].strategy[1]", ObjectiveID: "reviews", Uncapped: 1, Value: 1},
		{Path: "strategy[1]", Operation: awards.OperationSum, Uncapped: 4, Goal: 10, Value: 4},
		{Path: "strategy[1].strategy[0]", ObjectiveID: "navi", Uncapped: 4, Value: 4},
	}
	if !slices.Equal(nodes, want) {
		t.Errorf("breakdown:\n got %+v\nwant %+v", nodes, want)
	}

	_, nodes = s.Evaluate(map[string]float64{"reviews": 10, "photo": 10, "navi": 50000})
	if n := nodes[1]; n.Uncapped != 20 || n.Value != 5 {
		t.Errorf("inner group = %+v, want 20 capped to 5", n)
	}
	if n := nodes[4]; n.Uncapped != 50 || n.Value != 10 {
		t.Errorf("navi group = %+v, want 50 capped to 10", n)
	}
}

func TestStrategyParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		want     string
	}{
		{"missing objective", `{"goal":15,"strategy":[{"objective_id":"photo"},{"strategy":[{"objective_id":"navi"},{"objective_id":"likes"}]}]}`,
			`strategy[1].strategy[1]: objective "likes" does not exist`},
		{"root goal required", `{"strategy":[{"objective_id":"photo"}]}`,
			`root: goal is required (it is the achievement's goal)`},
		{"zero goal", `{"goal":0,"strategy":[{"objective_id":"photo"}]}`,
			`root: goal must be greater than 0, got 0`},
		{"negative inner goal", `{"goal":3,"strategy":[{"objective_id":"photo","goal":-1}]}`,
			`strategy[0]: goal must be greater than 0, got -1`},
		{"zero factor", `{"goal":3,"strategy":[{"objective_id":"photo","normalization_factor":0}]}`,
			`strategy[0]: normalization_factor must be greater than 0, got 0`},
		{"negative factor", `{"goal":3,"normalization_factor":-2,"strategy":[{"objective_id":"photo"}]}`,
			`root: normalization_factor must be greater than 0, got -2`},
		{"both leaf and group", `{"goal":3,"strategy":[{"objective_id":"photo","strategy":[{"objective_id":"reviews"}]}]}`,
			`strategy[0]: a node either references an objective (objective_id) or groups children (strategy), not both`},
		{"neither leaf nor group", `{"goal":3,"strategy":[{"goal":2}]}`,
			`strategy[0]: a node must reference an objective (objective_id) or group children (strategy)`},
		{"empty group", `{"goal":3,"strategy":[]}`,
			`root: strategy must list at least one node`},
		{"unknown operation", `{"goal":3,"operation":"avg","strategy":[{"objective_id":"photo"}]}`,
			`root: unknown operation "avg" (valid: sum, min, max)`},
		{"operation on leaf", `{"goal":3,"strategy":[{"objective_id":"photo","operation":"max"}]}`,
			`strategy[0]: operation "max" applies only to groups (strategy), not to objective "photo"`},
		{"several errors", `{"strategy":[{"objective_id":"likes"},{"goal":0,"strategy":[]}]}`,
			"root: goal is required (it is the achievement's goal)\n" +
				"strategy[0]: objective \"likes\" does not exist\n" +
				"strategy[1]: goal must be greater than 0, got 0\n" +
				"strategy[1]: strategy must list at least one node"},
		{"unknown field", `{"goal":3,"strategy":[{"objective_id":"photo","weight":2}]}`,
			`decode strategy: strategy[0]: unknown field "weight" (valid: objective_id, goal, operation, normalization_factor, strategy)`},
		{"field in another case", `{"goal":3,"strategy":[{"Objective_ID":"photo"}]}`,
			`decode strategy: strategy[0]: unknown field "Objective_ID" (valid: objective_id, goal, operation, normalization_factor, strategy)`},
		{"duplicate field", `{"goal":3,"goal":4,"strategy":[{"objective_id":"photo"}]}`,
			`decode strategy: root: duplicate field "goal"`},
		{"null field", `{"goal":3,"strategy":[{"objective_id":null}]}`,
			`decode strategy: strategy[0]: objective_id must not be null`},
		{"wrong type", `{"goal":"3","strategy":[{"objective_id":"photo"}]}`,
			`decode strategy: root: goal: json: cannot unmarshal string into Go value of type float64`},
		{"strategy not an array", `{"goal":3,"strategy":{"objective_id":"photo"}}`,
			`decode strategy: root: expected "strategy" to be an array, got {`},
		{"not an object", `[]`, `decode strategy: root: expected an object, got [`},
		{"trailing data", `{"goal":3,"objective_id":"photo"} {}`, `decode strategy: unexpected data after the strategy`},
		{"empty", ``, `decode strategy: root: EOF`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := awards.ParseStrategy([]byte(tt.strategy), strategyObjectives)
			if err == nil {
				t.Fatalf("ParseStrategy succeeded: %+v", s)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestStrategyTooDeep(t *testing.T) {
	data := `{"objective_id":"photo"}`
	for range 40 {
		data = `{"strategy":[` + data + `]}`
	}
	data = `{"goal":1,"strategy":[` + data + `]}`
	if _, err := awards.ParseStrategy([]byte(data), strategyObjectives); err == nil {
		t.Fatal("ParseStrategy accepted 41 levels of nesting")
	}
}

// TestStrategyProperties checks, for random trees and random progress, that
// the root value lies in [0, goal] and never falls when one objective's
// progress rises.
func TestStrategyProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		root := randomStrategyNode(rng, 0)
		goal := float64(1 + rng.IntN(50))
		root.Goal = &goal
		data, err := json.Marshal(root)
		if err != nil {
			t.Fatal(err)
		}
		s := parseStrategy(t, string(data))
		for range 20 {
			progress := randomProgress(rng)
			v, _ := s.Evaluate(progress)
			if v < 0 || v > goal {
				t.Fatalf("%s with %v = %v, outside [0, %v]", data, progress, v, goal)
			}
			for _, o := range strategyObjectives {
				more := make(map[string]float64, len(progress))
				for k, p := range progress {
					more[k] = p
				}
				more[o] += rng.Float64() * 100
				if w, _ := s.Evaluate(more); w < v {
					t.Fatalf("%s: raising %s from %v to %v lowered progress from %v to %v", data, o, progress[o], more[o], v, w)
				}
			}
		}
	}
}

func randomStrategyNode(rng *rand.Rand, depth int) awards.StrategyNode {
	var n awards.StrategyNode
	if rng.IntN(3) == 0 {
		g := float64(1+rng.IntN(20)) / float64(1+rng.IntN(4))
		n.Goal = &g
	}
	if rng.IntN(4) == 0 {
		f := []float64{0.001, 0.5, 1, 2}[rng.IntN(4)]
		n.NormalizationFactor = &f
	}
	if depth >= 3 || rng.IntN(3) == 0 {
		n.ObjectiveID = strategyObjectives[rng.IntN(len(strategyObjectives))]
		return n
	}
	n.Operation = []awards.Operation{"", awards.OperationSum, awards.OperationMin, awards.OperationMax}[rng.IntN(4)]
	for range 1 + rng.IntN(3) {
		n.Strategy = append(n.Strategy, randomStrategyNode(rng, depth+1))
	}
	return n
}

func randomProgress(rng *rand.Rand) map[string]float64 {
	p := map[string]float64{}
	for _, o := range strategyObjectives {
		if rng.IntN(4) > 0 {
			p[o] = float64(rng.IntN(20000)) / float64(1+rng.IntN(100))
		}
	}
	return p
}

func FuzzParseStrategy(f *testing.F) {
	f.Add([]byte(referenceStrategy), 1.0, 2.0, 4000.0)
	f.Add([]byte(`{"goal":3,"operation":"max","strategy":[{"objective_id":"reviews"},{"objective_id":"photo"}]}`), 1.0, 3.0, 0.0)
	f.Add([]byte(`{"goal":5,"operation":"min","strategy":[{"objective_id":"photo","goal":2},{"objective_id":"reviews"}]}`), 7.0, 1.0, 0.0)
	f.Add([]byte(`{"goal":10,"objective_id":"navi","normalization_factor":0.001}`), 0.0, 0.0, 12345.0)
	f.Add([]byte(`{"goal":1e308,"normalization_factor":1e308,"strategy":[{"objective_id":"navi","normalization_factor":1e-308}]}`), 0.0, 0.0, math.MaxFloat64)
	f.Add([]byte(`{"goal":3,"strategy":[{"objective_id":"photo","weight":2}]}`), 1.0, 1.0, 1.0)
	f.Fuzz(func(t *testing.T, data []byte, photo, reviews, navi float64) {
		s, err := awards.ParseStrategy(data, strategyObjectives)
		if err != nil {
			return
		}
		encoded, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := awards.ParseStrategy(encoded, strategyObjectives)
		if err != nil {
			t.Fatalf("re-parse %s (from %s): %v", encoded, data, err)
		}
		if again.Goal() != s.Goal() || !slices.Equal(again.Objectives(), s.Objectives()) {
			t.Fatalf("re-parsed %s differs from %s", encoded, data)
		}
		progress := map[string]float64{"photo": photo, "reviews": reviews, "navi": navi}
		v1, n1 := s.Evaluate(progress)
		v2, n2 := again.Evaluate(progress)
		if v1 != v2 || !slices.Equal(n1, n2) {
			t.Fatalf("evaluation differs after round trip of %s:\n%v %+v\n%v %+v", data, v1, n1, v2, n2)
		}
		if !(v1 >= 0 && v1 <= s.Goal()) {
			t.Fatalf("%s with %v = %v, outside [0, %v]", data, progress, v1, s.Goal())
		}
	})
}

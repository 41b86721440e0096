package awards

import (
	"context"
	_ "embed"
	"fmt"
)

// starterAchievements is the configuration `clickstream dev` starts with.
//
//go:embed starter_achievements.yaml
var starterAchievements []byte

// StarterAchievements returns the starter configuration file.
func StarterAchievements() []byte { return starterAchievements }

// ApplyFile validates every achievement of a configuration file and saves
// them, then reloads the running configuration once. Nothing is saved when
// any of them is invalid.
func (e *Engine) ApplyFile(ctx context.Context, data []byte, author string) ([]SaveResult, error) {
	f, err := ParseConfigFile(data)
	if err != nil {
		return nil, err
	}
	compiled := make([]*CompiledAchievement, 0, len(f.Achievements))
	for _, c := range f.Achievements {
		a, err := e.compile(c)
		if err != nil {
			return nil, err
		}
		compiled = append(compiled, a)
	}
	results := make([]SaveResult, 0, len(compiled))
	for _, a := range compiled {
		res, err := e.save(ctx, a, author)
		if err != nil {
			return results, fmt.Errorf("apply achievements: %w", err)
		}
		results = append(results, res)
	}
	return results, e.Reload(ctx)
}

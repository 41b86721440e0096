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
// them. Nothing is saved when any of them is invalid.
func (e *Engine) ApplyFile(ctx context.Context, data []byte, author string) ([]SaveResult, error) {
	f, err := ParseConfigFile(data)
	if err != nil {
		return nil, err
	}
	for _, c := range f.Achievements {
		if _, err := Compile(e.registry, e.schemas, c); err != nil {
			return nil, err
		}
	}
	results := make([]SaveResult, 0, len(f.Achievements))
	for _, c := range f.Achievements {
		res, err := e.Save(ctx, c, author)
		if err != nil {
			return results, fmt.Errorf("apply achievements: %w", err)
		}
		results = append(results, res)
	}
	return results, nil
}

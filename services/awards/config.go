package awards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"
)

// Policy says what happens to a granted achievement when progress falls
// below the goal again.
type Policy string

// The policies; an empty policy is sticky.
const (
	// PolicySticky keeps the award once granted.
	PolicySticky Policy = "sticky"
	// PolicyRevocable revokes the award while progress is below the goal.
	PolicyRevocable Policy = "revocable"
)

// AchievementConfig is an achievement as operators configure it: its
// presentation, its objectives (each with filters and one rule) and the
// strategy that folds objective progress into achievement progress.
type AchievementConfig struct {
	ID          string            `json:"id"`
	Title       string            `json:"title"`
	Description string            `json:"description,omitempty"`
	ImageURL    string            `json:"image_url,omitempty"`
	Policy      Policy            `json:"policy,omitempty"`
	StartsAt    *time.Time        `json:"starts_at,omitempty"`
	EndsAt      *time.Time        `json:"ends_at,omitempty"`
	Objectives  []ObjectiveConfig `json:"objectives"`
	Strategy    json.RawMessage   `json:"strategy"`
}

// ObjectiveConfig is one objective of an achievement: the events it
// consumes, the filters they must pass and the rule that counts them.
type ObjectiveConfig struct {
	// Key names the objective within its achievement; strategies refer to
	// it as objective_id.
	Key string `json:"key"`
	// Sources are event names without version ("PhotoStatusChanged") or
	// their aliases ("photos"); every version of each is consumed.
	Sources []string `json:"sources"`
	// Filters is the JSON filter list, e.g.
	// [{"name":"ReviewsLengthFilter","config":{"allowed_length":100}}].
	Filters json.RawMessage `json:"filters,omitempty"`
	// Rule is the JSON rule, e.g. {"name":"ReviewUniqueByObjectRule"}.
	Rule json.RawMessage `json:"rule"`
}

// ConfigFile is a file of achievement configurations (YAML or JSON).
type ConfigFile struct {
	Achievements []AchievementConfig `json:"achievements"`
}

// ParseConfigFile reads a YAML or JSON file of achievements. Unknown keys
// are errors.
func ParseConfigFile(data []byte) (ConfigFile, error) {
	var f ConfigFile
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return f, fmt.Errorf("achievements file: %w", err)
	}
	if err := decodeStrict(js, &f); err != nil {
		return f, fmt.Errorf("achievements file: %w", err)
	}
	seen := map[string]bool{}
	for i, a := range f.Achievements {
		if seen[a.ID] {
			return f, fmt.Errorf("achievements file: achievement %d: id %q appears twice", i, a.ID)
		}
		seen[a.ID] = true
	}
	return f, nil
}

// Canonical returns the configuration with its JSON parts compacted and
// defaults filled in, so that two equal configurations encode equally.
func (c AchievementConfig) Canonical() AchievementConfig {
	out := c
	if out.Policy == "" {
		out.Policy = PolicySticky
	}
	out.Strategy = compactJSON(c.Strategy)
	out.Objectives = make([]ObjectiveConfig, len(c.Objectives))
	for i, o := range c.Objectives {
		o.Filters = compactJSON(o.Filters)
		if string(o.Filters) == "[]" || string(o.Filters) == "null" {
			o.Filters = nil
		}
		o.Rule = compactJSON(o.Rule)
		out.Objectives[i] = o
	}
	if out.StartsAt != nil {
		t := out.StartsAt.UTC()
		out.StartsAt = &t
	}
	if out.EndsAt != nil {
		t := out.EndsAt.UTC()
		out.EndsAt = &t
	}
	return out
}

// compactJSON normalises a JSON value: no insignificant space and object
// keys sorted, numbers kept as written.
func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

// Achievement is the catalogue entry the configuration describes.
func (c AchievementConfig) Achievement(goal float64) Achievement {
	return Achievement{ID: c.ID, Title: c.Title, Description: c.Description, ImageURL: c.ImageURL, Goal: goal, Active: true}
}

// CompiledAchievement is a validated achievement configuration ready to
// run: filters, rules and strategy built against the event schemas.
type CompiledAchievement struct {
	Config     AchievementConfig
	Strategy   *Strategy
	Objectives []*CompiledObjective
}

// Policy is the configured policy (sticky when unset).
func (a *CompiledAchievement) Policy() Policy {
	if a.Config.Policy == "" {
		return PolicySticky
	}
	return a.Config.Policy
}

// InPeriod reports whether t lies in the achievement's active period.
func (a *CompiledAchievement) InPeriod(t time.Time) bool {
	if a.Config.StartsAt != nil && t.Before(*a.Config.StartsAt) {
		return false
	}
	if a.Config.EndsAt != nil && !t.Before(*a.Config.EndsAt) {
		return false
	}
	return true
}

// CompiledObjective is a validated objective.
type CompiledObjective struct {
	// ID is the objective's row id, set once it is stored.
	ID          int64
	Achievement *CompiledAchievement
	Key         string
	// Subjects are the resolved event subjects ("PhotoStatusChanged").
	Subjects []string
	Filters  []Filter
	// FilterNames are the filters' names in order, for the processing log.
	FilterNames []string
	Rule        Rule
}

// firstFailing returns the name of the first filter ev does not pass, or
// "" when it passes them all.
func (o *CompiledObjective) firstFailing(ev Event) string {
	for i, f := range o.Filters {
		if !f.Match(ev) {
			return o.FilterNames[i]
		}
	}
	return ""
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Compile validates c against the filter and rule implementations of reg
// and the event schemas, and builds it. The error lists every problem, each
// naming the achievement, the objective and the setting.
func Compile(reg *Components, schemas Schemas, c AchievementConfig) (*CompiledAchievement, error) {
	c = c.Canonical()
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("achievement %q: %s", c.ID, fmt.Sprintf(format, args...)))
	}
	if !idPattern.MatchString(c.ID) {
		fail("id must be lowercase letters, digits and '-', starting with a letter or digit")
	}
	if strings.TrimSpace(c.Title) == "" {
		fail("title is required")
	}
	for _, err := range configTextProblems(c) {
		fail("%v", err)
	}
	if c.Policy != PolicySticky && c.Policy != PolicyRevocable {
		fail("policy %q is not valid; use %q or %q", c.Policy, PolicySticky, PolicyRevocable)
	}
	if c.StartsAt != nil && c.EndsAt != nil && !c.EndsAt.After(*c.StartsAt) {
		fail("ends_at %s must be after starts_at %s", c.EndsAt.Format(time.RFC3339), c.StartsAt.Format(time.RFC3339))
	}
	if len(c.Objectives) == 0 {
		fail("objectives: list at least one objective")
	}
	a := &CompiledAchievement{Config: c}
	keys := make([]string, 0, len(c.Objectives))
	seen := map[string]bool{}
	for i, oc := range c.Objectives {
		where := fmt.Sprintf("objective %q", oc.Key)
		if oc.Key == "" {
			where = fmt.Sprintf("objective %d", i)
		}
		ofail := func(format string, args ...any) { fail("%s: %s", where, fmt.Sprintf(format, args...)) }
		switch {
		case !keyPattern.MatchString(oc.Key):
			ofail("key must be lowercase letters, digits, '_' and '-', e.g. \"photo\"")
		case seen[oc.Key]:
			ofail("key appears twice")
		}
		seen[oc.Key] = true
		keys = append(keys, oc.Key)
		o := &CompiledObjective{Achievement: a, Key: oc.Key}
		var sources []protoreflect.MessageDescriptor
		if len(oc.Sources) == 0 {
			ofail(`sources: list the events it consumes, e.g. ["PhotoStatusChanged"] or ["photos"]`)
		}
		for _, s := range oc.Sources {
			subject := s
			if alias, ok := SourceAlias(s); ok {
				subject = alias
			}
			versions := schemas.Versions(subject)
			if len(versions) == 0 {
				ofail("source %q is not a registered event; name an event without version, e.g. \"PhotoStatusChanged\", or an alias (photos, reviews, feedback, navigation, place_cards)", s)
				continue
			}
			o.Subjects = append(o.Subjects, subject)
			sources = append(sources, versions...)
		}
		if len(sources) == 0 {
			continue // filters and rule cannot be checked without the schema
		}
		filters := oc.Filters
		if len(filters) == 0 {
			filters = json.RawMessage("[]")
		}
		var err error
		if o.Filters, err = reg.ParseFilters(filters, sources); err != nil {
			ofail("%v", err)
		} else {
			var specs []ComponentConfig
			_ = json.Unmarshal(filters, &specs) // ParseFilters decoded it already
			for _, s := range specs {
				o.FilterNames = append(o.FilterNames, s.Name)
			}
		}
		if len(oc.Rule) == 0 {
			ofail(`rule is required, e.g. {"name":"CountRule","config":{}}`)
		} else if o.Rule, err = reg.ParseRule(oc.Rule, sources); err != nil {
			ofail("%v", err)
		}
		a.Objectives = append(a.Objectives, o)
	}
	if len(c.Strategy) == 0 {
		fail(`strategy is required, e.g. {"goal":5,"strategy":[{"objective_id":"photo"}]}`)
	} else {
		s, err := ParseStrategy(c.Strategy, keys)
		if err != nil {
			fail("strategy: %v", err)
		}
		a.Strategy = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// Objective returns the objective of that key.
func (a *CompiledAchievement) Objective(key string) *CompiledObjective {
	for _, o := range a.Objectives {
		if o.Key == key {
			return o
		}
	}
	return nil
}

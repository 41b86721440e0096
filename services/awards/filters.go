package awards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Filter decides whether an event counts for an objective. Filters are
// pure: they read only the event.
type Filter interface {
	Match(Event) bool
}

// FilterFactory builds a filter from its JSON config. sources are the
// descriptors of the event messages the objective consumes; when there are
// none the factory checks the config alone, without the schema. Errors
// should come from badSetting so that they name the setting.
type FilterFactory func(config json.RawMessage, sources []protoreflect.MessageDescriptor) (Filter, error)

// Components holds the filter and rule implementations by name. NewComponents
// returns one with the built-ins; configs stored in PostgreSQL refer to
// these names.
type Components struct {
	filters map[string]FilterFactory
	rules   map[string]RuleFactory
}

// NewComponents returns the built-in filters and rules.
func NewComponents() *Components {
	r := &Components{filters: map[string]FilterFactory{}, rules: map[string]RuleFactory{}}
	r.RegisterFilter("SourceFilter", newSourceFilter)
	r.RegisterFilter("FieldEqualsFilter", newFieldEqualsFilter)
	r.RegisterFilter("TextLengthFilter", newTextLengthFilter("", true))
	r.RegisterFilter("ReviewsLengthFilter", newTextLengthFilter("text_length", false))
	r.RegisterFilter("NumberRangeFilter", newNumberRangeFilter)
	r.RegisterFilter("TimeWindowFilter", newTimeWindowFilter)
	r.RegisterFilter("RubricFilter", newRubricFilter)
	registerBuiltinRules(r)
	return r
}

// RegisterFilter adds a filter implementation under name, replacing any
// earlier one of that name.
func (r *Components) RegisterFilter(name string, f FilterFactory) { r.filters[name] = f }

// FilterNames lists the registered filter names, sorted.
func (r *Components) FilterNames() []string { return sortedKeys(r.filters) }

// ComponentConfig is one stored filter or rule: a registered name and its
// JSON config.
type ComponentConfig struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config,omitempty"`
}

// ParseFilters decodes and validates an objective's filter list, e.g.
// [{"name":"SourceFilter","config":{"sources":["reviews"]}}]. Every field a
// filter reads must exist in each of sources (skipped when sources is
// empty). Errors are *ConfigError.
func (r *Components) ParseFilters(data []byte, sources []protoreflect.MessageDescriptor) ([]Filter, error) {
	var specs []ComponentConfig
	if err := decodeStrict(data, &specs); err != nil {
		return nil, &ConfigError{Kind: "filter", Index: -1, Problem: "the filter list is not valid: " + err.Error(),
			Fix: `write a JSON array such as [{"name":"SourceFilter","config":{"sources":["reviews"]}}]`}
	}
	filters := make([]Filter, 0, len(specs))
	for i, spec := range specs {
		factory, ok := r.filters[spec.Name]
		if !ok {
			return nil, unknownComponent("filter", i, spec.Name, r.FilterNames())
		}
		f, err := factory(spec.Config, sources)
		if err != nil {
			return nil, componentError("filter", i, spec.Name, err)
		}
		filters = append(filters, f)
	}
	return filters, nil
}

// MatchAll reports whether every filter matches ev (true for no filters).
func MatchAll(filters []Filter, ev Event) bool {
	for _, f := range filters {
		if !f.Match(ev) {
			return false
		}
	}
	return true
}

// ConfigError is a filter or rule config that cannot be used. Its message
// names the component, the setting and what to do.
type ConfigError struct {
	Kind    string // "filter" or "rule"
	Index   int    // position in the filter list; -1 for a rule or the whole list
	Name    string // the component name as configured
	Setting string // the offending setting, if one is to blame
	Problem string
	Fix     string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind)
	if e.Index >= 0 {
		fmt.Fprintf(&b, " %d", e.Index)
	}
	if e.Name != "" {
		fmt.Fprintf(&b, " (%s)", e.Name)
	}
	if e.Setting != "" {
		fmt.Fprintf(&b, ", setting %q", e.Setting)
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// settingError is what factories return; the registry adds the component.
type settingError struct {
	setting, problem, fix string
}

func (e *settingError) Error() string { return fmt.Sprintf("setting %q: %s", e.setting, e.problem) }

func badSetting(setting, fix, format string, args ...any) error {
	return &settingError{setting: setting, problem: fmt.Sprintf(format, args...), fix: fix}
}

func unknownComponent(kind string, index int, name string, known []string) error {
	problem := fmt.Sprintf("unknown %s %q", kind, name)
	if name == "" {
		problem = fmt.Sprintf(`the %s has no "name"`, kind)
	}
	return &ConfigError{Kind: kind, Index: index, Name: name, Problem: problem,
		Fix: "use one of " + strings.Join(known, ", ")}
}

func componentError(kind string, index int, name string, err error) error {
	ce := &ConfigError{Kind: kind, Index: index, Name: name, Problem: err.Error()}
	if se, ok := errors.AsType[*settingError](err); ok {
		ce.Setting, ce.Problem, ce.Fix = se.setting, se.problem, se.fix
	}
	return ce
}

// decodeStrict decodes one JSON value into v, rejecting unknown keys and
// trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// decodeConfig decodes a component's config into v (a pointer to a struct
// with json tags). A missing or null config is {}. Errors name the setting.
func decodeConfig(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	err := decodeStrict(raw, v)
	if err == nil {
		return nil
	}
	known := "settings are " + strings.Join(jsonSettings(v), ", ")
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return badSetting("config", "write a JSON object; "+known, "config must be a JSON object, not %s", te.Value)
		}
		return badSetting(te.Field, "", "want %s, got JSON %s", jsonKindName(te.Type), te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return badSetting(name, "remove it; the "+known, "unknown setting")
	}
	return badSetting("config", known, "config is not valid JSON: %v", err)
}

func jsonKindName(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a JSON array of " + strings.TrimPrefix(jsonKindName(t.Elem()), "a ") + "s"
	case reflect.Map, reflect.Struct:
		return "a JSON object"
	case reflect.Pointer:
		return jsonKindName(t.Elem())
	}
	return t.String()
}

func jsonSettings(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, strconv.Quote(name))
		}
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkField checks that the field at path exists in every source and that
// accept (if any) takes its descriptor.
func checkField(sources []protoreflect.MessageDescriptor, setting, path string, accept func(protoreflect.FieldDescriptor) error) error {
	if path == "" {
		return badSetting(setting, "name a field of the event, e.g. \"status\" or \"context.geo.city\"", "required")
	}
	for _, md := range sources {
		fd, err := schemaField(md, path)
		if err != nil {
			return badSetting(setting, "use a field every source event has, or narrow the objective's sources", "%v", err)
		}
		if accept != nil {
			if err := accept(fd); err != nil {
				return badSetting(setting, "choose a field of a fitting type", "field %q of event %s %v", path, md.FullName(), err)
			}
		}
	}
	return nil
}

// SourceAlias resolves the short source names SourceFilter accepts to
// event subjects (event names without version suffix):
//
//	photos      PhotoStatusChanged
//	reviews     ReviewStatusChanged
//	feedback    DataFeedbackStatusChanged
//	navigation  NavigationTripFinished
//	place_cards PlaceCardOpened
func SourceAlias(name string) (subject string, ok bool) {
	switch name {
	case "photos":
		return "PhotoStatusChanged", true
	case "reviews":
		return "ReviewStatusChanged", true
	case "feedback":
		return "DataFeedbackStatusChanged", true
	case "navigation":
		return "NavigationTripFinished", true
	case "place_cards":
		return "PlaceCardOpened", true
	}
	return "", false
}

// sourceFilter matches events by subject.
// Config: {"sources":["reviews","PhotoStatusChanged"]} — event names without
// version suffix, or the aliases of SourceAlias.
type sourceFilter struct{ subjects map[string]bool }

func newSourceFilter(raw json.RawMessage, sources []protoreflect.MessageDescriptor) (Filter, error) {
	var cfg struct {
		Sources []string `json:"sources"`
	}
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Sources) == 0 {
		return nil, badSetting("sources", `list event names without version, e.g. ["ReviewStatusChanged"], or aliases such as "reviews"`, "required")
	}
	available := map[string]bool{}
	for _, md := range sources {
		available[eventSubject(string(md.FullName()))] = true
	}
	f := &sourceFilter{subjects: map[string]bool{}}
	for _, s := range cfg.Sources {
		subject := s
		if alias, ok := SourceAlias(s); ok {
			subject = alias
		}
		if eventSubject(subject) != subject || strings.Contains(subject, ".") {
			return nil, badSetting("sources", fmt.Sprintf("write %q", eventSubject(subject)), "%q is not an event name without package and version", s)
		}
		if len(sources) > 0 && !available[subject] {
			return nil, badSetting("sources", "add the event to the objective's sources or remove it here; the sources are "+strings.Join(sortedKeys(available), ", "),
				"%q is not among the objective's sources", s)
		}
		f.subjects[subject] = true
	}
	return f, nil
}

func (f *sourceFilter) Match(ev Event) bool { return f.subjects[ev.Subject()] }

// fieldEqualsFilter matches when a field equals one of a set of values.
// Config: {"field":"status","value":"active"} or {"field":"rubric",
// "values":["cafe","bar"]}. Enum values are written by full or short name
// ("CONTENT_STATUS_ACTIVE" or "active").
type fieldEqualsFilter struct {
	field  string
	values map[string]bool
}

func newFieldEqualsFilter(raw json.RawMessage, sources []protoreflect.MessageDescriptor) (Filter, error) {
	var cfg struct {
		Field  string `json:"field"`
		Value  any    `json:"value"`
		Values []any  `json:"values"`
	}
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	values := cfg.Values
	switch {
	case cfg.Value != nil && cfg.Values != nil:
		return nil, badSetting("values", `set either "value" or "values"`, "both value and values are set")
	case cfg.Value != nil:
		values = []any{cfg.Value}
	case len(values) == 0:
		return nil, badSetting("value", `set "value" or a non-empty "values"`, "required")
	}
	f := &fieldEqualsFilter{field: cfg.Field, values: map[string]bool{}}
	for _, v := range values {
		switch v := v.(type) {
		case string:
			f.values[v] = true
			f.values[strings.ToLower(v)] = true
		case float64:
			f.values[strconv.FormatFloat(v, 'f', -1, 64)] = true
		case bool:
			f.values[strconv.FormatBool(v)] = true
		default:
			return nil, badSetting("values", "use strings, numbers or true/false", "%v is not a scalar", v)
		}
	}
	err := checkField(sources, "field", cfg.Field, func(fd protoreflect.FieldDescriptor) error {
		for _, v := range values {
			if err := valueFits(fd, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// valueFits checks that a configured JSON value can equal a value of fd.
func valueFits(fd protoreflect.FieldDescriptor, v any) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("is a string, but %v is not", v)
		}
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("is a bool, but %v is not", v)
		}
	case protoreflect.EnumKind:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("is the enum %s; write its values by name, not %v", fd.Enum().FullName(), v)
		}
		if enumValueByName(fd.Enum(), s) == nil {
			return fmt.Errorf("is the enum %s, which has no value %q", fd.Enum().FullName(), s)
		}
	default:
		if !isNumericKind(fd.Kind()) {
			return fmt.Errorf("has type %s, which cannot be compared", fd.Kind())
		}
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("is a number, but %v is not", v)
		}
	}
	return nil
}

// enumValueByName finds an enum value by full name or by short lowercase
// name ("active" for CONTENT_STATUS_ACTIVE).
func enumValueByName(ed protoreflect.EnumDescriptor, name string) protoreflect.EnumValueDescriptor {
	if v := ed.Values().ByName(protoreflect.Name(name)); v != nil {
		return v
	}
	return ed.Values().ByName(protoreflect.Name(enumPrefix(ed) + strings.ToUpper(name)))
}

func (f *fieldEqualsFilter) Match(ev Event) bool {
	text, ok := ev.FieldText(f.field)
	if !ok {
		return false
	}
	if f.values[text] {
		return true
	}
	short, _ := ev.FieldStatus(f.field)
	return f.values[short]
}

// textLengthFilter matches when a length is strictly greater than
// allowed_length: a numeric field holding a length (text_length), or the
// length in characters of a string field.
// Config: {"field":"text_length","allowed_length":100}. ReviewsLengthFilter
// is the same with field defaulting to "text_length".
type textLengthFilter struct {
	field   string
	allowed float64
}

func newTextLengthFilter(defaultField string, fieldRequired bool) FilterFactory {
	return func(raw json.RawMessage, sources []protoreflect.MessageDescriptor) (Filter, error) {
		var cfg struct {
			Field         string `json:"field"`
			AllowedLength *int64 `json:"allowed_length"`
		}
		if err := decodeConfig(raw, &cfg); err != nil {
			return nil, err
		}
		if cfg.AllowedLength == nil {
			return nil, badSetting("allowed_length", "set the length a text must exceed, e.g. 100", "required")
		}
		if *cfg.AllowedLength < 0 {
			return nil, badSetting("allowed_length", "use 0 or more", "negative length %d", *cfg.AllowedLength)
		}
		if cfg.Field == "" && !fieldRequired {
			cfg.Field = defaultField
		}
		err := checkField(sources, "field", cfg.Field, func(fd protoreflect.FieldDescriptor) error {
			if fd.Kind() != protoreflect.StringKind && !isNumericKind(fd.Kind()) {
				return fmt.Errorf("is %s, neither a string nor a number", fd.Kind())
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &textLengthFilter{field: cfg.Field, allowed: float64(*cfg.AllowedLength)}, nil
	}
}

func (f *textLengthFilter) Match(ev Event) bool {
	v, fd, ok := ev.Field(f.field)
	if !ok {
		return false
	}
	if fd.Kind() == protoreflect.StringKind {
		return float64(utf8.RuneCountInString(v.String())) > f.allowed
	}
	n, ok := valueNumber(v, fd)
	return ok && n > f.allowed
}

// numberRangeFilter matches a numeric field within [min, max], both
// inclusive and each optional. Config: {"field":"distance_m","min":1000}.
type numberRangeFilter struct {
	field    string
	min, max float64
}

func newNumberRangeFilter(raw json.RawMessage, sources []protoreflect.MessageDescriptor) (Filter, error) {
	var cfg struct {
		Field string   `json:"field"`
		Min   *float64 `json:"min"`
		Max   *float64 `json:"max"`
	}
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Min == nil && cfg.Max == nil {
		return nil, badSetting("min", `set "min", "max" or both`, "no bound is set")
	}
	f := &numberRangeFilter{field: cfg.Field, min: math.Inf(-1), max: math.Inf(1)}
	if cfg.Min != nil {
		f.min = *cfg.Min
	}
	if cfg.Max != nil {
		f.max = *cfg.Max
	}
	if f.min > f.max {
		return nil, badSetting("max", "make max at least min", "max %v is below min %v", f.max, f.min)
	}
	err := checkField(sources, "field", cfg.Field, func(fd protoreflect.FieldDescriptor) error {
		if !isNumericKind(fd.Kind()) {
			return fmt.Errorf("is %s, not a number", fd.Kind())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Match treats an unset numeric field as 0, as proto3 does.
func (f *numberRangeFilter) Match(ev Event) bool {
	n, _ := ev.FieldNumber(f.field)
	return n >= f.min && n <= f.max
}

// timeWindowFilter matches events whose occurred_at is in [from, to), each
// optional, in RFC 3339: a campaign period.
// Config: {"from":"2026-06-01T00:00:00Z","to":"2026-09-01T00:00:00Z"}.
type timeWindowFilter struct {
	from, to time.Time
}

func newTimeWindowFilter(raw json.RawMessage, _ []protoreflect.MessageDescriptor) (Filter, error) {
	var cfg struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.From == "" && cfg.To == "" {
		return nil, badSetting("from", `set "from", "to" or both, in RFC 3339 such as "2026-06-01T00:00:00Z"`, "no bound is set")
	}
	var f timeWindowFilter
	for _, b := range []struct {
		setting, text string
		into          *time.Time
	}{{"from", cfg.From, &f.from}, {"to", cfg.To, &f.to}} {
		if b.text == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, b.text)
		if err != nil {
			return nil, badSetting(b.setting, `write RFC 3339 such as "2026-06-01T00:00:00Z"`, "%q is not an RFC 3339 time", b.text)
		}
		*b.into = t
	}
	if !f.from.IsZero() && !f.to.IsZero() && !f.from.Before(f.to) {
		return nil, badSetting("to", "make to later than from", "the window %s to %s is empty", cfg.From, cfg.To)
	}
	return &f, nil
}

func (f *timeWindowFilter) Match(ev Event) bool {
	if !f.from.IsZero() && ev.OccurredAt.Before(f.from) {
		return false
	}
	return f.to.IsZero() || ev.OccurredAt.Before(f.to)
}

// rubricFilter matches events about objects of the given rubrics.
// Config: {"rubrics":["cafe","theatre"]}, optionally "field" (default
// "rubric").
type rubricFilter struct {
	field   string
	rubrics map[string]bool
}

func newRubricFilter(raw json.RawMessage, sources []protoreflect.MessageDescriptor) (Filter, error) {
	var cfg struct {
		Field   string   `json:"field"`
		Rubrics []string `json:"rubrics"`
	}
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Rubrics) == 0 {
		return nil, badSetting("rubrics", `list rubrics, e.g. ["cafe"]`, "required")
	}
	if cfg.Field == "" {
		cfg.Field = "rubric"
	}
	err := checkField(sources, "field", cfg.Field, func(fd protoreflect.FieldDescriptor) error {
		if fd.Kind() != protoreflect.StringKind {
			return fmt.Errorf("is %s, not a string", fd.Kind())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	f := &rubricFilter{field: cfg.Field, rubrics: map[string]bool{}}
	for _, r := range cfg.Rubrics {
		f.rubrics[r] = true
	}
	return f, nil
}

func (f *rubricFilter) Match(ev Event) bool {
	r, ok := ev.FieldText(f.field)
	return ok && f.rubrics[r]
}

package awards

// ComponentInfo documents a filter or rule for operators: what it does and
// the settings of its config.
type ComponentInfo struct {
	Name        string
	Description string
	Settings    []SettingInfo
}

// SettingInfo is one setting of a component's config.
type SettingInfo struct {
	Name        string
	Type        string // JSON type, e.g. "string", "integer", "array of strings"
	Required    bool
	Description string
}

// filterDocs and ruleDocs document the built-in components; a test checks
// that every registered component is documented.
var filterDocs = []ComponentInfo{
	{Name: "SourceFilter", Description: "Keeps events of the named sources (event names without version, or aliases: photos, reviews, feedback, navigation, place_cards).",
		Settings: []SettingInfo{{"sources", "array of strings", true, `e.g. ["reviews"] or ["PhotoStatusChanged"]`}}},
	{Name: "FieldEqualsFilter", Description: "Keeps events whose field equals a value, or one of a set of values. Enum values by full or short name.",
		Settings: []SettingInfo{
			{"field", "string", true, `dotted path of proto field names, e.g. "status" or "context.geo.city"`},
			{"value", "string, number or boolean", false, "the value (this or values)"},
			{"values", "array", false, "the allowed values (this or value)"},
		}},
	{Name: "TextLengthFilter", Description: "Keeps events whose text (a string field's characters, or a numeric length field) is longer than allowed_length.",
		Settings: []SettingInfo{
			{"field", "string", true, "a string field, or a numeric field holding a length"},
			{"allowed_length", "integer", true, "the length the text must exceed"},
		}},
	{Name: "ReviewsLengthFilter", Description: "TextLengthFilter for reviews: field defaults to text_length.",
		Settings: []SettingInfo{
			{"field", "string", false, `default "text_length"`},
			{"allowed_length", "integer", true, "the length the review must exceed, e.g. 100"},
		}},
	{Name: "NumberRangeFilter", Description: "Keeps events whose numeric field lies within [min, max] (each optional, both inclusive).",
		Settings: []SettingInfo{
			{"field", "string", true, `a numeric field, e.g. "distance_m"`},
			{"min", "number", false, "lowest value kept"},
			{"max", "number", false, "highest value kept"},
		}},
	{Name: "TimeWindowFilter", Description: "Keeps events that occurred within a time window, e.g. a campaign period.",
		Settings: []SettingInfo{
			{"from", "string (RFC 3339)", false, "start, inclusive"},
			{"to", "string (RFC 3339)", false, "end, exclusive"},
		}},
	{Name: "RubricFilter", Description: "Keeps events about objects of the named rubrics (categories).",
		Settings: []SettingInfo{
			{"rubrics", "array of strings", true, `e.g. ["cafe","theatre"]`},
			{"field", "string", false, `default "rubric"`},
		}},
}

var ruleDocs = []ComponentInfo{
	{Name: "StatusCounterRule", Description: "Counts content with a status model by status: each item adds 1 to the counter of its current status, so a transition moves it (active → blocked subtracts from active). Progress reads one counter.",
		Settings: []SettingInfo{
			{"content_id", "string", true, `the field identifying the content, e.g. "photo_id"`},
			{"status", "string", false, `the status field, default "status"`},
			{"progress", "string", false, `the status whose counter is the progress, default "active"`},
		}},
	{Name: "UniqueByObjectRule", Description: "Counts one item per map object: the first item seen for an object holds it and counts while its status is one of counted.",
		Settings: []SettingInfo{
			{"item", "string", true, `the field identifying the item, e.g. "review_id"`},
			{"object", "string", false, `the object field, default "object_id"`},
			{"status", "string", false, `default "status"`},
			{"counted", "array of strings", false, `statuses that count, default ["active"]`},
		}},
	{Name: "ReviewUniqueByObjectRule", Description: "UniqueByObjectRule for reviews: item defaults to review_id.",
		Settings: []SettingInfo{
			{"item", "string", false, `default "review_id"`},
			{"object", "string", false, `default "object_id"`},
			{"status", "string", false, `default "status"`},
			{"counted", "array of strings", false, `default ["active"]`},
		}},
	{Name: "SumRule", Description: "Sums a numeric field of events that cannot be undone, e.g. navigation metres; each event once.",
		Settings: []SettingInfo{{"field", "string", true, `a numeric field, e.g. "distance_m"`}}},
	{Name: "CountRule", Description: "Counts events that cannot be undone (analytics), each event once.", Settings: nil},
	{Name: "DistinctValuesRule", Description: "Counts the distinct values of a field, e.g. the places whose cards a user opened.",
		Settings: []SettingInfo{{"field", "string", true, `e.g. "object_id"`}}},
}

// FilterInfo returns the documentation of the registered filters, sorted
// by name; a filter registered without documentation is listed by name.
func (r *Components) FilterInfo() []ComponentInfo { return componentInfo(r.FilterNames(), filterDocs) }

// RuleInfo returns the documentation of the registered rules.
func (r *Components) RuleInfo() []ComponentInfo { return componentInfo(r.RuleNames(), ruleDocs) }

func componentInfo(names []string, docs []ComponentInfo) []ComponentInfo {
	byName := map[string]ComponentInfo{}
	for _, d := range docs {
		byName[d.Name] = d
	}
	out := make([]ComponentInfo, 0, len(names))
	for _, n := range names {
		info, ok := byName[n]
		if !ok {
			info = ComponentInfo{Name: n}
		}
		out = append(out, info)
	}
	return out
}

package awards_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/services/awards"
)

const (
	active     = eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE
	moderation = eventsv1.ContentStatus_CONTENT_STATUS_MODERATION
	blocked    = eventsv1.ContentStatus_CONTENT_STATUS_BLOCKED
	deleted    = eventsv1.ContentStatus_CONTENT_STATUS_DELETED
)

var (
	reviewsSchema = descriptors(&eventsv1.ReviewStatusChangedV1{})
	photosSchema  = descriptors(&eventsv1.PhotoStatusChangedV1{}, &eventsv1.PhotoStatusChangedV2{})
	naviSchema    = descriptors(&eventsv1.NavigationTripFinishedV1{})
)

func TestFilters(t *testing.T) {
	reg := awards.NewComponents()
	navi := func(m int64) proto.Message { return &eventsv1.NavigationTripFinishedV1{TripId: "t", DistanceM: m} }
	type check struct {
		ev   awards.Event
		want bool
	}
	tests := []struct {
		name   string
		config string
		checks []check
	}{
		{
			name:   "issue example: reviews longer than 100 characters",
			config: `[{"name":"SourceFilter","config":{"sources":["reviews"]}},{"name":"ReviewsLengthFilter","config":{"allowed_length":100}}]`,
			checks: []check{
				{event("a", t0, review("r1", "p", active, 99)), false},
				{event("b", t0, review("r2", "p", active, 100)), false},
				{event("c", t0, review("r3", "p", active, 101)), true},
				{event("d", t0, photo("p1", active)), false},
			},
		},
		{
			name:   "source by event name and alias",
			config: `[{"name":"SourceFilter","config":{"sources":["PhotoStatusChanged","navigation"]}}]`,
			checks: []check{
				{event("a", t0, photo("p1", active)), true},
				{event("b", t0, &eventsv1.PhotoStatusChangedV1{PhotoId: "p"}), true},
				{event("c", t0, navi(10)), true},
				{event("d", t0, review("r", "p", active, 1)), false},
			},
		},
		{
			name:   "field equals enum by short name",
			config: `[{"name":"FieldEqualsFilter","config":{"field":"status","value":"active"}}]`,
			checks: []check{
				{event("a", t0, photo("p1", active)), true},
				{event("b", t0, photo("p1", blocked)), false},
			},
		},
		{
			name:   "field equals values set, nested",
			config: `[{"name":"FieldEqualsFilter","config":{"field":"context.geo.city","values":["Lisbon","Porto"]}}]`,
			checks: []check{
				{event("a", t0, photo("p1", active)), true},
				{event("b", t0, &eventsv1.PhotoStatusChangedV2{PhotoId: "p"}), false},
			},
		},
		{
			name:   "field equals number and full enum name",
			config: `[{"name":"FieldEqualsFilter","config":{"field":"distance_m","values":[500, 1000]}},{"name":"SourceFilter","config":{"sources":["navigation"]}}]`,
			checks: []check{
				{event("a", t0, navi(500)), true},
				{event("b", t0, navi(501)), false},
			},
		},
		{
			name:   "text length of a string field",
			config: `[{"name":"TextLengthFilter","config":{"field":"context.geo.city","allowed_length":5}}]`,
			checks: []check{
				{event("a", t0, photo("p1", active)), true}, // "Lisbon", 6
				{event("b", t0, &eventsv1.PhotoStatusChangedV2{Context: &eventsv1.Context{Geo: &eventsv1.Geo{City: "Évora"}}}), false},
			},
		},
		{
			name:   "number range inclusive",
			config: `[{"name":"NumberRangeFilter","config":{"field":"distance_m","min":1000,"max":2000}}]`,
			checks: []check{
				{event("a", t0, navi(999)), false},
				{event("b", t0, navi(1000)), true},
				{event("c", t0, navi(2000)), true},
				{event("d", t0, navi(2001)), false},
			},
		},
		{
			name:   "number range min only",
			config: `[{"name":"NumberRangeFilter","config":{"field":"distance_m","min":1}}]`,
			checks: []check{
				{event("a", t0, navi(0)), false},
				{event("b", t0, navi(1e9)), true},
			},
		},
		{
			name:   "time window from inclusive, to exclusive",
			config: `[{"name":"TimeWindowFilter","config":{"from":"2026-06-01T12:00:00Z","to":"2026-06-02T12:00:00Z"}}]`,
			checks: []check{
				{event("a", t0.Add(-time.Second), navi(1)), false},
				{event("b", t0, navi(1)), true},
				{event("c", t0.Add(24*time.Hour-time.Nanosecond), navi(1)), true},
				{event("d", t0.Add(24*time.Hour), navi(1)), false},
			},
		},
		{
			name:   "rubric",
			config: `[{"name":"RubricFilter","config":{"rubrics":["theatre"]}}]`,
			checks: []check{
				{event("a", t0, review("r", "p", active, 1)), true},
				{event("b", t0, photo("p", active)), false}, // cafe
			},
		},
		{
			name:   "no filters match everything",
			config: `[]`,
			checks: []check{{event("a", t0, navi(1)), true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filters, err := reg.ParseFilters([]byte(tt.config), nil)
			if err != nil {
				t.Fatalf("ParseFilters: %v", err)
			}
			for _, c := range tt.checks {
				if got := awards.MatchAll(filters, c.ev); got != c.want {
					t.Errorf("event %s (%s): match %v, want %v", c.ev.RecordID, c.ev.Subject(), got, c.want)
				}
			}
		})
	}
}

func TestFilterConfigValid(t *testing.T) {
	reg := awards.NewComponents()
	tests := []struct {
		config string
		schema []protoreflect.MessageDescriptor
	}{
		{`[{"name":"SourceFilter","config":{"sources":["reviews"]}},{"name":"ReviewsLengthFilter","config":{"allowed_length":100}}]`, reviewsSchema},
		{`[{"name":"FieldEqualsFilter","config":{"field":"status","values":["active","CONTENT_STATUS_MODERATION"]}}]`, reviewsSchema},
		{`[{"name":"RubricFilter","config":{"rubrics":["cafe"]}}]`, slices.Concat(photosSchema, reviewsSchema)},
		{`[{"name":"SourceFilter","config":{"sources":["photos"]}},{"name":"FieldEqualsFilter","config":{"field":"context.geo.city","value":"Lisbon"}}]`, photosSchema},
		{`[{"name":"TimeWindowFilter","config":{"to":"2026-01-01T00:00:00+03:00"}},{"name":"NumberRangeFilter","config":{"field":"distance_m","max":1e6}}]`, naviSchema},
		{`[{"name":"SourceFilter","config":{"sources":["navigation"]}}]`, naviSchema},
	}
	for _, tt := range tests {
		if _, err := reg.ParseFilters([]byte(tt.config), tt.schema); err != nil {
			t.Errorf("ParseFilters(%s): %v", tt.config, err)
		}
	}
}

func TestFilterConfigErrors(t *testing.T) {
	reg := awards.NewComponents()
	tests := []struct {
		name    string
		config  string
		schema  bool // validate against the reviews schema
		setting string
		want    string
	}{
		{"not a list", `{"name":"SourceFilter"}`, false, "",
			`filter: the filter list is not valid`},
		{"unknown name", `[{"name":"SourceFilter","config":{"sources":["reviews"]}},{"name":"ReviewLengthFilter","config":{}}]`, false, "",
			`filter 1 (ReviewLengthFilter): unknown filter "ReviewLengthFilter"; use one of FieldEqualsFilter, NumberRangeFilter, ReviewsLengthFilter, RubricFilter, SourceFilter, TextLengthFilter, TimeWindowFilter`},
		{"missing name", `[{"config":{}}]`, false, "",
			`filter 0: the filter has no "name"`},
		{"unknown key", `[{"name":"ReviewsLengthFilter","config":{"allowed_length":100,"max_length":5}}]`, false, "max_length",
			`filter 0 (ReviewsLengthFilter), setting "max_length": unknown setting; remove it; the settings are "field", "allowed_length"`},
		{"wrong type", `[{"name":"ReviewsLengthFilter","config":{"allowed_length":"100"}}]`, false, "allowed_length",
			`filter 0 (ReviewsLengthFilter), setting "allowed_length": want an integer, got JSON string`},
		{"wrong element type", `[{"name":"SourceFilter","config":{"sources":"reviews"}}]`, false, "sources",
			`filter 0 (SourceFilter), setting "sources": want a JSON array of strings, got JSON string`},
		{"config not an object", `[{"name":"SourceFilter","config":[1]}]`, false, "config",
			`filter 0 (SourceFilter), setting "config": config must be a JSON object, not array`},
		{"missing required", `[{"name":"ReviewsLengthFilter","config":{}}]`, false, "allowed_length",
			`filter 0 (ReviewsLengthFilter), setting "allowed_length": required; set the length a text must exceed, e.g. 100`},
		{"field missing from schema", `[{"name":"SourceFilter","config":{"sources":["reviews"]}},{"name":"TextLengthFilter","config":{"field":"text","allowed_length":100}}]`, true, "field",
			`filter 1 (TextLengthFilter), setting "field": event clickstream.events.v1.ReviewStatusChangedV1 has no field "text"; use a field every source event has, or narrow the objective's sources`},
		{"nested field missing from schema", `[{"name":"FieldEqualsFilter","config":{"field":"context.geo.town","value":"Lisbon"}}]`, true, "field",
			`event clickstream.events.v1.ReviewStatusChangedV1 has no field "context.geo.town"`},
		{"field of wrong type", `[{"name":"NumberRangeFilter","config":{"field":"rubric","min":1}}]`, true, "field",
			`field "rubric" of event clickstream.events.v1.ReviewStatusChangedV1 is string, not a number`},
		{"enum value unknown", `[{"name":"FieldEqualsFilter","config":{"field":"status","value":"approved"}}]`, true, "field",
			`is the enum clickstream.events.v1.ContentStatus, which has no value "approved"`},
		{"message field", `[{"name":"FieldEqualsFilter","config":{"field":"context","value":"x"}}]`, true, "field",
			`is a message; name one of its fields, e.g. "context.user_id"`},
		{"source outside the objective", `[{"name":"SourceFilter","config":{"sources":["photos"]}}]`, true, "sources",
			`"photos" is not among the objective's sources; add the event to the objective's sources or remove it here; the sources are ReviewStatusChanged`},
		{"source with version", `[{"name":"SourceFilter","config":{"sources":["ReviewStatusChangedV1"]}}]`, false, "sources",
			`"ReviewStatusChangedV1" is not an event name without package and version; write "ReviewStatusChanged"`},
		{"value and values", `[{"name":"FieldEqualsFilter","config":{"field":"rubric","value":"a","values":["b"]}}]`, false, "values", `both value and values are set`},
		{"range inverted", `[{"name":"NumberRangeFilter","config":{"field":"text_length","min":5,"max":1}}]`, false, "max", `max 1 is below min 5`},
		{"range unbounded", `[{"name":"NumberRangeFilter","config":{"field":"text_length"}}]`, false, "min", `no bound is set`},
		{"bad time", `[{"name":"TimeWindowFilter","config":{"from":"2026-06-01"}}]`, false, "from", `"2026-06-01" is not an RFC 3339 time`},
		{"empty window", `[{"name":"TimeWindowFilter","config":{"from":"2026-06-02T00:00:00Z","to":"2026-06-01T00:00:00Z"}}]`, false, "to", `is empty`},
		{"no rubrics", `[{"name":"RubricFilter","config":{}}]`, false, "rubrics", `required`},
		{"negative length", `[{"name":"ReviewsLengthFilter","config":{"allowed_length":-1}}]`, false, "allowed_length", `negative length -1`},
		{"text length needs field", `[{"name":"TextLengthFilter","config":{"allowed_length":1}}]`, false, "field", `required`},
		{"trailing data", `[] []`, false, "", `unexpected data after the JSON value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var schema = reviewsSchema[:0]
			if tt.schema {
				schema = reviewsSchema
			}
			_, err := reg.ParseFilters([]byte(tt.config), schema)
			if err == nil {
				t.Fatalf("ParseFilters(%s) succeeded, want error %q", tt.config, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
			ce, ok := errors.AsType[*awards.ConfigError](err)
			if !ok {
				t.Fatalf("error %T is not a *ConfigError", err)
			}
			if ce.Setting != tt.setting {
				t.Errorf("setting %q, want %q", ce.Setting, tt.setting)
			}
		})
	}
}

func FuzzFilterConfig(f *testing.F) {
	for _, seed := range []string{
		`[{"name":"SourceFilter","config":{"sources":["reviews"]}},{"name":"ReviewsLengthFilter","config":{"allowed_length":100}}]`,
		`[{"name":"FieldEqualsFilter","config":{"field":"context.geo.city","values":["a",1,true,null,{}]}}]`,
		`[{"name":"NumberRangeFilter","config":{"field":"text_length","min":1e400}}]`,
		`[{"name":"TimeWindowFilter","config":{"from":"2026-06-01T00:00:00Z"}}]`,
		`[{"name":"RubricFilter","config":{"rubrics":["cafe"],"field":"status."}}]`,
		`[{"name":"TextLengthFilter","config":{"field":"","allowed_length":1}}]`,
		`[null]`, `null`, `[`, ``,
	} {
		f.Add([]byte(seed))
	}
	reg := awards.NewComponents()
	schema := slices.Concat(reviewsSchema, photosSchema, naviSchema)
	ev := event("r", t0, review("r1", "p", active, 101))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range [][]protoreflect.MessageDescriptor{nil, schema, reviewsSchema} {
			filters, err := reg.ParseFilters(data, s)
			if err != nil {
				if err.Error() == "" {
					t.Error("empty error message")
				}
				continue
			}
			awards.MatchAll(filters, ev)
			awards.MatchAll(filters, awards.Event{})
		}
	})
}

package schema

import (
	"slices"
	"testing"
)

func TestDiffMessages(t *testing.T) {
	base := fixtureEvents(t)
	tests := []struct {
		name    string
		cases   []string
		message string
		want    []string
	}{
		{"unchanged", nil, "fixture.events.v1.PhotoStatusChangedV2", nil},
		{"comments only", []string{"comments-only"}, "fixture.events.v1.PhotoStatusChangedV2", nil},
		{"field renamed", []string{"field-renamed"}, "fixture.events.v1.PhotoStatusChangedV2", []string{`field 4 "status" renamed to "state"`}},
		{"shared context changed", []string{"context-changed"}, "fixture.events.v1.ItemViewV1", []string{`fixture.events.v1.Context: field 4 "locale" added (string)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := eventByName(t, base, tt.message)
			new := eventByName(t, fixtureEvents(t, tt.cases...), tt.message)
			got := DiffMessages(old.Descriptor, new.Descriptor)
			if !slices.Equal(got, tt.want) {
				t.Errorf("DiffMessages = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDiffMessagesOtherMessage(t *testing.T) {
	events := fixtureEvents(t)
	v1 := eventByName(t, events, "fixture.events.v1.PhotoStatusChangedV1")
	v2 := eventByName(t, events, "fixture.events.v1.PhotoStatusChangedV2")
	want := []string{
		"message renamed from fixture.events.v1.PhotoStatusChangedV1 to fixture.events.v1.PhotoStatusChangedV2",
		`field 5 "previous_status" added (enum fixture.events.v1.ContentStatus)`,
		`field 6 "reason" added (string)`,
	}
	if got := DiffMessages(v1.Descriptor, v2.Descriptor); !slices.Equal(got, want) {
		t.Errorf("DiffMessages(V1, V2) = %q, want %q", got, want)
	}
}

func TestJSONCamelCase(t *testing.T) {
	for in, want := range map[string]string{"user_id": "userId", "a_b_c": "aBC", "x": "x", "occurred_at_2": "occurredAt2", "foo__bar": "fooBar"} {
		if got := jsonCamelCase(in); got != want {
			t.Errorf("jsonCamelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

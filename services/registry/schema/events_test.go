package schema

import (
	"slices"
	"strings"
	"testing"
)

func TestEventsViolations(t *testing.T) {
	tests := []struct {
		name   string
		want   []string // "rule message[.field]"
		detail string   // a part of the first violation's Detail
	}{
		{
			name:   "name-suffix",
			want:   []string{"name-suffix fixture.events.v1.SearchQuery"},
			detail: "SearchQuery (event 1002 v1): the message name must end in V1",
		},
		{
			name:   "version-gap",
			want:   []string{"version-gap fixture.events.v1.ItemViewV3"},
			detail: "ItemViewV3 (event 1001 v3): version 2 is missing",
		},
		{
			name:   "version-duplicate",
			want:   []string{"id-name-conflict fixture.events.v1.Other.ItemViewV1", "version-duplicate fixture.events.v1.Other.ItemViewV1"},
			detail: "ItemViewV1 (event 1001 v1): event id 1001 already belongs to event ItemView (fixture.events.v1.ItemViewV1)",
		},
		{
			name:   "id-name-conflict",
			want:   []string{"id-name-conflict fixture.events.v1.ItemClickV2"},
			detail: "ItemClickV2 (event 1001 v2): event id 1001 already belongs to event ItemView (fixture.events.v1.ItemViewV1)",
		},
		{
			name:   "missing-id",
			want:   []string{"missing-id fixture.events.v1.NoIDV1", "missing-version fixture.events.v1.NoVersionV1"},
			detail: "NoIDV1 has the event option without an id",
		},
		{
			name:   "pii-type",
			want:   []string{"pii-type fixture.events.v1.PaymentV1.context", "pii-type fixture.events.v1.PaymentV1.card"},
			detail: `PaymentV1 (event 1004 v1): field 1 "context" is marked pii but is message fixture.events.v1.Context`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, vs := compileFixture(t, tt.name).Events()
			got := rules(vs)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("violations = %q, want %q\n%v", got, tt.want, vs)
			}
			if !strings.Contains(vs[0].Detail, tt.detail) {
				t.Errorf("Detail = %q, want it to contain %q", vs[0].Detail, tt.detail)
			}
			for _, v := range vs {
				if v.File == "" || v.Line == 0 {
					t.Errorf("%v: no position", v)
				}
			}
			wantDetailNames(t, vs)
		})
	}
}

func TestEventsSkipKeylessMessages(t *testing.T) {
	events, _ := compileFixture(t, "missing-id").Events()
	for _, ev := range events {
		if ev.ID == 0 || ev.Version == 0 {
			t.Errorf("Events returned %v without an id or a version", ev)
		}
	}
}

func TestEventName(t *testing.T) {
	for in, want := range map[string]string{
		"PhotoStatusChangedV2": "PhotoStatusChanged",
		"ItemViewV12":          "ItemView",
		"SearchQuery":          "SearchQuery",
		"V1":                   "V1",
		"Oauth2":               "Oauth2",
	} {
		if got := eventName(in); got != want {
			t.Errorf("eventName(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tt := range []struct {
		name    string
		version uint32
		want    bool
	}{
		{"ItemViewV2", 2, true},
		{"ItemViewV12", 2, false},
		{"ItemViewV1", 2, false},
		{"V2", 2, false},
	} {
		if got := hasVersionSuffix(tt.name, tt.version); got != tt.want {
			t.Errorf("hasVersionSuffix(%q, %d) = %v", tt.name, tt.version, got)
		}
	}
}

package schema

import (
	"strings"
	"testing"
)

func TestViolationError(t *testing.T) {
	tests := []struct {
		v    Violation
		want string
	}{
		{
			Violation{File: "clickstream/events/v1/photo_status_changed.proto", Line: 31, Message: "clickstream.events.v1.PhotoStatusChangedV2", Field: "status",
				Rule: RuleVersionChanged, Detail: "PhotoStatusChangedV2 (event 2001 v2) changed", Hint: "add PhotoStatusChangedV3 instead of changing V2"},
			"clickstream/events/v1/photo_status_changed.proto:31: clickstream.events.v1.PhotoStatusChangedV2.status: PhotoStatusChangedV2 (event 2001 v2) changed [version-changed] — add PhotoStatusChangedV3 instead of changing V2",
		},
		{
			Violation{Message: "a.BV1", Rule: RuleVersionDeleted, Detail: "BV1 (event 1 v1) is locked but missing", Hint: "restore it"},
			"a.BV1: BV1 (event 1 v1) is locked but missing [version-deleted] — restore it",
		},
		{
			Violation{File: "x.proto", Detail: "something"},
			"x.proto: something",
		},
	}
	for _, tt := range tests {
		if got := tt.v.Error(); got != tt.want {
			t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
		}
	}
}

func TestSortViolations(t *testing.T) {
	vs := []Violation{
		{File: "b.proto", Line: 1, Rule: "x"},
		{File: "a.proto", Line: 9, Rule: "y"},
		{File: "a.proto", Line: 2, Rule: "z"},
		{Rule: "version-deleted", Message: "a.B"},
	}
	SortViolations(vs)
	var got []string
	for _, v := range vs {
		got = append(got, v.Rule)
	}
	if want := "version-deleted z y x"; strings.Join(got, " ") != want {
		t.Errorf("sorted rules = %q, want %q", strings.Join(got, " "), want)
	}
}

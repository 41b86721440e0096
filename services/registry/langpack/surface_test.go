package langpack_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// TestSurface: the API surface names every event, message, field, enum and
// enum value a program could use; documentation, the version and the
// revision leave it (and, but for documentation, the input hash) alone;
// removing an event is a major change, adding it back a minor one.
func TestSurface(t *testing.T) {
	in := fixtureInput(t, 1)
	s, err := langpack.SurfaceOf(in)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for k := range s {
		kinds[k[:strings.LastIndexByte(k, ' ')]]++
	}
	t.Logf("surface of the fixture: %d entries %v", len(s), kinds)
	for _, ev := range in.Events {
		if !strings.Contains(s["event "+ev.MessageName], "class=") {
			t.Errorf("the surface lacks event %s: %q", ev.MessageName, s["event "+ev.MessageName])
		}
	}
	for _, kind := range []string{"event", "message", "field", "enum", "enum value"} {
		if kinds[kind] == 0 {
			t.Errorf("the surface has no %s entry", kind)
		}
	}
	hash, err := langpack.InputHash(in)
	if err != nil {
		t.Fatal(err)
	}

	// Another version and revision: the same surface and input.
	other := fixtureInput(t, 9)
	other.Revision = 99
	if s2, _ := langpack.SurfaceOf(other); s2.Hash() != s.Hash() {
		t.Error("the version or revision changed the surface")
	}
	if h, _ := langpack.InputHash(other); h != hash {
		t.Error("the version or revision changed the input hash")
	}

	// Documentation only: the same surface, another input hash.
	docs := fixtureInput(t, 1)
	docs.Events[0].Description += " Better."
	docs.Events[1].Deprecated = !docs.Events[1].Deprecated
	docs.Events[2].OwnerTeam = "another team"
	s3, err := langpack.SurfaceOf(docs)
	if err != nil {
		t.Fatal(err)
	}
	if d := langpack.DiffSurface(s, s3); d.Change() != langpack.NoChange || s3.Hash() != s.Hash() {
		t.Errorf("documentation changed the surface: %s", d)
	}
	if h, _ := langpack.InputHash(docs); h == hash {
		t.Error("documentation did not change the input hash")
	}

	// Removing an event is major; adding it back minor.
	fewer := fixtureInput(t, 1)
	gone := fewer.Events[len(fewer.Events)-1].MessageName
	fewer.Events = fewer.Events[:len(fewer.Events)-1]
	s4, err := langpack.SurfaceOf(fewer)
	if err != nil {
		t.Fatal(err)
	}
	removed := langpack.DiffSurface(s, s4)
	if removed.Change() != langpack.Major || !slices.Contains(removed.Removed, "event "+gone) || len(removed.Added) != 0 {
		t.Errorf("removing %s: %s (%s), want major naming it", gone, removed.Change(), removed)
	}
	if back := langpack.DiffSurface(s4, s); back.Change() != langpack.Minor || !slices.Contains(back.Added, "event "+gone) {
		t.Errorf("adding %s back: %s (%s), want minor naming it", gone, back.Change(), back)
	}
}

// TestParseVersion: semantic versions parse with or without "v" and
// compare by precedence; anything else is refused.
func TestParseVersion(t *testing.T) {
	for s, want := range map[string]langpack.Version{"1.4.0": {1, 4, 0}, "v2.1796655308.3": {2, 1796655308, 3}, "0.0.1": {0, 0, 1}} {
		if v, err := langpack.ParseVersion(s); err != nil || v != want {
			t.Errorf("ParseVersion(%q) = %v, %v, want %v", s, v, err, want)
		}
	}
	for _, s := range []string{"", "1", "1.4", "1.4.0.0", "01.4.0", "1.-4.0", "1.4.0-rc1", "1.4.0+b", "vv1.4.0", "1..0"} {
		if v, err := langpack.ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", s, v)
		}
	}
	ordered := []langpack.Version{{1, 2, 0}, {1, 2, 1}, {1, 10, 0}, {2, 0, 0}}
	for i := 1; i < len(ordered); i++ {
		if ordered[i-1].Compare(ordered[i]) >= 0 || ordered[i].Compare(ordered[i-1]) <= 0 {
			t.Errorf("%s is not before %s", ordered[i-1], ordered[i])
		}
	}
	for p, want := range map[string][2]any{
		"langpack.clickstream.dev/web":     {"langpack.clickstream.dev/web", 1},
		"langpack.clickstream.dev/web/v2":  {"langpack.clickstream.dev/web", 2},
		"langpack.clickstream.dev/web/v12": {"langpack.clickstream.dev/web", 12},
		"langpack.clickstream.dev/web/v1":  {"langpack.clickstream.dev/web/v1", 1},
		"langpack.clickstream.dev/web/v02": {"langpack.clickstream.dev/web/v02", 1},
		"langpack.clickstream.dev/vx":      {"langpack.clickstream.dev/vx", 1},
	} {
		if base, major := langpack.GoModuleMajor(p); base != want[0] || major != want[1] {
			t.Errorf("GoModuleMajor(%q) = %q, %d, want %v", p, base, major, want)
		}
	}
}

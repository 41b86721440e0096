package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// TestLangpackChange: how a candidate version compares with the newest of
// its line: surface entries removed or changed → major, only added →
// minor, the same surface with other input or another generator minor →
// patch, another generator major → major,
// all equal → no new version.
func TestLangpackChange(t *testing.T) {
	newest := LangpackVersion{
		SurfaceHash: "s1", InputHash: "i1", GeneratorVersion: "clickstream-langpack/1",
		Surface: langpack.Surface{"event a.A": "id=1 version=1 class=A", "field a.A.x": "number=1 json=x string"},
	}
	with := func(edit func(*LangpackVersion)) LangpackVersion {
		c := newest
		c.Surface = langpack.Surface{}
		for k, v := range newest.Surface {
			c.Surface[k] = v
		}
		edit(&c)
		c.SurfaceHash = c.Surface.Hash()
		return c
	}
	newest.SurfaceHash = newest.Surface.Hash()
	tests := []struct {
		name      string
		candidate LangpackVersion
		want      langpack.Change
		says      string
	}{
		{"same", with(func(*LangpackVersion) {}), langpack.NoChange, ""},
		{"field removed", with(func(c *LangpackVersion) { delete(c.Surface, "field a.A.x") }), langpack.Major, "removed field a.A.x"},
		{"field changed", with(func(c *LangpackVersion) { c.Surface["field a.A.x"] = "number=1 json=x string required" }), langpack.Major, "changed field a.A.x"},
		{"event added", with(func(c *LangpackVersion) { c.Surface["event a.B"] = "id=2 version=1 class=B" }), langpack.Minor, "added event a.B"},
		{"added and removed", with(func(c *LangpackVersion) {
			c.Surface["event a.B"] = "id=2 version=1 class=B"
			delete(c.Surface, "event a.A")
		}), langpack.Major, "removed event a.A; added event a.B"},
		{"documentation", with(func(c *LangpackVersion) { c.InputHash = "i2" }), langpack.Patch, "documentation"},
		{"generator, API kept", with(func(c *LangpackVersion) { c.GeneratorVersion = "clickstream-langpack/1.1" }), langpack.Patch, "generator clickstream-langpack/1.1, was clickstream-langpack/1"},
		{"generator, API changed", with(func(c *LangpackVersion) { c.GeneratorVersion = "clickstream-langpack/2.0" }), langpack.Major, "generator clickstream-langpack/2.0, was clickstream-langpack/1: the generated API changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := langpackChange(newest, tt.candidate)
			if got != tt.want || !strings.HasPrefix(why, tt.says) || (tt.says == "") != (why == "") {
				t.Errorf("langpackChange = %s %q, want %s %q", got, why, tt.want, tt.says)
			}
		})
	}
	if got, why := langpackChange(LangpackVersion{}, newest); got != langpack.Major || why != "first version" {
		t.Errorf("a line's first version: %s %q", got, why)
	}
}

// TestNextLangpackVersion: a patch counts on; a new minor or major takes
// the current Unix second as its minor, after the previous minor (waiting
// for the clock when two come within one second), and a line's first
// version takes a second that began after the line was started.
func TestNextLangpackVersion(t *testing.T) {
	ctx := t.Context()
	start := time.Now().Unix()
	first, err := nextLangpackVersion(ctx, langpack.Version{}, langpack.Major)
	if err != nil {
		t.Fatal(err)
	}
	if first.Major != 1 || int64(first.Minor) <= start || first.Patch != 0 {
		t.Errorf("first version %s, want 1.<a second after %d>.0", first, start)
	}
	patch, _ := nextLangpackVersion(ctx, first, langpack.Patch)
	if want := (langpack.Version{Major: 1, Minor: first.Minor, Patch: 1}); patch != want {
		t.Errorf("patch after %s: %s, want %s", first, patch, want)
	}
	minor, _ := nextLangpackVersion(ctx, patch, langpack.Minor)
	major, _ := nextLangpackVersion(ctx, minor, langpack.Major)
	if minor.Major != 1 || minor.Minor <= first.Minor || minor.Patch != 0 {
		t.Errorf("minor after %s: %s", patch, minor)
	}
	if major.Major != 2 || major.Minor <= minor.Minor || major.Patch != 0 {
		t.Errorf("major after %s: %s", minor, major)
	}
	if now := time.Now().Unix(); int64(major.Minor) > now {
		t.Errorf("the minor of %s is after the clock (%d): it must name the second it was made at", major, now)
	}
	t.Logf("%s, %s, %s, %s", first, patch, minor, major)
}

// TestIndexCache: a value is computed once and kept, the oldest values go
// when the size bound is reached, and a value over the bound is not kept.
func TestIndexCache(t *testing.T) {
	c := newIndexCache(10)
	computed := 0
	get := func(key, value string) string {
		v, err := c.get(key, func() ([]byte, error) { computed++; return []byte(value), nil })
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	get("a", "1234")
	get("b", "5678")
	if v := get("a", "other"); v != "1234" || computed != 2 {
		t.Errorf("a kept value: %q after %d computations, want 1234 after 2", v, computed)
	}
	get("c", "90ab") // 12 bytes > 10: a goes
	if _, ok := c.values["a"]; ok || c.size != 8 {
		t.Errorf("after the bound: a kept %v, size %d, want a gone and 8 bytes", ok, c.size)
	}
	get("big", "0123456789abc")
	if _, ok := c.values["big"]; ok || c.size != 8 {
		t.Errorf("a value over the bound was kept (size %d)", c.size)
	}
}

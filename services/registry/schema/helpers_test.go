package schema

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	protosrc "github.com/clickstream-dev/clickstream/proto"
)

// Fixtures: testdata/catalogue is a small valid catalogue locked by
// testdata/catalogue.lock; testdata/cases/<name> holds only the files a case
// changes or adds, laid over the catalogue. Fixtures import the repo's
// clickstream/options/v1/options.proto through Compile's extra file systems.

// fixtureFS returns the catalogue fixture with the files of the named cases
// laid over it.
func fixtureFS(t *testing.T, cases ...string) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	dirs := []string{filepath.Join("testdata", "catalogue")}
	for _, c := range cases {
		dirs = append(dirs, filepath.Join("testdata", "cases", c))
	}
	for _, dir := range dirs {
		err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
			out[p] = &fstest.MapFile{Data: b}
			return err
		})
		if err != nil {
			t.Fatalf("read fixture %s: %v", dir, err)
		}
	}
	return out
}

// compileFixture compiles the catalogue fixture with the named cases laid over it.
func compileFixture(t *testing.T, cases ...string) *Set {
	t.Helper()
	set, err := Compile(context.Background(), fixtureFS(t, cases...), protosrc.FS)
	if err != nil {
		t.Fatalf("compile fixture %v: %v", cases, err)
	}
	return set
}

// compileSources compiles proto sources given inline, path → text.
func compileSources(t *testing.T, files map[string]string) *Set {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	set, err := Compile(context.Background(), fsys, protosrc.FS)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return set
}

// fixtureEvents compiles a fixture and returns its events, failing on any
// catalogue violation.
func fixtureEvents(t *testing.T, cases ...string) []EventVersion {
	t.Helper()
	events, vs := compileFixture(t, cases...).Events()
	for _, v := range vs {
		t.Errorf("fixture %v: unexpected violation: %v", cases, v)
	}
	return events
}

func fixtureLock(t *testing.T) *Lock {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "catalogue.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lock, err := ParseLock(f)
	if err != nil {
		t.Fatal(err)
	}
	return lock
}

func eventByName(t *testing.T, events []EventVersion, messageName string) EventVersion {
	t.Helper()
	for _, ev := range events {
		if ev.MessageName == messageName {
			return ev
		}
	}
	t.Fatalf("no event %s", messageName)
	return EventVersion{}
}

// rules returns "rule message" for each violation, for compact comparisons.
func rules(vs []Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Rule + " " + v.Message
		if v.Field != "" {
			out[i] += "." + v.Field
		}
	}
	return out
}

// wantDetailNames fails unless every violation's Detail names the event (its short message name).
func wantDetailNames(t *testing.T, vs []Violation) {
	t.Helper()
	for _, v := range vs {
		short := v.Message[strings.LastIndexByte(v.Message, '.')+1:]
		if v.Message == "" || !strings.Contains(v.Detail, short) {
			t.Errorf("Detail %q does not name the message %q", v.Detail, v.Message)
		}
		if v.Hint == "" {
			t.Errorf("violation %v has no hint", v)
		}
	}
}

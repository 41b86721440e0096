package schema

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/reflect/protoreflect"

	protosrc "github.com/clickstream-dev/clickstream/proto"
)

// TestRepoCatalogue: the starter catalogue embedded in the binary compiles,
// has no catalogue violations, and matches the committed proto/events.lock.
func TestRepoCatalogue(t *testing.T) {
	set, err := Compile(context.Background(), protosrc.FS)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(set.Files, func(a, b protoreflect.FileDescriptor) int { return strings.Compare(a.Path(), b.Path()) }) {
		t.Error("Set.Files is not sorted by path")
	}
	events, vs := set.Events()
	for _, v := range vs {
		t.Errorf("catalogue violation: %v", v)
	}
	if len(events) == 0 {
		t.Fatal("the catalogue has no events")
	}
	photo := eventByName(t, events, "clickstream.events.v1.PhotoStatusChangedV2")
	want := EventVersion{ID: 2001, Version: 2, Name: "PhotoStatusChanged", File: "clickstream/events/v1/photo_status_changed.proto"}
	if photo.ID != want.ID || photo.Version != want.Version || photo.Name != want.Name || photo.File != want.File ||
		photo.Line == 0 || photo.Description == "" || !strings.HasPrefix(photo.Fingerprint, "sha256:") {
		t.Errorf("PhotoStatusChangedV2 = %+v", photo)
	}

	f, err := protosrc.FS.Open("events.lock")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lock, err := ParseLock(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Check(lock, events) {
		t.Errorf("proto/events.lock: %v", v)
	}

	// The CLI compiles the working tree: same result as the embedded copy.
	fromDisk, err := Compile(context.Background(), os.DirFS("../../../proto"))
	if err != nil {
		t.Fatal(err)
	}
	diskEvents, _ := fromDisk.Events()
	if len(diskEvents) != len(events) {
		t.Fatalf("proto/ on disk has %d events, embedded %d", len(diskEvents), len(events))
	}
	for i := range events {
		if diskEvents[i].Fingerprint != events[i].Fingerprint {
			t.Errorf("%s: fingerprint on disk %s, embedded %s", events[i], diskEvents[i].Fingerprint, events[i].Fingerprint)
		}
	}
}

func TestCompileFixture(t *testing.T) {
	set := compileFixture(t)
	var paths []string
	for _, f := range set.Files {
		paths = append(paths, f.Path())
	}
	want := []string{ // only the fixture's own files, not options.proto or timestamp.proto
		"fixture/events/v1/context.proto",
		"fixture/events/v1/heartbeat.proto",
		"fixture/events/v1/item_view.proto",
		"fixture/events/v1/photo_status_changed.proto",
	}
	if !slices.Equal(paths, want) {
		t.Errorf("Files = %v, want %v", paths, want)
	}
	events, vs := set.Events()
	if len(vs) > 0 {
		t.Errorf("violations: %v", vs)
	}
	var got []string
	for _, ev := range events {
		got = append(got, ev.String())
	}
	wantEvents := []string{"ItemViewV1 (event 1001 v1)", "PhotoStatusChangedV1 (event 2001 v1)", "PhotoStatusChangedV2 (event 2001 v2)", "HeartbeatV1 (event 9001 v1)"}
	if !slices.Equal(got, wantEvents) {
		t.Errorf("events = %v, want %v", got, wantEvents)
	}
	v2 := eventByName(t, events, "fixture.events.v1.PhotoStatusChangedV2")
	if v2.Line != 26 || v2.File != "fixture/events/v1/photo_status_changed.proto" || v2.Name != "PhotoStatusChanged" ||
		v2.Description != "A photo changed status; with the previous status." {
		t.Errorf("PhotoStatusChangedV2 = %+v", v2)
	}
	// Source info is kept: comments are available.
	loc := v2.Descriptor.ParentFile().SourceLocations().ByDescriptor(v2.Descriptor)
	if loc.LeadingComments != " Version 2 adds the previous status.\n" {
		t.Errorf("leading comment = %q", loc.LeadingComments)
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile(context.Background(), fixtureFS(t, "syntax-error"), protosrc.FS)
	if err == nil {
		t.Fatal("Compile succeeded on a broken file")
	}
	msg := err.Error()
	for _, want := range []string{
		"fixture/events/v1/broken.proto:7:3: syntax error",      // missing ';'
		"fixture/events/v1/broken_too.proto:6:11: syntax error", // "strin g"
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not list %q:\n%s", want, msg)
		}
	}
	var ewp reporter.ErrorWithPos
	if !errors.As(err, &ewp) {
		t.Errorf("error %v does not wrap a reporter.ErrorWithPos", err)
	}

	// Without the extra file system, the options import is missing.
	_, err = Compile(context.Background(), fixtureFS(t))
	if err == nil || !strings.Contains(err.Error(), "clickstream/options/v1/options.proto") {
		t.Errorf("Compile without options.proto: err = %v, want it to name the missing import", err)
	}
}

func TestFileDescriptorSetRoundTrip(t *testing.T) {
	set := compileFixture(t)
	fds := set.FileDescriptorSet()

	seen := map[string]bool{}
	for _, f := range fds.GetFile() {
		for _, dep := range f.GetDependency() {
			if !seen[dep] {
				t.Errorf("%s comes before its import %s", f.GetName(), dep)
			}
		}
		seen[f.GetName()] = true
	}
	for _, want := range []string{"google/protobuf/timestamp.proto", "clickstream/options/v1/options.proto", "fixture/events/v1/photo_status_changed.proto"} {
		if !seen[want] {
			t.Errorf("FileDescriptorSet lacks %s", want)
		}
	}

	// The registry builds a Set from the pushed descriptors: same events,
	// fingerprints, lines and descriptions.
	pushed, err := NewSet(fds)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := set.Events()
	got, vs := pushed.Events()
	if len(vs) > 0 {
		t.Errorf("violations: %v", vs)
	}
	if len(got) != len(want) {
		t.Fatalf("NewSet: %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		g.Descriptor, w.Descriptor = nil, nil
		if g != w {
			t.Errorf("NewSet event %d = %+v, want %+v", i, g, w)
		}
	}
}

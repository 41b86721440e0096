package schema

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestCheckClean(t *testing.T) {
	if vs := Check(fixtureLock(t), fixtureEvents(t)); len(vs) > 0 {
		t.Errorf("Check on the locked fixture: %v", vs)
	}
}

func TestCheckVersionChanged(t *testing.T) {
	vs := Check(fixtureLock(t), fixtureEvents(t, "field-renamed"))
	if got, want := rules(vs), []string{"version-changed fixture.events.v1.PhotoStatusChangedV2"}; !slices.Equal(got, want) {
		t.Fatalf("Check = %q, want %q", got, want)
	}
	v := vs[0]
	if !strings.HasPrefix(v.Detail, "PhotoStatusChangedV2 (event 2001 v2) changed: fingerprint") {
		t.Errorf("Detail = %q", v.Detail)
	}
	if !strings.HasPrefix(v.Hint, "add PhotoStatusChangedV3 instead of changing V2") {
		t.Errorf("Hint = %q", v.Hint)
	}
	if v.File != "fixture/events/v1/photo_status_changed.proto" || v.Line != 26 {
		t.Errorf("position = %s:%d", v.File, v.Line)
	}
}

func TestCheckVersionDeleted(t *testing.T) {
	vs := Check(fixtureLock(t), fixtureEvents(t, "version-deleted"))
	if got, want := rules(vs), []string{"version-deleted fixture.events.v1.PhotoStatusChangedV2"}; !slices.Equal(got, want) {
		t.Fatalf("Check = %q, want %q", got, want)
	}
	if want := "PhotoStatusChangedV2 (event 2001 v2) is locked but missing from the catalogue"; vs[0].Detail != want {
		t.Errorf("Detail = %q, want %q", vs[0].Detail, want)
	}
	if !strings.Contains(vs[0].Hint, "never deleted") || !strings.Contains(vs[0].Hint, "retire it in the registry") {
		t.Errorf("Hint = %q", vs[0].Hint)
	}
}

func TestCheckNotLockedAndAppend(t *testing.T) {
	lock := fixtureLock(t)
	events := fixtureEvents(t, "new-version")
	vs := Check(lock, events)
	if got, want := rules(vs), []string{"not-locked fixture.events.v1.PhotoStatusChangedV3"}; !slices.Equal(got, want) {
		t.Fatalf("Check = %q, want %q", got, want)
	}
	wantDetailNames(t, vs)
	if !strings.Contains(vs[0].Hint, "clickstream schema lock") {
		t.Errorf("Hint = %q", vs[0].Hint)
	}

	before := slices.Clone(lock.Entries)
	appended, vs := Append(lock, events)
	if len(vs) > 0 {
		t.Fatalf("Append refused: %v", vs)
	}
	if !slices.Equal(lock.Entries, before) {
		t.Error("Append changed its input lock")
	}
	v3 := eventByName(t, events, "fixture.events.v1.PhotoStatusChangedV3")
	want := slices.Insert(slices.Clone(before), 3, LockEntry{ID: 2001, Version: 3, MessageName: v3.MessageName, Fingerprint: v3.Fingerprint})
	if !slices.Equal(appended.Entries, want) {
		t.Errorf("Append = %+v, want %+v", appended.Entries, want)
	}
	if vs := Check(appended, events); len(vs) > 0 {
		t.Errorf("Check after Append: %v", vs)
	}
}

func TestAppendRefuses(t *testing.T) {
	for _, tt := range []struct {
		cases []string
		want  []string
	}{
		{[]string{"field-renamed"}, []string{"version-changed fixture.events.v1.PhotoStatusChangedV2"}},
		{[]string{"version-deleted"}, []string{"version-deleted fixture.events.v1.PhotoStatusChangedV2"}},
		{[]string{"version-deleted", "version-gap"}, []string{"version-deleted fixture.events.v1.PhotoStatusChangedV2"}},
	} {
		events, _ := compileFixture(t, tt.cases...).Events()
		lock, vs := Append(fixtureLock(t), events)
		if lock != nil {
			t.Errorf("%v: Append returned a lock despite %v", tt.cases, vs)
		}
		if got := rules(vs); !slices.Equal(got, tt.want) {
			t.Errorf("%v: Append violations = %q, want %q", tt.cases, got, tt.want)
		}
	}

	events, _ := compileFixture(t, "version-duplicate").Events()
	if lock, vs := Append(nil, events); lock != nil || len(vs) != 1 || vs[0].Rule != RuleVersionDuplicate {
		t.Errorf("Append with a duplicate version = %v, %v", lock, vs)
	}
}

// An empty (or missing) lock locks the whole catalogue.
func TestAppendToEmptyLock(t *testing.T) {
	events := fixtureEvents(t)
	lock, vs := Append(nil, events)
	if len(vs) > 0 {
		t.Fatal(vs)
	}
	if !reflect.DeepEqual(lock, fixtureLock(t)) {
		t.Errorf("Append(nil) = %+v, want testdata/catalogue.lock", lock.Entries)
	}
	if got := rules(Check(nil, events)); len(got) != len(events) {
		t.Errorf("Check(nil) = %q, want every event not-locked", got)
	}
}

func TestLockRoundTrip(t *testing.T) {
	file, err := os.ReadFile(filepath.Join("testdata", "catalogue.lock"))
	if err != nil {
		t.Fatal(err)
	}
	lock := fixtureLock(t)
	var buf bytes.Buffer
	n, err := lock.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo = %d, wrote %d bytes", n, buf.Len())
	}
	if buf.String() != string(file) {
		t.Errorf("WriteTo does not reproduce testdata/catalogue.lock:\n%s", buf.String())
	}
	if !strings.HasPrefix(buf.String(), "# Fingerprints of published event versions. Append-only: never edit or delete a line.\n# Add new versions with `clickstream schema lock`;") {
		t.Errorf("missing header:\n%s", buf.String())
	}
	again, err := ParseLock(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, lock) {
		t.Errorf("round trip = %+v, want %+v", again, lock)
	}
}

func TestParseLockLenient(t *testing.T) {
	const fp = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	in := "\r\n  # comment\r\n2001 1 a.B2V1 " + fp + "\r\n\n1001\t1   a.B1V1 " + fp + "  \n"
	lock, err := ParseLock(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []LockEntry{{1001, 1, "a.B1V1", fp}, {2001, 1, "a.B2V1", fp}}
	if !slices.Equal(lock.Entries, want) {
		t.Errorf("entries = %+v, want %+v (sorted)", lock.Entries, want)
	}
}

func TestParseLockErrors(t *testing.T) {
	const fp = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const header = "# header\n\n"
	tests := []struct {
		name, line, want string
	}{
		{"too few fields", "1001 1 a.ItemViewV1", `line 3: want "<id> <version> <full message name> sha256:<hex>", got 3 fields`},
		{"too many fields", "1001 1 a.ItemViewV1 " + fp + " extra", "line 3: want"},
		{"id not a number", "x 1 a.ItemViewV1 " + fp, `line 3: event id "x"`},
		{"id zero", "0 1 a.ItemViewV1 " + fp, `line 3: event id "0": want a number from 1 to 4294967295, not 0`},
		{"id too large", "4294967296 1 a.ItemViewV1 " + fp, `line 3: event id "4294967296"`},
		{"negative version", "1001 -1 a.ItemViewV1 " + fp, `line 3: version "-1"`},
		{"bad name", "1001 1 a..ItemViewV1 " + fp, `line 3: message name "a..ItemViewV1" is not a full protobuf name`},
		{"no algorithm", "1001 1 a.ItemViewV1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "line 3: fingerprint"},
		{"short hash", "1001 1 a.ItemViewV1 sha256:0123", "line 3: fingerprint"},
		{"upper-case hash", "1001 1 a.ItemViewV1 " + strings.ToUpper(fp), "line 3: fingerprint"},
		{"duplicate version", "1001 1 a.ItemViewV1 " + fp + "\n1001 1 a.OtherV1 " + fp, "line 4: event 1001 version 1 is already locked on line 3"},
		{"duplicate name", "1001 1 a.ItemViewV1 " + fp + "\n1001 2 a.ItemViewV1 " + fp, "line 4: message a.ItemViewV1 is already locked on line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLock(strings.NewReader(header + tt.line + "\n"))
			if err == nil {
				t.Fatal("ParseLock accepted a malformed line")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParseLock(f *testing.F) {
	file, err := os.ReadFile(filepath.Join("testdata", "catalogue.lock"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(file))
	f.Add("")
	f.Add("# only a comment\n")
	f.Add("1 1 a.B sha256:0000000000000000000000000000000000000000000000000000000000000000\n")
	f.Add("1 1 a.B sha256:00\n2 x\n")
	f.Fuzz(func(t *testing.T, in string) {
		lock, err := ParseLock(strings.NewReader(in))
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Errorf("error without a line number: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if _, err := lock.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := ParseLock(&buf)
		if err != nil {
			t.Fatalf("ParseLock rejects what WriteTo wrote: %v\n%s", err, buf.String())
		}
		if !slices.Equal(again.Entries, lock.Entries) {
			t.Errorf("round trip changed the entries: %+v → %+v", lock.Entries, again.Entries)
		}
	})
}

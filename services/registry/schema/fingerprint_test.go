package schema

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1" // registers the generated descriptors
	protosrc "github.com/clickstream-dev/clickstream/proto"
)

// A comment, description or other field-option change keeps every
// fingerprint: the lock still matches.
func TestFingerprintIgnoresCommentsAndOptions(t *testing.T) {
	before := fixtureEvents(t)
	after := fixtureEvents(t, "comments-only")
	for i := range before {
		if before[i].Fingerprint != after[i].Fingerprint {
			t.Errorf("%s: fingerprint changed by a comment or option edit", before[i])
		}
	}
	if after[1].Description == before[1].Description {
		t.Fatal("the comments-only fixture does not change the description")
	}
	if vs := Check(fixtureLock(t), after); len(vs) > 0 {
		t.Errorf("Check after a comment-only change: %v", vs)
	}
}

// Changing the shared Context changes the fingerprint of every event that
// references it, and of no other.
func TestFingerprintFollowsSharedTypes(t *testing.T) {
	before := fixtureEvents(t)
	after := fixtureEvents(t, "context-changed")
	for i := range before {
		changed := before[i].Fingerprint != after[i].Fingerprint
		usesContext := before[i].Descriptor.Fields().ByName("context") != nil
		if changed != usesContext {
			t.Errorf("%s: fingerprint changed = %v, but references Context = %v", before[i], changed, usesContext)
		}
	}
	vs := Check(fixtureLock(t), after)
	want := []string{
		"version-changed fixture.events.v1.ItemViewV1",
		"version-changed fixture.events.v1.PhotoStatusChangedV1",
		"version-changed fixture.events.v1.PhotoStatusChangedV2",
	}
	if got := rules(vs); !slices.Equal(got, want) {
		t.Errorf("Check = %q, want %q", got, want)
	}
	wantDetailNames(t, vs)
}

// The fingerprint depends on the shape only, not on the compiler: the
// descriptors compiled at run time and those in the generated Go code agree.
func TestFingerprintMatchesGeneratedCode(t *testing.T) {
	set, err := Compile(context.Background(), protosrc.FS)
	if err != nil {
		t.Fatal(err)
	}
	events, _ := set.Events()
	for _, ev := range events {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(ev.MessageName))
		if err != nil {
			t.Errorf("%s: not in the generated code (run make generate): %v", ev, err)
			continue
		}
		if got := Fingerprint(d.(protoreflect.MessageDescriptor)); got != ev.Fingerprint {
			t.Errorf("%s: generated descriptor fingerprint %s, compiled %s (is gen/ stale?)", ev, got, ev.Fingerprint)
		}
	}
}

const shapeBase = `
message EvV1 {
  option (clickstream.options.v1.event) = {id: 1, version: 1};
  // The user.
  string user = 1;
  int32 count = 2;
  repeated int64 ids = 3;
  Status status = 4;
  Inner inner = 5;
  map<string, string> attrs = 6;
  oneof target {
    string url = 7;
    int64 item = 8;
  }
  message Inner {
    double x = 1;
  }
}

enum Status {
  STATUS_UNSPECIFIED = 0;
  STATUS_ON = 1;
}
`

// Each variant of shapeBase either changes the shape (and so the fingerprint,
// and DiffMessages says how) or does not.
func TestFingerprintShape(t *testing.T) {
	tests := []struct {
		name    string
		old     string // replaced in shapeBase
		new     string
		changed bool
		diff    string // a line DiffMessages returns, when changed
	}{
		{"rename field", "string user = 1;", "string user_id = 1;", true, `field 1 "user" renamed to "user_id"`},
		{"renumber field", "string user = 1;", "string user = 9;", true, `field "user" renumbered from 1 to 9`},
		{"change type", "int32 count = 2;", "int64 count = 2;", true, `field 2 "count" type changed from int32 to int64`},
		{"change encoding type", "int32 count = 2;", "sint32 count = 2;", true, `field 2 "count" type changed from int32 to sint32`},
		{"singular to repeated", "int32 count = 2;", "repeated int32 count = 2;", true, `field 2 "count" type changed from int32 to repeated int32`},
		{"add optional", "int32 count = 2;", "optional int32 count = 2;", true, `field 2 "count" presence changed from implicit to optional (explicit)`},
		{"json name", "int32 count = 2;", `int32 count = 2 [json_name = "n"];`, true, `field 2 "count" JSON name changed from "count" to "n"`},
		{"unpacked", "repeated int64 ids = 3;", "repeated int64 ids = 3 [packed = false];", true, `field 3 "ids" encoding changed from packed to unpacked`},
		{"remove field", "int32 count = 2;", "", true, `field 2 "count" removed`},
		{"add field", "int32 count = 2;", "int32 count = 2; bool flag = 10;", true, `field 10 "flag" added (bool)`},
		{"rename oneof", "oneof target {", "oneof goal {", true, `field 7 "url" presence changed from oneof target to oneof goal`},
		{"map value type", "map<string, string> attrs = 6;", "map<string, int32> attrs = 6;", true, `field 6 "attrs" type changed from map<string, string> to map<string, int32>`},
		{"nested type field", "double x = 1;", "float x = 1;", true, `t.v1.EvV1.Inner: field 1 "x" type changed from double to float`},
		{"nested type added", "message Inner {", "message Unused {}\n  message Inner {", true, "nested type Unused added"},
		{"enum value renamed", "STATUS_ON = 1;", "STATUS_ACTIVE = 1;", true, "t.v1.Status: value 1 STATUS_ON renamed to STATUS_ACTIVE"},
		{"enum value added", "STATUS_ON = 1;", "STATUS_ON = 1;\n  STATUS_OFF = 2;", true, "t.v1.Status: value 2 STATUS_OFF added"},
		{"comment", "// The user.", "// Who did it.", false, ""},
		{"field option", "string user = 1;", "string user = 1 [(clickstream.options.v1.field) = {required: true, pii: true, description: \"who\"}];", false, ""},
		{"event description", "version: 1}", "version: 1, description: \"new words\"}", false, ""},
		{"declaration order", "string user = 1;\n  int32 count = 2;", "int32 count = 2;\n  string user = 1;", false, ""},
	}
	base := compileShape(t, shapeBase)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(shapeBase, tt.old) {
				t.Fatalf("%q is not in shapeBase", tt.old)
			}
			variant := compileShape(t, strings.Replace(shapeBase, tt.old, tt.new, 1))
			changed := Fingerprint(base) != Fingerprint(variant)
			if changed != tt.changed {
				t.Errorf("fingerprint changed = %v, want %v", changed, tt.changed)
			}
			diff := DiffMessages(base, variant)
			if tt.changed && !slices.Contains(diff, tt.diff) {
				t.Errorf("DiffMessages = %q, want it to contain %q", diff, tt.diff)
			}
			if !tt.changed && len(diff) > 0 {
				t.Errorf("DiffMessages = %q, want none", diff)
			}
		})
	}
}

// The file a message lives in is not part of its shape.
func TestFingerprintIgnoresFile(t *testing.T) {
	a := compileSources(t, map[string]string{"t/v1/a.proto": shapeFile(shapeBase)})
	b := compileSources(t, map[string]string{"t/v1/moved/b.proto": shapeFile(shapeBase)})
	ea, _ := a.Events()
	eb, _ := b.Events()
	if ea[0].Fingerprint != eb[0].Fingerprint {
		t.Error("moving a message to another file changed its fingerprint")
	}
}

// Recursive types terminate and are deterministic.
func TestFingerprintCycle(t *testing.T) {
	const src = `
message EvV1 {
  option (clickstream.options.v1.event) = {id: 1, version: 1};
  Node root = 1;
}
message Node {
  repeated Node children = 1;
  Leaf leaf = 2;
}
message Leaf {
  Node parent = 1;
}
`
	a, b := compileShape(t, src), compileShape(t, src)
	if Fingerprint(a) != Fingerprint(b) {
		t.Error("fingerprint of a recursive type is not deterministic")
	}
	changed := compileShape(t, strings.Replace(src, "Node parent = 1;", "Node parent = 1;\n  string name = 2;", 1))
	if Fingerprint(a) == Fingerprint(changed) {
		t.Error("a change deep in a cycle did not change the fingerprint")
	}
	if diff := DiffMessages(a, changed); !slices.Equal(diff, []string{`t.v1.Leaf: field 2 "name" added (string)`}) {
		t.Errorf("DiffMessages = %q", diff)
	}
}

func shapeFile(body string) string {
	return `syntax = "proto3";
package t.v1;
import "clickstream/options/v1/options.proto";
` + body
}

// compileShape compiles body in package t.v1 and returns message t.v1.EvV1.
func compileShape(t *testing.T, body string) protoreflect.MessageDescriptor {
	t.Helper()
	set := compileSources(t, map[string]string{"t/v1/shape.proto": shapeFile(body)})
	md := set.Files[0].Messages().ByName("EvV1")
	if md == nil {
		t.Fatal("no message EvV1")
	}
	return md
}

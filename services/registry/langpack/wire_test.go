package langpack_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// kitchenSink is an event with a field of every kind the generators map:
// every scalar, enums, nested and repeated messages, packed and unpacked
// lists, maps with scalar, enum and message values, well-known times,
// proto3 optional and a oneof.
const kitchenSink = `syntax = "proto3";

package sink.v1;

import "clickstream/options/v1/options.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";

enum Color {
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
  COLOR_BLUE = 2;
}

message Part {
  message Inner {
    bool on = 1;
  }
  string name = 1 [(clickstream.options.v1.field) = {required: true}];
  Inner inner = 2;
}

message KitchenSinkV1 {
  option (clickstream.options.v1.event) = {
    id: 7001
    version: 1
    description: "Every kind of field."
  };

  int32 i32 = 1;
  sint32 s32 = 2;
  sfixed32 sf32 = 3;
  uint32 u32 = 4;
  fixed32 f32 = 5;
  int64 i64 = 6;
  sint64 s64 = 7;
  sfixed64 sf64 = 8;
  uint64 u64 = 9;
  fixed64 f64 = 10;
  float fl = 11;
  double db = 12;
  bool flag = 13;
  string text = 14;
  bytes raw = 15;
  Color color = 16;
  Part part = 17;
  repeated int32 nums = 18;
  repeated sint64 snums = 19;
  repeated Color colors = 20;
  repeated Part parts = 21 [(clickstream.options.v1.field) = {required: true}];
  repeated double ds = 22;
  repeated bool flags = 23;
  repeated bytes blobs = 24;
  map<int32, string> by_id = 25;
  map<string, Part> parts_by_name = 26;
  map<bool, Color> by_flag = 27;
  map<uint64, double> weights = 28;
  google.protobuf.Timestamp at = 29;
  google.protobuf.Duration took = 30;
  optional int32 maybe = 31;
  oneof choice {
    string word = 32;
    int64 number = 33;
    Part.Inner inner = 34;
  }
  int32 negative = 35;
  // note is a proto3 optional string: unset is absent, not "".
  optional string note = 36;
}
`

// kitchenSinkJSON is the value the Java and C# programs build, as protobuf
// JSON; word is set before inner, so the oneof holds inner only.
const kitchenSinkJSON = `{
  "i32": -5, "s32": -6, "sf32": -7, "u32": 8, "f32": 9,
  "i64": "-10", "s64": "-11", "sf64": "-12", "u64": "18446744073709551615", "f64": "14",
  "fl": 1.5, "db": -2.25, "flag": true, "text": "h\u00e9llo \"q\"", "raw": "AAEC/w==",
  "color": "COLOR_BLUE", "part": {"name": "p", "inner": {"on": true}},
  "nums": [1, -2, 300], "snums": ["-1", "2"], "colors": ["COLOR_RED", "COLOR_BLUE"],
  "parts": [{"name": "a"}, {"name": "b"}], "ds": [0.5, 1e100], "flags": [true, false], "blobs": ["AQ==", ""],
  "byId": {"1": "one", "-2": "minus two"}, "partsByName": {"x": {"name": "x"}},
  "byFlag": {"true": "COLOR_RED"}, "weights": {"18446744073709551615": 0.25},
  "at": "2026-12-05T14:00:00.123Z", "took": "-1.500s", "maybe": 0,
  "inner": {"on": true}, "negative": -1
}`

func kitchenSinkInput(t *testing.T) (langpack.Input, protoreflect.MessageDescriptor) {
	t.Helper()
	set, err := schema.Compile(context.Background(), fstest.MapFS{"sink/v1/sink.proto": {Data: []byte(kitchenSink)}}, protosrc.FS)
	if err != nil {
		t.Fatal(err)
	}
	events, vs := set.Events()
	if len(vs) > 0 || len(events) != 1 {
		t.Fatalf("kitchen sink: %d events, violations %v", len(events), vs)
	}
	ev := events[0]
	in := langpack.Input{Environment: "sink", Revision: 1, Version: langpack.Version{Major: 1, Minor: 1}, Files: fileSet(set.Files),
		Events: []langpack.Event{{ID: ev.ID, Version: ev.Version, MessageName: ev.MessageName, Description: ev.Description}}}
	files, err := protodesc.NewFiles(in.Files)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName("sink.v1.KitchenSinkV1")
	if err != nil {
		t.Fatal(err)
	}
	return in, d.(protoreflect.MessageDescriptor)
}

func kitchenSinkWant(t *testing.T, md protoreflect.MessageDescriptor) *dynamicpb.Message {
	t.Helper()
	want := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(kitchenSinkJSON), want); err != nil {
		t.Fatal(err)
	}
	return want
}

func generateInto(t *testing.T, lang langpack.Language, in langpack.Input) (*langpack.Pack, string) {
	t.Helper()
	p, err := langpack.Generate(lang, in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writePack(t, p, dir)
	return p, dir
}

func TestKitchenSinkGenerates(t *testing.T) {
	in, _ := kitchenSinkInput(t)
	for _, lang := range langpack.Languages() {
		if _, err := langpack.Generate(lang, in); err != nil {
			t.Errorf("%s: %v", lang, err)
		}
	}
}

// TestTypeNameCollision: a catalogue message named like a type of a
// langpack's own code fails generation with a message naming it, rather
// than giving a pack that does not compile.
func TestTypeNameCollision(t *testing.T) {
	src := `syntax = "proto3";

package clash.v1;

import "clickstream/options/v1/options.proto";

message Result {
  string id = 1;
}

message ClashV1 {
  option (clickstream.options.v1.event) = {
    id: 7002
    version: 1
    description: "References a message named Result."
  };

  Result result = 1;
}
`
	set, err := schema.Compile(context.Background(), fstest.MapFS{"clash/v1/clash.proto": {Data: []byte(src)}}, protosrc.FS)
	if err != nil {
		t.Fatal(err)
	}
	in := langpack.Input{Environment: "clash", Revision: 1, Files: fileSet(set.Files),
		Events: []langpack.Event{{ID: 7002, Version: 1, MessageName: "clash.v1.ClashV1"}}}
	for _, lang := range []langpack.Language{langpack.Java, langpack.Swift, langpack.CSharp, langpack.TypeScript} {
		_, err := langpack.Generate(lang, in)
		if err == nil || !strings.Contains(err.Error(), "clash.v1.Result is generated as the class Result") {
			t.Errorf("%s: error %v, want one naming clash.v1.Result", lang, err)
		}
	}
}

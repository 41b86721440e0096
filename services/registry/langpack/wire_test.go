package langpack_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
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

const javaSink = `import dev.clickstream.events.sink.*;
import java.util.*;

public class Sink {
    public static void main(String[] args) throws Exception {
        Map<Integer, String> byId = new LinkedHashMap<Integer, String>();
        byId.put(1, "one");
        byId.put(-2, "minus two");
        Map<String, Part> partsByName = new LinkedHashMap<String, Part>();
        partsByName.put("x", new Part().setName("x"));
        Map<Boolean, Color> byFlag = new LinkedHashMap<Boolean, Color>();
        byFlag.put(true, Color.COLOR_RED);
        Map<Long, Double> weights = new LinkedHashMap<Long, Double>();
        weights.put(-1L, 0.25);
        KitchenSinkV1 k = new KitchenSinkV1()
                .setI32(-5).setS32(-6).setSf32(-7).setU32(8).setF32(9)
                .setI64(-10).setS64(-11).setSf64(-12).setU64(-1L).setF64(14)
                .setFl(1.5f).setDb(-2.25).setFlag(true).setText("h\u00e9llo \"q\"").setRaw(new byte[] {0, 1, 2, (byte) 0xff})
                .setColor(Color.COLOR_BLUE).setPart(new Part().setName("p").setInner(new Part_Inner().setOn(true)))
                .setNums(Arrays.asList(1, -2, 300)).setSnums(Arrays.asList(-1L, 2L)).setColors(Arrays.asList(Color.COLOR_RED, Color.COLOR_BLUE))
                .setParts(Arrays.asList(new Part().setName("a"), new Part().setName("b")))
                .setDs(Arrays.asList(0.5, 1e100)).setFlags(Arrays.asList(true, false)).setBlobs(Arrays.asList(new byte[] {1}, new byte[0]))
                .setById(byId).setPartsByName(partsByName).setByFlag(byFlag).setWeights(weights)
                .setAt(java.time.Instant.parse("2026-12-05T14:00:00.123Z")).setTook(java.time.Duration.ofMillis(-1500)).setMaybe(0)
                .setWord("w").setInner(new Part_Inner().setOn(true)).setNegative(-1);
        k.validate();
        java.nio.file.Files.write(java.nio.file.Paths.get(args[0]), k.toByteArray());
        try {
            new KitchenSinkV1().setParts(Arrays.asList(new Part().setName("a"), new Part())).validate();
        } catch (ValidationException e) {
            System.out.println("invalid: " + e.getMessage());
        }
    }
}
`

// TestJavaLangpackWire: the Java langpack writes every field kind as the
// protobuf Go runtime reads it.
func TestJavaLangpackWire(t *testing.T) {
	javac := tool(t, "javac", "apt-get install default-jdk-headless")
	java := tool(t, "java", "apt-get install default-jdk-headless")
	if _, err := os.Stat(protobufJar); err != nil {
		t.Skipf("%s is not installed: apt-get install libprotobuf-java", protobufJar)
	}
	in, md := kitchenSinkInput(t)
	p, dir := generateInto(t, langpack.Java, in)
	sources := []string{"Sink.java"}
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".java") {
			sources = append(sources, f.Path)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Sink.java"), []byte(javaSink), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, javac, append([]string{"--release", "8", "-encoding", "UTF-8", "-cp", protobufJar, "-d", "classes"}, sources...)...)
	out := run(t, dir, nil, java, "-cp", "classes"+string(os.PathListSeparator)+protobufJar, "Sink", "sink.bin")
	if want := "invalid: KitchenSinkV1 (event 7001 v1): required field parts[1].name is not set"; !strings.Contains(out, want) {
		t.Errorf("java output lacks %q:\n%s", want, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "sink.bin"))
	if err != nil {
		t.Fatal(err)
	}
	got := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(data, got); err != nil {
		t.Fatal(err)
	}
	if want := kitchenSinkWant(t, md); !proto.Equal(got, want) {
		g, _ := protojson.Marshal(got)
		w, _ := protojson.Marshal(want)
		t.Errorf("the Java bytes decode as\n%s\nwant\n%s", g, w)
	}
}

const csharpSink = `using System;
using System.Collections.Generic;
using Clickstream.Events.Sink;

public static class Sink
{
    public static void Main(string[] args)
    {
        var k = new KitchenSinkV1
        {
            I32 = -5, S32 = -6, Sf32 = -7, U32 = 8, F32 = 9,
            I64 = -10, S64 = -11, Sf64 = -12, U64 = ulong.MaxValue, F64 = 14,
            Fl = 1.5f, Db = -2.25, Flag = true, Text = "h\u00e9llo \"q\"", Raw = new byte[] { 0, 1, 2, 255 },
            Color = Color.COLOR_BLUE, Part = new Part { Name = "p", Inner = new Part_Inner { On = true } },
            Nums = new List<int> { 1, -2, 300 }, Snums = new List<long> { -1, 2 }, Colors = new List<Color> { Color.COLOR_RED, Color.COLOR_BLUE },
            Parts = new List<Part> { new Part { Name = "a" }, new Part { Name = "b" } },
            Ds = new List<double> { 0.5, 1e100 }, Flags = new List<bool> { true, false }, Blobs = new List<byte[]> { new byte[] { 1 }, new byte[0] },
            ById = new Dictionary<int, string> { { 1, "one" }, { -2, "minus two" } },
            PartsByName = new Dictionary<string, Part> { { "x", new Part { Name = "x" } } },
            ByFlag = new Dictionary<bool, Color> { { true, Color.COLOR_RED } },
            Weights = new Dictionary<ulong, double> { { ulong.MaxValue, 0.25 } },
            At = DateTimeOffset.Parse("2026-12-05T14:00:00.123Z", System.Globalization.CultureInfo.InvariantCulture),
            Took = TimeSpan.FromMilliseconds(-1500), Maybe = 0,
            Word = "w", Inner = new Part_Inner { On = true }, Negative = -1,
        };
        k.Validate();
        var w = new JsonWriter();
        k.WriteJson(w);
        Console.WriteLine("json:" + w);
        try
        {
            new KitchenSinkV1 { Parts = new List<Part> { new Part { Name = "a" }, new Part() } }.Validate();
        }
        catch (ValidationException e)
        {
            Console.WriteLine("invalid: " + e.Message);
        }
    }
}
`

// TestCSharpLangpackJSON: the C# langpack writes every field kind as
// protobuf JSON that the protobuf Go runtime reads.
func TestCSharpLangpackJSON(t *testing.T) {
	mcs := tool(t, "mcs", "apt-get install mono-mcs libmono-system-net-http4.0-cil")
	mono := tool(t, "mono", "apt-get install mono-runtime")
	in, md := kitchenSinkInput(t)
	p, dir := generateInto(t, langpack.CSharp, in)
	sources := []string{"Sink.cs"}
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".cs") {
			sources = append(sources, f.Path)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Sink.cs"), []byte(csharpSink), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, mcs, append([]string{"-r:System.Net.Http.dll", "-out:Sink.exe"}, sources...)...)
	out := run(t, dir, nil, mono, "Sink.exe")
	if want := "invalid: KitchenSinkV1 (event 7001 v1): required field parts[1].name is not set"; !strings.Contains(out, want) {
		t.Errorf("mono output lacks %q:\n%s", want, out)
	}
	_, js, _ := strings.Cut(out, "json:")
	js, _, _ = strings.Cut(js, "\n")
	if !json.Valid([]byte(js)) {
		t.Fatalf("not JSON: %s", js)
	}
	got := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(js), got); err != nil {
		t.Fatalf("protojson does not read the C# JSON: %v\n%s", err, js)
	}
	if want := kitchenSinkWant(t, md); !proto.Equal(got, want) {
		g, _ := protojson.Marshal(got)
		w, _ := protojson.Marshal(want)
		t.Errorf("the C# JSON reads as\n%s\nwant\n%s\n(C# wrote %s)", g, w, js)
	}
}

// TestKitchenSinkGenerates: every language generates the event with every
// field kind (Swift has no toolchain here: this is all its check beyond the
// golden files).
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

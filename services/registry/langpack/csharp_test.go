package langpack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

func mcsTools(t *testing.T) (mcs, mono string) {
	t.Helper()
	return tool(t, "mcs", "apt-get install mono-mcs mono-runtime libmono-system-net-http4.0-cil"),
		tool(t, "mono", "apt-get install mono-runtime")
}

// TestCSharpRuntimeCompiles: the C# runtime files compile on their own, as
// they are in the source tree (namespace Clickstream.Runtime), with
// warnings as errors.
func TestCSharpRuntimeCompiles(t *testing.T) {
	mcs, _ := mcsTools(t)
	sources, err := filepath.Glob(filepath.Join("runtime", "csharp", "*.cs"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("no C# runtime files: %v", err)
	}
	out := filepath.Join(t.TempDir(), "Runtime.dll")
	run(t, ".", nil, mcs, append([]string{"-target:library", "-warnaserror", "-r:System.Net.Http.dll", "-out:" + out}, sources...)...)
	t.Logf("mcs compiled %d runtime files", len(sources))
}

// csharpCheck uses the C# langpack as an app would; args: the ingest URL.
const csharpCheck = `using System;
using System.Collections.Generic;
using Clickstream.Events.Web;

public static class Check
{
    public static void Main(string[] args)
    {
        try
        {
            new ItemViewV1 { Context = new Context { UserId = "u-1" } }.Validate();
            Console.WriteLine("no error for a missing item_id");
        }
        catch (ValidationException e)
        {
            Console.WriteLine("invalid: " + e.Message);
        }
        try
        {
            new PhotoStatusChangedV2 { Context = new Context(), PhotoId = "p" }.Validate();
        }
        catch (ValidationException e)
        {
            Console.WriteLine("invalid nested: " + e.Message);
        }
        Console.WriteLine("deprecated: " + Attribute.IsDefined(typeof(PhotoStatusChangedV1), typeof(ObsoleteAttribute)) + " " + PhotoStatusChangedV1.DEPRECATED);
        Console.WriteLine(ItemViewV1.EVENT_ID + " " + ItemViewV1.EVENT_VERSION + " " + ItemViewV1.MESSAGE_NAME);

        var sender = new Sender(args[0], "ck_test") { InitialBackoff = TimeSpan.FromMilliseconds(1), MaxBackoff = TimeSpan.FromMilliseconds(10) };
        try
        {
            sender.Send(new ItemViewV1 { Context = new Context() });
        }
        catch (ValidationException)
        {
            Console.WriteLine("nothing sent for an invalid event");
        }
        var events = new List<IClickstreamEvent>
        {
            new ItemViewV1
            {
                Context = new Context { UserId = "u-1" }, ItemId = 42,
                Tags = new List<string> { "a", "b" }, Attributes = new Dictionary<string, string> { { "k", "v" } },
            },
            new PhotoStatusChangedV2
            {
                Context = new Context { UserId = "u-2" }, PhotoId = "p-9", Status = ContentStatus.CONTENT_STATUS_BLOCKED, Reason = "spam",
            },
        };
        var keys = new List<string> { "key-1", "key-2" };
        Console.WriteLine("body:" + Sender.Body(events, keys));
        foreach (var r in sender.Send(events, keys))
        {
            Console.WriteLine("result " + r.Key + " " + r.Status + " " + r.Stored);
        }
        string key = sender.Add(events[0]);
        foreach (var r in sender.Flush())
        {
            Console.WriteLine("queued " + (r.Key == key) + " " + r.Status);
        }
    }
}
`

// TestCSharpLangpack compiles the fixture pack with mcs and uses it with
// mono as an app would: validation, constants, and a Sender against a
// Connect ingest that fails the first call.
func TestCSharpLangpack(t *testing.T) {
	mcs, mono := mcsTools(t)
	p, dir := generate(t, langpack.CSharp)
	var sources []string
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".cs") {
			sources = append(sources, f.Path)
		}
	}
	run(t, dir, nil, mcs, append([]string{"-target:library", "-warnaserror", "-r:System.Net.Http.dll", "-out:Langpack.dll"}, sources...)...)
	if err := os.WriteFile(filepath.Join(dir, "Check.cs"), []byte(csharpCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, mcs, "-r:Langpack.dll", "-r:System.Net.Http.dll", "-out:Check.exe", "Check.cs")

	stub := &ingestStub{}
	srv := connectStub(t, stub)
	out := run(t, dir, nil, mono, "Check.exe", srv.URL)
	for _, want := range []string{
		"invalid: ItemViewV1 (event 1001 v1): required field item_id is not set",
		"invalid nested: PhotoStatusChangedV2 (event 2001 v2): required field status is not set",
		"deprecated: True True",
		"1001 1 fixture.events.v1.ItemViewV1",
		"nothing sent for an invalid event",
		"result key-1 EVENT_STATUS_ACCEPTED True",
		"result key-2 EVENT_STATUS_ACCEPTED True",
		"queued True EVENT_STATUS_ACCEPTED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mono output lacks %q:\n%s", want, out)
		}
	}
	_, body, _ := strings.Cut(out, "body:")
	body, _, _ = strings.Cut(body, "\n")
	var got, want any
	if json.Unmarshal([]byte(body), &got) != nil || json.Unmarshal([]byte(wantREST), &want) != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("C# request body:\n got %s\nwant %s", body, wantREST)
	}

	stub.mu.Lock()
	defer stub.mu.Unlock()
	if len(stub.requests) != 3 {
		t.Fatalf("ingest saw %d requests, want 3 (Unavailable, its retry, the queued batch)", len(stub.requests))
	}
	if !bytes.Equal(stub.requests[0], stub.requests[1]) {
		t.Error("the retry differs from the first attempt: idempotency keys must be kept")
	}
	for _, a := range stub.auth {
		if a != "Bearer ck_test" {
			t.Errorf("Authorization = %q, want Bearer ck_test", a)
		}
	}
	// What ingest decoded from the JSON is the same batch.
	var req ingestv1.SendBatchRequest
	if err := proto.Unmarshal(stub.requests[0], &req); err != nil {
		t.Fatal(err)
	}
	decoded, _ := protojson.Marshal(&req)
	var dec any
	if err := json.Unmarshal(decoded, &dec); err != nil || !reflect.DeepEqual(dec, want) {
		t.Errorf("ingest decoded the C# request as\n%s\nwant %s", decoded, wantREST)
	}
	t.Logf("ingest saw %d requests from the C# sender", len(stub.requests))
}

// presenceProto is an event whose required fields have explicit presence
// (proto3 optional): set to the zero value they count as set, unset they
// fail Validate(), as ingest reads "required".
const presenceProto = `syntax = "proto3";

package sink.v1;

import "clickstream/options/v1/options.proto";
import "sink/v1/sink.proto";

message PresenceV1 {
  option (clickstream.options.v1.event) = {
    id: 7003
    version: 1
    description: "Required fields with explicit presence."
  };

  optional string label = 1 [(clickstream.options.v1.field) = {required: true}];
  optional int64 count = 2 [(clickstream.options.v1.field) = {required: true}];
  optional bytes blob = 3 [(clickstream.options.v1.field) = {required: true}];
  optional bool on = 4;
  optional Color color = 5;
  optional double ratio = 6;
}
`

// csharpSink builds the kitchen sink twice (the fixture's values; the
// extremes of every kind) and the presence event (unset, set to zero) and
// writes each as protobuf JSON to a file in args[0], in UTF-8.
const csharpSink = `using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Clickstream.Events.Sink;

public static class Sink
{
    static void Write(string dir, string name, IClickstreamEvent e)
    {
        e.Validate();
        var w = new JsonWriter();
        e.WriteJson(w);
        File.WriteAllText(Path.Combine(dir, name + ".json"), w.ToString(), new UTF8Encoding(false));
    }

    public static void Main(string[] args)
    {
        Write(args[0], "sink", new KitchenSinkV1
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
        });
        Write(args[0], "extremes", new KitchenSinkV1
        {
            I32 = int.MinValue, S32 = int.MaxValue, Sf32 = int.MinValue, U32 = uint.MaxValue, F32 = uint.MaxValue,
            I64 = long.MinValue, S64 = long.MaxValue, Sf64 = long.MinValue, U64 = ulong.MaxValue, F64 = ulong.MaxValue,
            Fl = float.MaxValue, Db = -0.0, Flag = false, Text = "\u0001 tab\t \ud834\udd1e \u2028", Raw = new byte[] { 0xfb, 0xff },
            Color = (Color)7, Part = new Part { Name = "p", Inner = new Part_Inner() },
            Nums = new List<int> { int.MinValue, 0, int.MaxValue }, Snums = new List<long> { long.MinValue, long.MaxValue },
            Colors = new List<Color> { Color.COLOR_UNSPECIFIED, (Color)99 },
            Parts = new List<Part> { new Part { Name = "a" } },
            Ds = new List<double> { double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.1, double.MaxValue, -double.Epsilon, double.Epsilon, -0.0 },
            Flags = new List<bool> { false }, Blobs = new List<byte[]> { new byte[0] },
            ById = new Dictionary<int, string> { { int.MinValue, "" }, { int.MaxValue, "max" }, { 0, "zero" } },
            PartsByName = new Dictionary<string, Part> { { "", new Part { Name = "empty key" } }, { "\u043a\u043b\u044e\u0447", new Part { Name = "k" } } },
            ByFlag = new Dictionary<bool, Color> { { false, Color.COLOR_UNSPECIFIED }, { true, Color.COLOR_BLUE } },
            Weights = new Dictionary<ulong, double> { { 0, 0 }, { ulong.MaxValue, double.MaxValue } },
            At = DateTimeOffset.MaxValue, Took = TimeSpan.FromTicks(-1),
            Note = "", Number = long.MinValue, Negative = int.MinValue,
        });
        Write(args[0], "epoch", new KitchenSinkV1
        {
            Parts = new List<Part> { new Part { Name = "a" } },
            At = DateTimeOffset.MinValue, Took = TimeSpan.FromSeconds(JsonWriter.MaxDurationSeconds) + TimeSpan.FromTicks(9999999),
            Maybe = int.MinValue, Inner = new Part_Inner(),
        });
        try
        {
            new PresenceV1().Validate();
        }
        catch (ValidationException e)
        {
            Console.WriteLine("invalid: " + e.Message);
        }
        try
        {
            new PresenceV1 { Label = "", Count = 0 }.Validate();
        }
        catch (ValidationException e)
        {
            Console.WriteLine("invalid: " + e.Message);
        }
        Write(args[0], "zeros", new PresenceV1 { Label = "", Count = 0, Blob = new byte[0], On = false, Color = Color.COLOR_UNSPECIFIED, Ratio = 0 });
        try
        {
            new KitchenSinkV1 { Parts = new List<Part> { new Part { Name = "a" }, new Part() } }.Validate();
        }
        catch (ValidationException e)
        {
            Console.WriteLine("invalid: " + e.Message);
        }
        var tooLong = new KitchenSinkV1 { Parts = new List<Part> { new Part { Name = "a" } }, Took = TimeSpan.FromSeconds(JsonWriter.MaxDurationSeconds + 1) };
        try
        {
            tooLong.Validate();
        }
        catch (ValidationException e)
        {
            Console.WriteLine("invalid: " + e.Message);
        }
        try
        {
            tooLong.WriteJson(new JsonWriter());
        }
        catch (ArgumentOutOfRangeException e)
        {
            Console.WriteLine("range: " + e.Message.Split('\n')[0]);
        }
        try
        {
            new KitchenSinkV1 { Parts = new List<Part> { new Part { Name = "a" } }, Text = "lone \ud834" }.WriteJson(new JsonWriter());
        }
        catch (ArgumentException e)
        {
            Console.WriteLine("surrogate: " + e.Message);
        }
    }
}
`

// csharpSinkInput is the kitchen sink and the presence event in one
// catalogue.
func csharpSinkInput(t *testing.T) (langpack.Input, map[string]protoreflect.MessageDescriptor) {
	t.Helper()
	set, err := schema.Compile(context.Background(), fstest.MapFS{
		"sink/v1/sink.proto":     {Data: []byte(kitchenSink)},
		"sink/v1/presence.proto": {Data: []byte(presenceProto)},
	}, protosrc.FS)
	if err != nil {
		t.Fatal(err)
	}
	events, vs := set.Events()
	if len(vs) > 0 || len(events) != 2 {
		t.Fatalf("sink: %d events, violations %v", len(events), vs)
	}
	in := langpack.Input{Environment: "sink", Revision: 1, Version: langpack.Version{Major: 1}, Files: fileSet(set.Files)}
	files, err := protodesc.NewFiles(in.Files)
	if err != nil {
		t.Fatal(err)
	}
	mds := map[string]protoreflect.MessageDescriptor{}
	for _, ev := range events {
		in.Events = append(in.Events, langpack.Event{ID: ev.ID, Version: ev.Version, MessageName: ev.MessageName, Description: ev.Description})
		d, err := files.FindDescriptorByName(protoreflect.FullName(ev.MessageName))
		if err != nil {
			t.Fatal(err)
		}
		mds[ev.MessageName] = d.(protoreflect.MessageDescriptor)
	}
	return in, mds
}

// TestCSharpLangpackJSON: every field kind the C# langpack writes reaches
// Go's protobuf unchanged. A C# program builds the kitchen sink with the
// fixture's values, once more with the extremes of every kind (64-bit
// limits, unknown enum numbers, NaN and infinities, every kind of map key,
// the Timestamp range, a Duration below a second, proto3 optional set to
// empty where the first leaves it unset) and an event of required
// optional fields set to zero; Go decodes each JSON with protojson, as
// ingest does, and compares it field by field with the message built in Go.
func TestCSharpLangpackJSON(t *testing.T) {
	mcs, mono := mcsTools(t)
	in, mds := csharpSinkInput(t)
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
	run(t, dir, nil, mcs, append([]string{"-warnaserror", "-r:System.Net.Http.dll", "-out:Sink.exe"}, sources...)...)
	out := run(t, dir, nil, mono, "Sink.exe", dir)
	for _, want := range []string{
		"invalid: PresenceV1 (event 7003 v1): required field label is not set",
		"invalid: PresenceV1 (event 7003 v1): required field blob is not set",
		"invalid: KitchenSinkV1 (event 7001 v1): required field parts[1].name is not set",
		"invalid: KitchenSinkV1 (event 7001 v1): field took: google.protobuf.Duration is limited to 315576000000 seconds either way",
		`range: JSON member "took": google.protobuf.Duration is limited to 315576000000 seconds either way`,
		`surrogate: JSON member "text": the string holds a lone UTF-16 surrogate at index 5`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mono output lacks %q:\n%s", want, out)
		}
	}

	sink := mds["sink.v1.KitchenSinkV1"]
	presence := mds["sink.v1.PresenceV1"]
	cases := []struct {
		file string
		want *dynamicpb.Message
	}{
		{"sink", kitchenSinkWant(t, sink)},
		{"extremes", sinkExtremes(t, sink)},
		{"epoch", sinkEpoch(t, sink)},
		{"zeros", presenceZeros(t, presence)},
	}
	for _, c := range cases {
		js, err := os.ReadFile(filepath.Join(dir, c.file+".json"))
		if err != nil {
			t.Fatal(err)
		}
		got := dynamicpb.NewMessage(c.want.Descriptor())
		if err := protojson.Unmarshal(js, got); err != nil {
			t.Errorf("%s: protojson does not read the C# JSON: %v\n%s", c.file, err, js)
			continue
		}
		diffs := diffFields(got, c.want)
		for _, d := range diffs {
			t.Errorf("%s: %s", c.file, d)
		}
		if !proto.Equal(got, c.want) && len(diffs) == 0 {
			t.Errorf("%s: the messages differ outside their fields (unknown fields?)", c.file)
		}
		if len(diffs) > 0 {
			t.Logf("%s: C# wrote %s", c.file, js)
		}
		t.Logf("%s: %d of %d fields set, equal field by field: %t", c.file, setFields(got), c.want.Descriptor().Fields().Len(), len(diffs) == 0)
	}
	// proto.Equal reads -0 as 0 in a list: the sign of the last ds of the
	// extremes is checked on its own.
	if js, err := os.ReadFile(filepath.Join(dir, "extremes.json")); err == nil {
		got := dynamicpb.NewMessage(sink)
		if err := protojson.Unmarshal(js, got); err == nil {
			ds := got.Get(sink.Fields().ByName("ds")).List()
			if last := ds.Get(ds.Len() - 1).Float(); last != 0 || !math.Signbit(last) {
				t.Errorf("extremes: the last ds reads as %v, want -0", last)
			}
		}
	}
	// An unset optional is absent: the fixture's note, and nothing of the
	// presence event but what was set.
	if sinkJSON, _ := os.ReadFile(filepath.Join(dir, "sink.json")); bytes.Contains(sinkJSON, []byte(`"note"`)) {
		t.Errorf("the unset optional note is in the JSON: %s", sinkJSON)
	}
}

// diffFields lists the fields whose values differ between got and want
// (messages of one type), one line each with both values as protobuf text.
func diffFields(got, want protoreflect.ProtoMessage) []string {
	g, w := got.ProtoReflect(), want.ProtoReflect()
	only := func(m protoreflect.Message, fd protoreflect.FieldDescriptor) proto.Message {
		c := m.Type().New()
		if m.Has(fd) {
			c.Set(fd, m.Get(fd))
		}
		return c.Interface()
	}
	text := func(m proto.Message, fd protoreflect.FieldDescriptor) string {
		if !m.ProtoReflect().Has(fd) {
			return "(unset)"
		}
		return strings.TrimSpace(prototext.MarshalOptions{}.Format(m))
	}
	var out []string
	fds := g.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		gm, wm := only(g, fd), only(w, fd)
		if !proto.Equal(gm, wm) {
			out = append(out, fmt.Sprintf("field %s: got %s\n\twant %s", fd.Name(), text(gm, fd), text(wm, fd)))
		}
	}
	return out
}

func setFields(m protoreflect.Message) int {
	n := 0
	m.Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool { n++; return true })
	return n
}

// sinkBuilder sets fields of a dynamic message by name.
type sinkBuilder struct {
	t *testing.T
	m *dynamicpb.Message
}

func (b sinkBuilder) fd(name string) protoreflect.FieldDescriptor {
	fd := b.m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		b.t.Fatalf("%s has no field %s", b.m.Descriptor().FullName(), name)
	}
	return fd
}

func (b sinkBuilder) set(name string, v any) sinkBuilder {
	b.m.Set(b.fd(name), protoreflect.ValueOf(v))
	return b
}

func (b sinkBuilder) list(name string, vs ...any) sinkBuilder {
	l := b.m.Mutable(b.fd(name)).List()
	for _, v := range vs {
		l.Append(protoreflect.ValueOf(v))
	}
	return b
}

func (b sinkBuilder) entry(name string, k, v any) sinkBuilder {
	b.m.Mutable(b.fd(name)).Map().Set(protoreflect.ValueOf(k).MapKey(), protoreflect.ValueOf(v))
	return b
}

// message is a new message of the field's type (its map value's for a
// map, its element's for a list) built by fill.
func (b sinkBuilder) message(name string, fill func(sinkBuilder)) protoreflect.Message {
	fd := b.fd(name)
	if fd.IsMap() {
		fd = fd.MapValue()
	}
	m := dynamicpb.NewMessage(fd.Message())
	fill(sinkBuilder{b.t, m})
	return m
}

func sinkTime(b sinkBuilder, name string, seconds int64, nanos int32) sinkBuilder {
	return b.set(name, b.message(name, func(x sinkBuilder) {
		if seconds != 0 {
			x.set("seconds", seconds)
		}
		if nanos != 0 {
			x.set("nanos", nanos)
		}
	}))
}

func sinkExtremes(t *testing.T, md protoreflect.MessageDescriptor) *dynamicpb.Message {
	b := sinkBuilder{t, dynamicpb.NewMessage(md)}
	named := func(name string) func(sinkBuilder) {
		return func(x sinkBuilder) { x.set("name", name) }
	}
	b.set("i32", int32(math.MinInt32)).set("s32", int32(math.MaxInt32)).set("sf32", int32(math.MinInt32)).
		set("u32", uint32(math.MaxUint32)).set("f32", uint32(math.MaxUint32)).
		set("i64", int64(math.MinInt64)).set("s64", int64(math.MaxInt64)).set("sf64", int64(math.MinInt64)).
		set("u64", uint64(math.MaxUint64)).set("f64", uint64(math.MaxUint64)).
		set("fl", float32(math.MaxFloat32)).set("db", math.Copysign(0, -1)).
		set("text", "\x01 tab\t \U0001d11e \u2028").set("raw", []byte{0xfb, 0xff}).
		set("color", protoreflect.EnumNumber(7))
	b.set("part", b.message("part", func(x sinkBuilder) {
		x.set("name", "p").set("inner", x.message("inner", func(sinkBuilder) {}))
	}))
	b.list("nums", int32(math.MinInt32), int32(0), int32(math.MaxInt32)).
		list("snums", int64(math.MinInt64), int64(math.MaxInt64)).
		list("colors", protoreflect.EnumNumber(0), protoreflect.EnumNumber(99)).
		list("parts", b.message("parts", named("a"))).
		list("ds", math.NaN(), math.Inf(1), math.Inf(-1), 0.1, math.MaxFloat64, -math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64, math.Copysign(0, -1)).
		list("flags", false).list("blobs", []byte{})
	b.entry("by_id", int32(math.MinInt32), "").entry("by_id", int32(math.MaxInt32), "max").entry("by_id", int32(0), "zero").
		entry("parts_by_name", "", b.message("parts_by_name", named("empty key"))).
		entry("parts_by_name", "ключ", b.message("parts_by_name", named("k"))).
		entry("by_flag", false, protoreflect.EnumNumber(0)).entry("by_flag", true, protoreflect.EnumNumber(2)).
		entry("weights", uint64(0), 0.0).entry("weights", uint64(math.MaxUint64), math.MaxFloat64)
	// DateTimeOffset.MaxValue: 9999-12-31T23:59:59.9999999Z.
	max := time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC)
	sinkTime(b, "at", max.Unix(), int32(max.Nanosecond()))
	sinkTime(b, "took", 0, -100) // one tick below zero: nanos carry the sign
	b.set("note", "").set("number", int64(math.MinInt64)).set("negative", int32(math.MinInt32))
	return b.m
}

func sinkEpoch(t *testing.T, md protoreflect.MessageDescriptor) *dynamicpb.Message {
	b := sinkBuilder{t, dynamicpb.NewMessage(md)}
	b.list("parts", b.message("parts", func(x sinkBuilder) { x.set("name", "a") }))
	// DateTimeOffset.MinValue: 0001-01-01T00:00:00Z, the first Timestamp.
	sinkTime(b, "at", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), 0)
	sinkTime(b, "took", 315576000000, 999999900)
	b.set("maybe", int32(math.MinInt32))
	b.set("inner", b.message("inner", func(sinkBuilder) {}))
	return b.m
}

func presenceZeros(t *testing.T, md protoreflect.MessageDescriptor) *dynamicpb.Message {
	b := sinkBuilder{t, dynamicpb.NewMessage(md)}
	b.set("label", "").set("count", int64(0)).set("blob", []byte{}).set("on", false).
		set("color", protoreflect.EnumNumber(0)).set("ratio", 0.0)
	return b.m
}

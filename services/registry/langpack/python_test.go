package langpack_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// kitchenSinkExtremesJSON is the second kitchen sink the Python and PHP
// programs send: the limits of every integer kind, NaN and infinities,
// map<bool, …> with both keys, an empty map key, the last microsecond a
// Timestamp holds, a negative Duration under one second, the proto3
// optional maybe unset and note set to "" (present, not absent).
const kitchenSinkExtremesJSON = `{
  "i32": -2147483648, "s32": 2147483647, "sf32": -2147483648, "u32": 4294967295, "f32": 4294967295,
  "i64": "-9223372036854775808", "s64": "9223372036854775807", "sf64": "-9223372036854775808",
  "u64": "18446744073709551615", "f64": "9223372036854775808",
  "fl": 3.4028234663852886e38, "db": "-Infinity", "flag": false, "text": "", "raw": "",
  "color": "COLOR_UNSPECIFIED",
  "nums": [-2147483648, 2147483647], "snums": ["-9223372036854775808", "9223372036854775807"],
  "parts": [{"name": "only"}], "ds": ["NaN", "Infinity", 5e-324], "flags": [false], "blobs": ["/w=="],
  "byId": {"-2147483648": "min", "0": "zero", "2147483647": "max"},
  "partsByName": {"": {"name": "empty key"}},
  "byFlag": {"true": "COLOR_RED", "false": "COLOR_BLUE"},
  "weights": {"0": -0.5, "9223372036854775808": 1, "18446744073709551615": 2},
  "at": "9999-12-31T23:59:59.999999Z", "took": "-0.000001s",
  "note": "", "number": "-9223372036854775808"
}`

// assertSinkRoundTrip decodes, with Go's protojson, the events "common"
// and "extremes" of the last batch the stub saw and compares them with
// kitchenSinkJSON and kitchenSinkExtremesJSON (proto.Equal, so presence
// counts), then checks the optional fields' presence by name.
func assertSinkRoundTrip(t *testing.T, lang string, stub *ingestStub, md protoreflect.MessageDescriptor) {
	t.Helper()
	stub.mu.Lock()
	if len(stub.requests) == 0 {
		stub.mu.Unlock()
		t.Fatalf("%s sent nothing", lang)
	}
	body := stub.requests[len(stub.requests)-1]
	stub.mu.Unlock()
	var req struct {
		Events []struct {
			IdempotencyKey string
			JSON           struct {
				Name string
				Data json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("%s request is not JSON: %v\n%s", lang, err, body)
	}
	wants := map[string]string{"common": kitchenSinkJSON, "extremes": kitchenSinkExtremesJSON}
	seen := 0
	for _, ev := range req.Events {
		wantJSON, ok := wants[ev.IdempotencyKey]
		if !ok {
			t.Errorf("%s sent an event under key %q", lang, ev.IdempotencyKey)
			continue
		}
		seen++
		if ev.JSON.Name != "sink.v1.KitchenSinkV1" {
			t.Errorf("%s %s: name %q", lang, ev.IdempotencyKey, ev.JSON.Name)
		}
		got := dynamicpb.NewMessage(md)
		if err := protojson.Unmarshal(ev.JSON.Data, got); err != nil {
			t.Errorf("protojson does not read the %s JSON of %s: %v\n%s", lang, ev.IdempotencyKey, err, ev.JSON.Data)
			continue
		}
		want := dynamicpb.NewMessage(md)
		if err := protojson.Unmarshal([]byte(wantJSON), want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			g, _ := protojson.Marshal(got)
			w, _ := protojson.Marshal(want)
			t.Errorf("the %s JSON of %s reads as\n%s\nwant\n%s\n(%s sent %s)", lang, ev.IdempotencyKey, g, w, lang, ev.JSON.Data)
		}
		fields := 0
		got.Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool { fields++; return true })
		has := func(name string) bool { return got.Has(md.Fields().ByName(protoreflect.Name(name))) }
		t.Logf("%s %s: %d bytes of JSON, %d fields set, maybe present=%t, note present=%t", lang, ev.IdempotencyKey, len(ev.JSON.Data), fields, has("maybe"), has("note"))
		switch ev.IdempotencyKey {
		case "common":
			if has("note") || !has("maybe") {
				t.Errorf("%s common: note present=%t maybe present=%t, want an unset note absent and maybe=0 present", lang, has("note"), has("maybe"))
			}
		case "extremes":
			if !has("note") || has("maybe") {
				t.Errorf("%s extremes: note present=%t maybe present=%t, want note=\"\" present and an unset maybe absent", lang, has("note"), has("maybe"))
			}
		}
	}
	if seen != 2 {
		t.Errorf("%s sent %d of the 2 kitchen sinks", lang, seen)
	}
}

func TestPythonLangpack(t *testing.T) {
	python := tool(t, "python3", "apt-get install python3")
	p, dir := generate(t, langpack.Python)
	var files []string
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".py") {
			files = append(files, f.Path)
		}
	}
	run(t, dir, nil, python, append([]string{"-m", "py_compile"}, files...)...)
	t.Logf("%d generated Python files compile", len(files))

	stub := &ingestStub{}
	srv := restServer(t, stub)
	script := `
import sys, warnings
import clickstream_events_web as web

try:
    web.ItemViewV1(context=web.Context(user_id="u-1")).validate()
    print("no error for a missing item_id")
except web.ValidationError as e:
    print("invalid:", e)
try:
    web.PhotoStatusChangedV2(context=web.Context(), photo_id="p").validate()
    print("no error for a missing status")
except web.ValidationError as e:
    print("invalid nested:", e)
try:
    web.ItemViewV1(item_id="42")
except TypeError as e:
    print("type:", e)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    web.PhotoStatusChangedV1()
    print("deprecated:", web.PhotoStatusChangedV1.DEPRECATED, [str(w.category.__name__) for w in caught])

sender = web.Sender(sys.argv[1], "ck_test", initial_backoff=0.001, max_backoff=0.01)
try:
    sender.send(web.ItemViewV1(context=web.Context(user_id="u-1")))
except web.ValidationError:
    print("nothing sent for an invalid event")
results = sender.send(
    web.ItemViewV1(context=web.Context(user_id="u-1"), item_id=42, tags=["a", "b"], attributes={"k": "v"}),
    web.PhotoStatusChangedV2(context=web.Context(user_id="u-2"), photo_id="p-9", status=web.ContentStatus.CONTENT_STATUS_BLOCKED, reason="spam"),
    keys=["key-1", "key-2"],
)
for r in results:
    print("result", r.key, r.status, r.stored)
print(web.ItemViewV1.EVENT_ID, web.ItemViewV1.EVENT_VERSION)
`
	out := run(t, dir, []string{"PYTHONPATH=" + dir}, python, "-c", script, srv.URL)
	for _, want := range []string{
		"invalid: ItemViewV1 (event 1001 v1): required field item_id is not set",
		"invalid nested: PhotoStatusChangedV2 (event 2001 v2): required field status is not set",
		"type: ItemViewV1.item_id: expected int, got str",
		"deprecated: True ['DeprecationWarning']",
		"nothing sent for an invalid event",
		"result key-1 EVENT_STATUS_ACCEPTED True",
		"result key-2 EVENT_STATUS_ACCEPTED True",
		"1001 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("python output lacks %q:\n%s", want, out)
		}
	}
	assertREST(t, stub, wantREST)
}

// pythonSink builds the kitchen sink twice, as kitchenSinkJSON and as
// kitchenSinkExtremesJSON, sends both, and prints the errors of values a
// field cannot hold.
const pythonSink = `
import sys
from datetime import datetime, timedelta, timezone
import clickstream_events_sink as s

common = s.KitchenSinkV1(
    i32=-5, s32=-6, sf32=-7, u32=8, f32=9,
    i64=-10, s64=-11, sf64=-12, u64=2**64 - 1, f64=14,
    fl=1.5, db=-2.25, flag=True, text="h\u00e9llo \"q\"", raw=bytes([0, 1, 2, 255]),
    color=s.Color.COLOR_BLUE, part=s.Part(name="p", inner=s.Part_Inner(on=True)),
    nums=[1, -2, 300], snums=[-1, 2], colors=[s.Color.COLOR_RED, s.Color.COLOR_BLUE],
    parts=[s.Part(name="a"), s.Part(name="b")],
    ds=[0.5, 1e100], flags=[True, False], blobs=[b"\x01", b""],
    by_id={1: "one", -2: "minus two"}, parts_by_name={"x": s.Part(name="x")},
    by_flag={True: s.Color.COLOR_RED}, weights={2**64 - 1: 0.25},
    at=datetime(2026, 12, 5, 15, 0, 0, 123000, tzinfo=timezone(timedelta(hours=1))), took=timedelta(milliseconds=-1500), maybe=0,
    word="w", negative=-1,
)
common.inner = s.Part_Inner(on=True)

extremes = s.KitchenSinkV1(
    i32=-2**31, s32=2**31 - 1, sf32=-2**31, u32=2**32 - 1, f32=2**32 - 1,
    i64=-2**63, s64=2**63 - 1, sf64=-2**63, u64=2**64 - 1, f64=2**63,
    fl=3.4028234663852886e38, db=float("-inf"), flag=False, text="", raw=b"",
    color=s.Color.COLOR_UNSPECIFIED,
    nums=[-2**31, 2**31 - 1], snums=[-2**63, 2**63 - 1],
    parts=[s.Part(name="only")],
    ds=[float("nan"), float("inf"), 5e-324], flags=[False], blobs=[b"\xff"],
    by_id={-2**31: "min", 0: "zero", 2**31 - 1: "max"}, parts_by_name={"": s.Part(name="empty key")},
    by_flag={True: s.Color.COLOR_RED, False: s.Color.COLOR_BLUE},
    weights={0: -0.5, 2**63: 1, 2**64 - 1: 2.0},
    at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc), took=timedelta(microseconds=-1),
    note="", number=-2**63,
)

common.validate()
extremes.validate()
sender = s.Sender(sys.argv[1], "ck_test", initial_backoff=0.001, max_backoff=0.01)
for r in sender.send(common, extremes, keys=["common", "extremes"]):
    print("result", r.key, r.status)
print("read back:", extremes.at, extremes.took, extremes.u64)

refused = [
    lambda: s.KitchenSinkV1(u64=-1),
    lambda: s.KitchenSinkV1(u64=2**64),
    lambda: s.KitchenSinkV1(i64=-2**63 - 1),
    lambda: s.KitchenSinkV1(i32=2**31),
    lambda: s.KitchenSinkV1(u32=-1),
    lambda: s.KitchenSinkV1(weights={-1: 1.0}),
    lambda: s.KitchenSinkV1(by_flag={1: s.Color.COLOR_RED}),
    lambda: s.KitchenSinkV1(text="\ud800"),
    lambda: s.KitchenSinkV1(fl=1e39),
    lambda: s.KitchenSinkV1(at=datetime(2026, 1, 1)),
    lambda: s.KitchenSinkV1(took=timedelta(days=4000000)),
    lambda: s.KitchenSinkV1(took="1.5"),
    lambda: s.KitchenSinkV1(nums=[True]),
    lambda: s.KitchenSinkV1(db="1"),
]
for set_value in refused:
    try:
        set_value()
        print("accepted")
    except (TypeError, ValueError) as e:
        print("refused:", e)
`

// TestPythonLangpackWire: the Python langpack sends every field kind as
// protobuf JSON that Go's protojson reads back equal to the expected
// message — the common values and the extremes (64-bit limits, map<bool,
// …> keys, NaN and infinities, datetime and timedelta to the microsecond,
// unset optional) — and refuses, with a message naming the field, the
// values a field cannot hold.
func TestPythonLangpackWire(t *testing.T) {
	python := tool(t, "python3", "apt-get install python3")
	in, md := kitchenSinkInput(t)
	_, dir := generateInto(t, langpack.Python, in)
	if err := os.WriteFile(filepath.Join(dir, "sink.py"), []byte(pythonSink), 0o644); err != nil {
		t.Fatal(err)
	}
	stub := &ingestStub{}
	srv := restServer(t, stub)
	out := run(t, dir, []string{"PYTHONPATH=" + dir}, python, "sink.py", srv.URL)
	for _, want := range []string{
		"result common EVENT_STATUS_ACCEPTED",
		"result extremes EVENT_STATUS_ACCEPTED",
		"read back: 9999-12-31T23:59:59.999999Z -0.000001s 18446744073709551615",
		"refused: KitchenSinkV1.u64: -1 is outside the uint64 range [0, 18446744073709551615]",
		"refused: KitchenSinkV1.u64: 18446744073709551616 is outside the uint64 range",
		"refused: KitchenSinkV1.i64: -9223372036854775809 is outside the int64 range",
		"refused: KitchenSinkV1.i32: 2147483648 is outside the int32 range [-2147483648, 2147483647]",
		"refused: KitchenSinkV1.u32: -1 is outside the uint32 range [0, 4294967295]",
		"refused: KitchenSinkV1.weights key: -1 is outside the uint64 range",
		"refused: KitchenSinkV1.by_flag key: expected bool, got int",
		"refused: KitchenSinkV1.text: the string is not valid UTF-8",
		"refused: KitchenSinkV1.fl: 1e+39 is outside the range of a float field",
		"refused: KitchenSinkV1.at: a datetime without tzinfo is ambiguous",
		"refused: KitchenSinkV1.took: 4000000 days, 0:00:00 is outside the Duration range",
		"refused: KitchenSinkV1.took: '1.5' is not a duration",
		"refused: KitchenSinkV1.nums: expected int, got bool",
		"refused: KitchenSinkV1.db: expected float, got str",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("python output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "accepted\n"); n > 0 {
		t.Errorf("%d values a field cannot hold were accepted:\n%s", n, out)
	}
	assertSinkRoundTrip(t, "Python", stub, md)
}

// pythonRuntimeCheck imports the runtime on its own (no generated code)
// and prints what its value kinds make of a few values.
const pythonRuntimeCheck = `
import datetime as dt
import _runtime as rt

print("duration", rt.DURATION.check("d", dt.timedelta(milliseconds=-1500)), rt.DURATION.check("d", dt.timedelta(microseconds=-1)),
      rt.DURATION.check("d", dt.timedelta(seconds=1, microseconds=999999)))
print("timestamp", rt.TIMESTAMP.check("t", dt.datetime(2026, 12, 5, 15, 0, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=1)))))
print("map", rt.encode_map(rt.check_map("m", {True: 1, False: -1}, rt.BOOL, rt.INT32), rt.BOOL, rt.INT32))
print("double", rt.DOUBLE.encode(float("nan")), rt.DOUBLE.encode(float("-inf")), rt.UINT64.encode(2**64 - 1))
try:
    rt.INT64.check("x.i64", 2**63)
except ValueError as e:
    print("refused:", e)
`

// TestPythonRuntime: the fixed Python runtime (runtime/python) compiles
// as it stands in the repository, _runtime.py imports on its own and
// sender.py inside a package with it, and every pack carries both
// byte for byte.
func TestPythonRuntime(t *testing.T) {
	python := tool(t, "python3", "apt-get install python3")
	dir := filepath.Join("runtime", "python")
	files, err := filepath.Glob(filepath.Join(dir, "*.py"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no runtime/python files (%v)", err)
	}
	tmp := t.TempDir()
	run(t, ".", []string{"PYTHONPYCACHEPREFIX=" + tmp}, python, append([]string{"-W", "error", "-m", "py_compile"}, files...)...)

	out := run(t, dir, []string{"PYTHONDONTWRITEBYTECODE=1"}, python, "-W", "error", "-c", pythonRuntimeCheck)
	for _, want := range []string{
		"duration -1.500s -0.000001s 1.999999s",
		"timestamp 2026-12-05T14:00:00.999999Z",
		"map {'true': 1, 'false': -1}",
		"double NaN -Infinity 18446744073709551615",
		"refused: x.i64: 9223372036854775808 is outside the int64 range [-9223372036854775808, 9223372036854775807]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("runtime output lacks %q:\n%s", want, out)
		}
	}

	pkg := filepath.Join(tmp, "rtpkg")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := langpack.Generate(langpack.Python, fixtureInput(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, filepath.Base(f)), src, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, ok := p.File("clickstream_events_web/" + filepath.Base(f)); !ok || string(got) != string(src) {
			t.Errorf("the pack's %s differs from runtime/python/%s", filepath.Base(f), filepath.Base(f))
		}
	}
	if err := os.WriteFile(filepath.Join(pkg, "__init__.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out = run(t, tmp, []string{"PYTHONDONTWRITEBYTECODE=1"}, python, "-W", "error", "-c",
		"import rtpkg.sender as s; print('sender', s.Sender('http://x/').base_url, s.Result.__name__, s.SendError.__name__)")
	if !strings.Contains(out, "sender http://x Result SendError") {
		t.Errorf("importing sender.py: %s", out)
	}
	t.Logf("%d runtime files compile; _runtime.py imports alone, sender.py in a package", len(files))
}

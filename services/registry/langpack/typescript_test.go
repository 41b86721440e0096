package langpack_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// The TypeScript langpack is compiled JavaScript with declarations: these
// tests check it with tools/npm's tsc (under an app's strictest flags) and
// run it with node. Both fail the test under CI when missing.

// tsc returns tools/npm's tsc.
func tsc(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "..", "tools", "npm", "node_modules", ".bin", "tsc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tsc is not installed (CI is set): run npm ci --prefix tools/npm")
		}
		t.Skip("tsc is not installed, so the TypeScript check is skipped: run npm ci --prefix tools/npm")
	}
	return path
}

// appFlags are the strictest flags an app may compile with; none may
// reach into the pack.
var appFlags = []string{"--strict", "--exactOptionalPropertyTypes", "--erasableSyntaxOnly", "--noUncheckedIndexedAccess",
	"--verbatimModuleSyntax", "--skipLibCheck", "false", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext"}

// installPack writes a generated pack where npm installs it in an app:
// dir/node_modules/<package name>, with dir/package.json of a module app.
func installPack(t *testing.T, p *langpack.Pack, dir string) {
	t.Helper()
	pkgDir := filepath.Join(dir, "node_modules", filepath.FromSlash(langpack.NamesFor(p.Manifest.Environment).NPMPackage))
	writePack(t, p, pkgDir)
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name": "app", "private": true, "type": "module"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTypeScriptRuntimeCompiled: the committed runtime/typescript/dist is
// what tsc writes from the runtime's sources (make generate writes it; a
// stale copy fails here as in make check-generate), and the sender retries
// after the codes client/ingestclient retries after.
func TestTypeScriptRuntimeCompiled(t *testing.T) {
	tscBin := tsc(t)
	// A copy of the sources compiles where the source maps' relative paths
	// are those of the committed ones.
	src := t.TempDir()
	for _, name := range []string{"tsconfig.json", "message.ts", "sender.ts"} {
		data, err := os.ReadFile(filepath.Join("runtime", "typescript", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, src, map[string]string{name: string(data)})
	}
	run(t, src, nil, tscBin, "-p", ".")
	got, want := readTree(t, filepath.Join(src, "dist")), readTree(t, filepath.Join("runtime", "typescript", "dist"))
	if len(got) == 0 {
		t.Fatal("tsc wrote nothing")
	}
	for name, data := range got {
		if w, ok := want[name]; !ok {
			t.Errorf("runtime/typescript/dist/%s is missing: run make generate and commit", name)
		} else if !bytes.Equal(data, w) {
			t.Errorf("runtime/typescript/dist/%s is stale: run make generate and commit", name)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("runtime/typescript/dist/%s is not written by tsc any more: delete it", name)
		}
	}
	t.Logf("%d compiled runtime files match their sources", len(got))

	sender, err := os.ReadFile(filepath.Join("runtime", "typescript", "sender.ts"))
	if err != nil {
		t.Fatal(err)
	}
	for name, codes := range map[string][]connect.Code{"RETRYABLE_CODES": ingestclient.RetryableCodes(), "TRANSPORT_CODES": ingestclient.TransportCodes()} {
		m := regexp.MustCompile(`export const ` + name + `: readonly number\[\] = Object\.freeze\(\[([0-9, ]*)\]\)`).FindSubmatch(sender)
		if m == nil {
			t.Fatalf("sender.ts declares no %s", name)
		}
		var ts []int
		for _, s := range strings.Split(string(m[1]), ",") {
			n, _ := strconv.Atoi(strings.TrimSpace(s))
			ts = append(ts, n)
		}
		var goCodes []int
		for _, c := range codes {
			goCodes = append(goCodes, int(c))
		}
		slices.Sort(ts)
		slices.Sort(goCodes)
		if !slices.Equal(ts, goCodes) {
			t.Errorf("sender.ts %s = %v, client/ingestclient has %v", name, ts, goCodes)
		}
	}
}

// typescriptApp type-checks the fixture pack's API under the strictest app
// flags: what must compile compiles, and what must not (@ts-expect-error)
// does not.
const typescriptApp = `import { Context, ContentStatus, ItemViewV1, PhotoStatusChangedV2, Sender, SendError, ValidationError } from "@clickstream/events-web";
import type { Result, SenderOptions } from "@clickstream/events-web";

declare const process: { env: Record<string, string | undefined> };

const fromEnv: string | undefined = process.env["KEY"];
const options: SenderOptions = { apiKey: fromEnv, batchSize: 10, flushIntervalMs: 0, onResults: undefined };
const sender = new Sender("http://127.0.0.1:1", options);
const view = new ItemViewV1({ context: new Context({ userId: "u-1" }), itemId: 42n, tags: ["a"], attributes: { k: "v" } });
const id: bigint | undefined = view.getItemId();
const tags: readonly string[] = view.getTags();
const attrs: Map<string, string> = view.getAttributes();
view.setItemId(undefined).setItemId("43").setAttributes(new Map([["k", "v"]]));
const photo = new PhotoStatusChangedV2({ context: new Context({ userId: "u-2", occurredAt: new Date() }), photoId: "p", status: ContentStatus.CONTENT_STATUS_BLOCKED });
const status: ContentStatus = "CONTENT_STATUS_ACTIVE";
photo.setStatus(status);
// @ts-expect-error an enum value is one of its names
photo.setStatus("CONTENT_STATUS_GONE");
// @ts-expect-error tags are strings
view.setTags([1]);
// @ts-expect-error no such field
new ItemViewV1({ itemID: 1 });
const n: number = ItemViewV1.EVENT_ID;
async function main(): Promise<void> {
  try {
    const results: Result[] = await sender.send([view, photo]);
    for (const r of results) console.log(r.key, r.status, r.rejection?.fieldPath ?? "", r.stored);
  } catch (e) {
    if (e instanceof SendError) console.log(e.results.length, e.code);
    if (e instanceof ValidationError) console.log(e.field);
  }
}
void main;
void id, tags, attrs, n;
`

// typescriptScript runs the fixture pack in node against a REST stub.
const typescriptScript = `import * as web from "@clickstream/events-web";

try {
  new web.ItemViewV1({ context: new web.Context({ userId: "u-1" }) }).validate();
  console.log("no error for a missing itemId");
} catch (e) {
  console.log("invalid:", e instanceof web.ValidationError ? e.message : String(e));
}
try {
  new web.ItemViewV1({ tags: [1] });
} catch (e) {
  console.log("type:", e.message);
}
console.log("deprecated:", web.PhotoStatusChangedV1.DEPRECATED, new web.PhotoStatusChangedV1().deprecated);
const sender = new web.Sender(process.argv[2], { apiKey: "ck_test", initialBackoffMs: 1, maxBackoffMs: 10, flushIntervalMs: 0 });
try {
  await sender.send([new web.ItemViewV1({ context: new web.Context() })]);
} catch (e) {
  if (e instanceof web.ValidationError) console.log("nothing sent for an invalid event");
}
const results = await sender.send([
  new web.ItemViewV1({ context: new web.Context({ userId: "u-1" }), itemId: 42, tags: ["a", "b"], attributes: { k: "v" } }),
  new web.PhotoStatusChangedV2({ context: new web.Context({ userId: "u-2" }), photoId: "p-9", status: web.ContentStatus.CONTENT_STATUS_BLOCKED, reason: "spam" }),
], ["key-1", "key-2"]);
for (const r of results) console.log("result", r.key, r.status, r.stored);
await sender.close();
`

// TestTypeScriptLangpack: the fixture pack installed in an app's
// node_modules compiles against the app's strictest flags (the pack's
// declarations are checked too: skipLibCheck is off), and in node it
// refuses a missing required field and a wrong type before sending, and
// retries a 503 with the same body.
func TestTypeScriptLangpack(t *testing.T) {
	tscBin := tsc(t)
	node := tool(t, "node", "apt-get install nodejs")
	p, err := langpack.Generate(langpack.TypeScript, fixtureInput(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".ts") && !strings.HasSuffix(f.Path, ".d.ts") {
			t.Errorf("the pack ships TypeScript source %s: an app would compile it with its own flags", f.Path)
		}
	}
	dir := t.TempDir()
	installPack(t, p, dir)
	writeFiles(t, dir, map[string]string{"app.ts": typescriptApp, "send.mjs": typescriptScript})
	run(t, dir, nil, tscBin, append([]string{"--noEmit"}, append(appFlags, "app.ts")...)...)

	stub := &ingestStub{}
	srv := restServer(t, stub)
	out := run(t, dir, nil, node, "send.mjs", srv.URL)
	for _, want := range []string{
		"invalid: ItemViewV1 (event 1001 v1): required field item_id is not set",
		"type: ItemViewV1.tags[0]: expected a string, got 1",
		"deprecated: true true",
		"nothing sent for an invalid event",
		"result key-1 EVENT_STATUS_ACCEPTED true",
		"result key-2 EVENT_STATUS_ACCEPTED true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("node output lacks %q:\n%s", want, out)
		}
	}
	assertREST(t, stub, wantREST)
}

// typescriptSink builds the kitchen-sink event (kitchenSinkJSON) and
// prints its JSON, then the extremes a JavaScript number cannot hold.
const typescriptSink = `import * as s from "@clickstream/events-sink";

const k = new s.KitchenSinkV1({
  i32: -5, s32: -6, sf32: -7, u32: 8, f32: 9,
  i64: -10n, s64: "-11", sf64: -12, u64: 18446744073709551615n, f64: 14n,
  fl: 1.5, db: -2.25, flag: true, text: "h\u00e9llo \"q\"", raw: new Uint8Array([0, 1, 2, 255]),
  color: s.Color.COLOR_BLUE, part: new s.Part({ name: "p", inner: new s.Part_Inner({ on: true }) }),
  nums: [1, -2, 300], snums: [-1n, 2], colors: ["COLOR_RED", s.Color.COLOR_BLUE],
  parts: [new s.Part({ name: "a" }), new s.Part({ name: "b" })], ds: [0.5, 1e100], flags: [true, false],
  blobs: [new Uint8Array([1]), new Uint8Array()],
  byId: new Map([[1, "one"], [-2, "minus two"]]), partsByName: { x: new s.Part({ name: "x" }) },
  byFlag: new Map([[true, "COLOR_RED"]]), weights: new Map([[18446744073709551615n, 0.25]]),
  at: "2026-12-05T14:00:00.123Z", took: { seconds: -1, nanos: -500000000 }, maybe: 0,
  word: "w", negative: -1,
});
k.setInner(new s.Part_Inner({ on: true }));
k.validate();
console.log("json:" + JSON.stringify(k));
try {
  new s.KitchenSinkV1({ parts: [new s.Part({ name: "a" }), new s.Part()] }).validate();
} catch (e) {
  console.log("invalid: " + e.message);
}
const x = new s.KitchenSinkV1({
  i64: -(2n ** 63n), s64: 2n ** 63n - 1n, u64: 2n ** 64n - 1n, f64: "18446744073709551615", i32: -(2 ** 31), u32: 2 ** 32 - 1,
  at: { seconds: 10, nanos: -1 }, took: { seconds: 1, nanos: -1 }, fl: Infinity, db: NaN,
  byFlag: new Map([[false, "COLOR_BLUE"]]), weights: new Map([[0n, -0.5]]), note: "",
  parts: [new s.Part({ name: "a" })],
});
console.log("extremes:" + JSON.stringify(x));
console.log("at:", x.getAt().seconds, x.getAt().nanos, "took:", x.getTook().seconds, x.getTook().nanos);
console.log("timestamp:", JSON.stringify(new s.KitchenSinkV1({ at: "0001-01-01T00:00:00Z", took: "315576000000s" })));
console.log("offset:", JSON.stringify(new s.KitchenSinkV1({ at: "2026-12-05T15:30:00.5+01:30" })));
console.log("before1970:", JSON.stringify(new s.KitchenSinkV1({ at: { seconds: -1, nanos: -1 }, took: { seconds: -1, nanos: 1000000000 } })),
  JSON.stringify(new s.KitchenSinkV1({ at: new Date(-1), took: { seconds: 0, nanos: -1500000000 } })));
for (const bad of [{ u32: -1 }, { i32: 2 ** 31 }, { u64: -1n }, { i64: 2n ** 63n }, { i64: 2 ** 60 }, { fl: 1e39 }, { color: "RED" },
  { at: { seconds: 253402300800 } }, { at: "2026-02-30T00:00:00Z" }, { took: "1.5" }, { byId: new Map([[1.5, "x"]]) }, { part: {} }]) {
  try {
    new s.KitchenSinkV1(bad);
    console.log("accepted", Object.keys(bad)[0]);
  } catch (e) {
    console.log("refused:", e.message);
  }
}
`

// TestTypeScriptLangpackWire: the TypeScript langpack writes every field
// kind as protobuf JSON that the protobuf Go runtime reads as the other
// languages' kitchen sink, and holds what a JavaScript number cannot: the
// 64-bit extremes, normalised Timestamp and Duration nanos, an unset proto3
// optional left out, values that do not fit refused naming the field.
func TestTypeScriptLangpackWire(t *testing.T) {
	node := tool(t, "node", "apt-get install nodejs")
	in, md := kitchenSinkInput(t)
	p, err := langpack.Generate(langpack.TypeScript, in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	installPack(t, p, dir)
	writeFiles(t, dir, map[string]string{"sink.mjs": typescriptSink})
	out := run(t, dir, nil, node, "sink.mjs")
	lines := map[string]string{}
	var refused []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			lines[k] = strings.TrimSpace(v)
		}
		if strings.HasPrefix(sc.Text(), "refused: ") || strings.HasPrefix(sc.Text(), "accepted ") {
			refused = append(refused, sc.Text())
		}
	}
	if want := "KitchenSinkV1 (event 7001 v1): required field parts[1].name is not set"; !strings.Contains(out, want) {
		t.Errorf("node output lacks %q:\n%s", want, out)
	}
	decode := func(name string) *dynamicpb.Message {
		t.Helper()
		js := lines[name]
		got := dynamicpb.NewMessage(md)
		if err := protojson.Unmarshal([]byte(js), got); err != nil {
			t.Fatalf("protojson does not read the TypeScript %s JSON: %v\n%s", name, err, js)
		}
		return got
	}
	if got, want := decode("json"), kitchenSinkWant(t, md); !proto.Equal(got, want) {
		g, _ := protojson.Marshal(got)
		w, _ := protojson.Marshal(want)
		t.Errorf("the TypeScript JSON reads as\n%s\nwant\n%s\n(TypeScript wrote %s)", g, w, lines["json"])
	}
	if strings.Contains(lines["json"], `"note"`) {
		t.Errorf("an unset proto3 optional string is written: %s", lines["json"])
	}

	want := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(`{"i64": "-9223372036854775808", "s64": "9223372036854775807", "u64": "18446744073709551615",
		"f64": "18446744073709551615", "i32": -2147483648, "u32": 4294967295, "at": "1970-01-01T00:00:09.999999999Z", "took": "0.999999999s",
		"fl": "Infinity", "db": "NaN", "byFlag": {"false": "COLOR_BLUE"}, "weights": {"0": -0.5}, "note": "", "parts": [{"name": "a"}]}`), want); err != nil {
		t.Fatal(err)
	}
	got := decode("extremes")
	if !proto.Equal(got, want) {
		g, _ := protojson.Marshal(got)
		w, _ := protojson.Marshal(want)
		t.Errorf("the TypeScript extremes read as\n%s\nwant\n%s\n(TypeScript wrote %s)", g, w, lines["extremes"])
	}
	if note := md.Fields().ByName("note"); !got.Has(note) {
		t.Error("a proto3 optional string set to \"\" is not present")
	}
	for name, want := range map[string]string{
		"at":         "9n 999999999 took: 0n 999999999",
		"timestamp":  `{"at":"0001-01-01T00:00:00Z","took":"315576000000s"}`,
		"offset":     `{"at":"2026-12-05T14:00:00.500Z"}`,
		"before1970": `{"at":"1969-12-31T23:59:58.999999999Z","took":"0s"} {"at":"1969-12-31T23:59:59.999Z","took":"-1.500s"}`,
	} {
		if got := lines[name]; got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	wantRefused := []string{
		"refused: KitchenSinkV1.u32: expected an unsigned 32-bit integer (0 to 4294967295), got -1",
		"refused: KitchenSinkV1.i32: expected a 32-bit integer (-2147483648 to 2147483647), got 2147483648",
		"refused: KitchenSinkV1.u64: expected an unsigned 64-bit integer",
		"refused: KitchenSinkV1.i64: expected a 64-bit integer",
		"refused: KitchenSinkV1.i64: expected a 64-bit integer (-9223372036854775808 to 9223372036854775807) as a bigint, a safe integer or a decimal string, got 1152921504606847000",
		"refused: KitchenSinkV1.fl: 1e+39 is out of the range of a float (32 bits)",
		"refused: KitchenSinkV1.color: expected one of COLOR_UNSPECIFIED, COLOR_RED, COLOR_BLUE, got \"RED\"",
		"refused: KitchenSinkV1.at: 253402300800s is outside the years 1 to 9999",
		"refused: KitchenSinkV1.at: \"2026-02-30T00:00:00Z\" is not a valid date and time",
		"refused: KitchenSinkV1.took: \"1.5\" is not a duration",
		"refused: KitchenSinkV1.by_id key: expected a 32-bit integer",
		"refused: KitchenSinkV1.part: expected a Part, got Object",
	}
	if len(refused) != len(wantRefused) {
		t.Errorf("%d values tried, want %d:\n%s", len(refused), len(wantRefused), strings.Join(refused, "\n"))
	}
	for i, w := range wantRefused {
		if i < len(refused) && !strings.HasPrefix(refused[i], w) {
			t.Errorf("value %d: %s\nwant %s…", i, refused[i], w)
		}
	}
	t.Logf("kitchen sink and extremes read back equal; %d values that do not fit refused", len(refused))
}

// scriptedIngest answers POST /v1/events:batch with the next of its
// answers (the last repeats) and records every body.
type scriptedIngest struct {
	url     string
	mu      sync.Mutex
	answers []func(w http.ResponseWriter, body []byte)
	bodies  [][]byte
	auth    []string
}

func (s *scriptedIngest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	answer := s.answers[min(len(s.bodies), len(s.answers))-1]
	s.mu.Unlock()
	answer(w, body)
}

func (s *scriptedIngest) requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies)
}

// reset closes the connection without an answer, as a server that died
// mid-request.
func reset(w http.ResponseWriter, _ []byte) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func answerCode(status, code int, header ...string) func(http.ResponseWriter, []byte) {
	return func(w http.ResponseWriter, _ []byte) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"code":%d,"message":"scripted answer %d","details":[]}`, code, status)
	}
}

// verdicts accepts every event but the second, rejected on its field itemId.
func verdicts(w http.ResponseWriter, body []byte) {
	var req struct{ Events []json.RawMessage }
	_ = json.Unmarshal(body, &req)
	var results []map[string]any
	for i := range req.Events {
		r := map[string]any{"index": i, "status": "EVENT_STATUS_ACCEPTED"}
		if i == 1 {
			r["status"] = "EVENT_STATUS_REJECTED"
			r["rejection"] = map[string]any{"reason": "REJECT_REASON_WRONG_TYPE", "fieldPath": "itemId", "message": "itemId: not a number", "retryable": false}
		}
		results = append(results, r)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"results": results})
}

const typescriptSenderScript = `import * as web from "@clickstream/events-web";

const url = process.argv[2], mode = process.argv[3];
let delivered = false;
const ev = (n) => new web.ItemViewV1({ context: new web.Context({ userId: "u-" + n }), itemId: n });
const sender = new web.Sender(url, { apiKey: "ck_node", initialBackoffMs: 1, maxBackoffMs: 5, batchSize: 2,
  flushIntervalMs: mode === "interval" ? 50 : 0, onResults: mode === "interval" ? (rs) => { delivered = true; console.log("onResults", rs.length, rs[0].status); } : undefined });
const show = (rs) => rs.map((r) => [r.key, r.status, r.rejection?.reason ?? "", r.rejection?.fieldPath ?? "", r.stored, r.error ? "error" : ""].join(" ")).join("\n");
try {
  switch (mode) {
  case "retry":
    console.log(show(await sender.send([ev(1), ev(2)], ["k-1", "k-2"])));
    break;
  case "fail":
    await sender.send([ev(1)], ["k-1"]);
    break;
  case "batch":
    for (let i = 1; i <= 5; i++) sender.add(ev(i), "k-" + i);
    // The two full batches go out without a flush (one after the other).
    for (let i = 0; i < 200 && sender.waiting > 1; i++) await new Promise((r) => setTimeout(r, 50));
    console.log("waiting", sender.waiting);
    console.log(show(await sender.flush()));
    break;
  case "beacon": {
    // A page, as far as the sender can tell: window and document events and navigator.sendBeacon.
    const win = new EventTarget(), doc = Object.assign(new EventTarget(), { visibilityState: "visible" });
    let accept = true;
    const beacons = [];
    Object.defineProperty(globalThis, "navigator", { configurable: true, value: { sendBeacon: (u, body) => {
      beacons.push(u + " " + typeof body + " " + JSON.parse(body).events.map((e) => e.idempotencyKey).join(","));
      return accept;
    } } });
    Object.assign(globalThis, { document: doc, addEventListener: win.addEventListener.bind(win), removeEventListener: win.removeEventListener.bind(win) });
    const page = new web.Sender(url, { apiKey: "ck_page", flushIntervalMs: 0, initialBackoffMs: 1,
      onResults: (rs) => console.log("results", rs.map((r) => r.key + " beacon=" + r.beacon + " " + r.status).join(", ")) });
    const big = (n) => new web.ItemViewV1({ context: new web.Context({ userId: "u" }), itemId: n, tags: ["x".repeat(25000)] });
    for (let i = 1; i <= 3; i++) page.add(big(i), "b-" + i);
    doc.visibilityState = "hidden";
    doc.dispatchEvent(new Event("visibilitychange"));
    console.log("beacons", beacons.length, "waiting", page.waiting);
    for (const b of beacons) console.log("beacon", b);
    accept = false;
    page.add(big(4), "b-4");
    win.dispatchEvent(new Event("pagehide"));
    await page.flush();
    await page.close();
    break;
  }
  case "interval":
    sender.add(ev(1), "k-1");
    for (let i = 0; i < 200 && !delivered; i++) await new Promise((r) => setTimeout(r, 50));
    console.log("waiting", sender.waiting);
    break;
  }
} catch (e) {
  console.log("SendError", e instanceof web.SendError, e.status, e.code, e.attempts, e.results.length, e.message);
}
await sender.close().catch(() => {});
`

// TestTypeScriptSender: the sender retries what client/ingestclient
// retries (a reset connection, 429, 503 with code 14) with the same body,
// returns a verdict per event, does not retry a 400 or a server's 500, and
// batches by size, on flush and on its interval.
func TestTypeScriptSender(t *testing.T) {
	node := tool(t, "node", "apt-get install nodejs")
	p, err := langpack.Generate(langpack.TypeScript, fixtureInput(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	installPack(t, p, dir)
	writeFiles(t, dir, map[string]string{"sender.mjs": typescriptSenderScript})
	send := func(mode string, answers ...func(http.ResponseWriter, []byte)) (string, *scriptedIngest) {
		t.Helper()
		ing := &scriptedIngest{answers: answers}
		srv := httptest.NewServer(ing)
		defer srv.Close()
		ing.url = srv.URL
		out := run(t, dir, nil, node, "sender.mjs", srv.URL, mode)
		t.Logf("%s: %d requests; node printed:\n%s", mode, len(ing.requests()), out)
		return out, ing
	}

	out, ing := send("retry", reset, answerCode(429, 8, "Retry-After", "0"), answerCode(503, 14), verdicts)
	reqs := ing.requests()
	if len(reqs) != 4 {
		t.Fatalf("ingest saw %d requests, want 4 (reset, 429, 503, then verdicts)", len(reqs))
	}
	for i, r := range reqs[1:] {
		if !bytes.Equal(r, reqs[0]) {
			t.Errorf("attempt %d differs from the first:\n%s\n%s", i+2, r, reqs[0])
		}
	}
	if !strings.Contains(string(reqs[0]), `"idempotencyKey":"k-1"`) || ing.auth[0] != "Bearer ck_node" {
		t.Errorf("first request %s with Authorization %q", reqs[0], ing.auth[0])
	}
	for _, want := range []string{"k-1 EVENT_STATUS_ACCEPTED   true", "k-2 EVENT_STATUS_REJECTED REJECT_REASON_WRONG_TYPE itemId false"} {
		if !strings.Contains(out, want) {
			t.Errorf("node output lacks %q", want)
		}
	}

	for _, c := range []struct {
		answer func(http.ResponseWriter, []byte)
		want   string
	}{
		{answerCode(400, 3), "SendError true 400 3 1 1"},
		{answerCode(500, 13), "SendError true 500 13 1 1"},
	} {
		out, ing := send("fail", c.answer)
		if n := len(ing.requests()); n != 1 || !strings.Contains(out, c.want) {
			t.Errorf("%d requests, output %q; want 1 request and %q", n, out, c.want)
		}
	}
	out, ing = send("fail", reset)
	if n := len(ing.requests()); n != 5 || !strings.Contains(out, "SendError true undefined undefined 5 1") {
		t.Errorf("a connection reset every time: %d requests (want the 5 attempts), output %q", n, out)
	}

	out, ing = send("batch", verdicts)
	var sizes []int
	for _, r := range ing.requests() {
		var req struct{ Events []json.RawMessage }
		_ = json.Unmarshal(r, &req)
		sizes = append(sizes, len(req.Events))
	}
	if !slices.Equal(sizes, []int{2, 2, 1}) || !strings.Contains(out, "waiting 1") || strings.Count(out, "EVENT_STATUS_ACCEPTED") != 3 || strings.Count(out, "EVENT_STATUS_REJECTED") != 2 {
		t.Errorf("five events added in batches of 2: batch sizes %v, output %s", sizes, out)
	}

	// Hidden, then left: what waits goes in beacons of at most 60 KiB with
	// the key in the query string; a beacon the browser refuses goes by fetch.
	out, ing = send("beacon", verdicts)
	for _, want := range []string{
		"beacons 2 waiting 0",
		"beacon " + "URL" + "/v1/events:batch?key=ck_page string b-1,b-2",
		"beacon " + "URL" + "/v1/events:batch?key=ck_page string b-3",
		"results b-1 beacon=true EVENT_STATUS_UNSPECIFIED, b-2 beacon=true EVENT_STATUS_UNSPECIFIED, b-3 beacon=true EVENT_STATUS_UNSPECIFIED",
		"results b-4 beacon=false EVENT_STATUS_ACCEPTED",
	} {
		if !strings.Contains(out, strings.ReplaceAll(want, "URL", ing.url)) {
			t.Errorf("beacon: node output lacks %q", strings.ReplaceAll(want, "URL", ing.url))
		}
	}
	if reqs := ing.requests(); len(reqs) != 1 || !strings.Contains(string(reqs[0]), `"b-4"`) || ing.auth[0] != "Bearer ck_page" {
		t.Errorf("beacon: the refused beacon's event went by fetch in %d requests (Authorization %q)", len(reqs), ing.auth)
	}

	out, ing = send("interval", verdicts)
	if n := len(ing.requests()); n != 1 || !strings.Contains(out, "onResults 1 EVENT_STATUS_ACCEPTED") || !strings.Contains(out, "waiting 0") {
		t.Errorf("one event added with a 50 ms interval: %d requests, output %s", n, out)
	}
}

package langpack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// Each language's langpack is checked by that language's own toolchain.
// A missing toolchain fails the test under CI and skips it elsewhere.

// tool returns the path of a toolchain binary.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (CI is set): %s", name, install)
		}
		t.Skipf("%s is not installed, so this toolchain check is skipped: %s", name, install)
	}
	return path
}

// run runs a command in dir and returns its combined output; a failure
// fails the test with that output.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

func generate(t *testing.T, lang langpack.Language) (*langpack.Pack, string) {
	t.Helper()
	p, err := langpack.Generate(lang, fixtureInput(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writePack(t, p, dir)
	return p, dir
}

// ingestStub is an ingest that fails the first call with Unavailable and
// records every request: the tests assert retries keep the idempotency keys.
type ingestStub struct {
	mu       sync.Mutex
	auth     []string
	requests [][]byte // protobuf SendBatchRequest, or the REST body
}

func (s *ingestStub) record(auth string, req []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = append(s.auth, auth)
	s.requests = append(s.requests, req)
	return len(s.requests)
}

// restAnswer is what the REST gateway answers for n events, all accepted.
func restAnswer(n int) []byte {
	var results []map[string]any
	for i := range n {
		results = append(results, map[string]any{"index": i, "id": "", "status": "EVENT_STATUS_ACCEPTED", "rejection": nil})
	}
	b, _ := json.Marshal(map[string]any{"results": results, "accepted": n, "duplicates": 0, "rejected": 0})
	return b
}

// restServer serves POST /v1/events:batch like the ingest REST gateway:
// 503 on the first call, then every event accepted.
func restServer(t *testing.T, stub *ingestStub) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/events:batch" {
			http.Error(w, "not found: "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if n := stub.record(r.Header.Get("Authorization"), body); n == 1 {
			http.Error(w, `{"code":14,"message":"the bus is unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		var req struct{ Events []json.RawMessage }
		_ = json.Unmarshal(body, &req)
		w.Header().Set("Content-Type", "application/json")
		w.Write(restAnswer(len(req.Events)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// assertREST checks the two requests the senders make for the fixture
// script: the same body twice (the retry keeps the keys), the API key, and
// exactly the expected protobuf JSON.
func assertREST(t *testing.T, stub *ingestStub, want string) {
	t.Helper()
	stub.mu.Lock()
	defer stub.mu.Unlock()
	if len(stub.requests) != 2 {
		t.Fatalf("ingest saw %d requests, want 2 (a 503 and its retry)", len(stub.requests))
	}
	if !bytes.Equal(stub.requests[0], stub.requests[1]) {
		t.Errorf("the retry differs from the first attempt:\n%s\n%s", stub.requests[0], stub.requests[1])
	}
	for _, a := range stub.auth {
		if a != "Bearer ck_test" {
			t.Errorf("Authorization = %q, want Bearer ck_test", a)
		}
	}
	var got, exp any
	if err := json.Unmarshal(stub.requests[0], &got); err != nil {
		t.Fatalf("request body is not JSON: %v\n%s", err, stub.requests[0])
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("request body:\n got %s\nwant %s", stub.requests[0], want)
	}
}

// wantREST is the body every dynamic language's script sends.
const wantREST = `{"events": [
  {"idempotencyKey": "key-1", "json": {"name": "fixture.events.v1.ItemViewV1",
    "data": {"context": {"userId": "u-1"}, "itemId": "42", "tags": ["a", "b"], "attributes": {"k": "v"}}}},
  {"idempotencyKey": "key-2", "json": {"name": "fixture.events.v1.PhotoStatusChangedV2",
    "data": {"context": {"userId": "u-2"}, "photoId": "p-9", "status": "CONTENT_STATUS_BLOCKED", "reason": "spam"}}}
]}`

type ingestHandlerFunc func(context.Context, *ingestv1.SendBatchRequest) (*ingestv1.SendBatchResponse, error)

func (f ingestHandlerFunc) SendBatch(ctx context.Context, req *ingestv1.SendBatchRequest) (*ingestv1.SendBatchResponse, error) {
	return f(ctx, req)
}

// fixtureMessage resolves a message of the fixture catalogue.
func fixtureMessage(t *testing.T, name string) protoreflect.MessageDescriptor {
	t.Helper()
	files, err := protodesc.NewFiles(fixtureInput(t, 1).Files)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		t.Fatal(err)
	}
	return d.(protoreflect.MessageDescriptor)
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

func TestTypeScriptLangpack(t *testing.T) {
	tsc, err := filepath.Abs(filepath.Join("..", "..", "..", "tools", "npm", "node_modules", ".bin", "tsc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tsc); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tsc is not installed (CI is set): run npm ci --prefix tools/npm")
		}
		t.Skip("tsc is not installed, so the TypeScript check is skipped: run npm ci --prefix tools/npm")
	}
	_, dir := generate(t, langpack.TypeScript)
	run(t, dir, nil, tsc, "--noEmit", "--strict", "-p", ".")

	// The same required-field check, compiled and run with node.
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("node is not installed: the TypeScript langpack was type-checked only")
		return
	}
	run(t, dir, nil, tsc, "--strict", "-p", ".")
	check := `import * as web from "./dist/index.js";
try {
  new web.ItemViewV1({ context: new web.Context({ userId: "u-1" }) }).validate();
  console.log("no error for a missing itemId");
} catch (e) {
  console.log("invalid:", e instanceof web.ValidationError ? e.message : String(e));
}
const body = web.Sender.body([
  new web.ItemViewV1({ context: new web.Context({ userId: "u-1" }), itemId: 42, tags: ["a", "b"], attributes: { k: "v" } }),
  new web.PhotoStatusChangedV2({ context: new web.Context({ userId: "u-2" }), photoId: "p-9", status: web.ContentStatus.CONTENT_STATUS_BLOCKED, reason: "spam" }),
], ["key-1", "key-2"]);
console.log("body:" + JSON.stringify(body));
`
	if err := os.WriteFile(filepath.Join(dir, "check.mjs"), []byte(check), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, nil, node, "check.mjs")
	if !strings.Contains(out, "invalid: ItemViewV1 (event 1001 v1): required field item_id is not set") {
		t.Errorf("node output lacks the validation error:\n%s", out)
	}
	_, body, ok := strings.Cut(out, "body:")
	var got, want any
	if !ok || json.Unmarshal([]byte(strings.TrimSpace(body)), &got) != nil || json.Unmarshal([]byte(wantREST), &want) != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("TypeScript request body:\n got %s\nwant %s", body, wantREST)
	}
}

func TestPHPLangpack(t *testing.T) {
	php := tool(t, "php", "apt-get install php-cli")
	p, dir := generate(t, langpack.PHP)
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".php") {
			run(t, dir, nil, php, "-l", f.Path)
		}
	}
	stub := &ingestStub{}
	srv := restServer(t, stub)
	script := `<?php
declare(strict_types=1);
require __DIR__ . '/autoload.php';
use Clickstream\Events\Web as W;

try {
    (new W\ItemViewV1())->setContext((new W\Context())->setUserId('u-1'))->validate();
    echo "no error for a missing item_id\n";
} catch (W\ValidationError $e) {
    echo 'invalid: ', $e->getMessage(), "\n";
}
try {
    (new W\PhotoStatusChangedV2())->setContext(new W\Context())->setPhotoId('p')->validate();
} catch (W\ValidationError $e) {
    echo 'invalid nested: ', $e->getMessage(), "\n";
}
try {
    (new W\ItemViewV1())->setTags([1]);
} catch (\TypeError $e) {
    echo 'type: ', $e->getMessage(), "\n";
}
echo 'deprecated: ', var_export(W\PhotoStatusChangedV1::DEPRECATED, true), "\n";
$sender = new W\Sender($argv[1], 'ck_test', initialBackoff: 0.001, maxBackoff: 0.01);
try {
    $sender->send([(new W\ItemViewV1())->setContext(new W\Context())]);
} catch (W\ValidationError $e) {
    echo "nothing sent for an invalid event\n";
}
$results = $sender->send([
    (new W\ItemViewV1())->setContext((new W\Context())->setUserId('u-1'))->setItemId(42)->setTags(['a', 'b'])->setAttributes(['k' => 'v']),
    (new W\PhotoStatusChangedV2())->setContext((new W\Context())->setUserId('u-2'))->setPhotoId('p-9')
        ->setStatus(W\ContentStatus::CONTENT_STATUS_BLOCKED)->setReason('spam'),
], ['key-1', 'key-2']);
foreach ($results as $r) {
    echo 'result ', $r->key, ' ', $r->status, ' ', var_export($r->stored(), true), "\n";
}
`
	if err := os.WriteFile(filepath.Join(dir, "check.php"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, nil, php, "check.php", srv.URL)
	for _, want := range []string{
		"invalid: ItemViewV1 (event 1001 v1): required field item_id is not set",
		"invalid nested: PhotoStatusChangedV2 (event 2001 v2): required field status is not set",
		"type: ItemViewV1::setTags(): expected string elements, got int",
		"deprecated: true",
		"nothing sent for an invalid event",
		"result key-1 EVENT_STATUS_ACCEPTED true",
		"result key-2 EVENT_STATUS_ACCEPTED true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("php output lacks %q:\n%s", want, out)
		}
	}
	assertREST(t, stub, wantREST)
}

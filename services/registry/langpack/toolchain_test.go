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

package langpack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
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

func TestGoLangpackBuildsAndSends(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module: skipped with -short")
	}
	gobin := tool(t, "go", "install Go (see go.mod)")
	_, dir := generate(t, langpack.Go)
	// Offline (GOPROXY=off): the module builds from its own go.mod and go.sum
	// and the module cache; the go.sum it ships is complete, so no checksum
	// database is asked.
	env := []string{"GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GONOSUMDB=langpack.clickstream.dev"}
	if err := os.MkdirAll(filepath.Join(dir, "cmd", "sendcheck"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmd", "sendcheck", "main.go"), []byte(goSendCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, env, gobin, "build", "./...")
	run(t, dir, env, gobin, "vet", "./...")

	// A Connect ingest built from the main module's generated handler.
	stub := &ingestStub{}
	handler := ingestHandlerFunc(func(ctx context.Context, req *ingestv1.SendBatchRequest) (*ingestv1.SendBatchResponse, error) {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(req)
		auth := ""
		if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
			auth = ci.RequestHeader().Get("Authorization")
		}
		if stub.record(auth, b) == 1 {
			return nil, connect.NewError(connect.CodeUnavailable, errors.New("the bus is unavailable"))
		}
		resp := &ingestv1.SendBatchResponse{}
		for i, ev := range req.GetEvents() {
			resp.Results = append(resp.Results, &ingestv1.EventResult{Index: int32(i), Id: ev.GetIdempotencyKey(), Status: ingestv1.EventStatus_EVENT_STATUS_ACCEPTED})
			resp.Accepted++
		}
		return resp, nil
	})
	path, h := ingestv1connect.NewIngestServiceHandler(handler)
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	out := run(t, dir, env, gobin, "run", "./cmd/sendcheck", srv.URL)
	for _, want := range []string{
		"invalid: ItemViewV1 (event 1001 v1): required field item_id is not set",
		"invalid nested: PhotoStatusChangedV2 (event 2001 v2): required field status is not set",
		"result 0: EVENT_STATUS_ACCEPTED stored=true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sendcheck output lacks %q:\n%s", want, out)
		}
	}

	stub.mu.Lock()
	defer stub.mu.Unlock()
	if len(stub.requests) != 2 {
		t.Fatalf("ingest saw %d requests, want 2 (Unavailable and its retry)", len(stub.requests))
	}
	if !bytes.Equal(stub.requests[0], stub.requests[1]) {
		t.Error("the retry differs from the first attempt: idempotency keys must be kept")
	}
	if stub.auth[0] != "Bearer ck_test" {
		t.Errorf("Authorization = %q", stub.auth[0])
	}
	var req ingestv1.SendBatchRequest
	if err := proto.Unmarshal(stub.requests[0], &req); err != nil {
		t.Fatal(err)
	}
	if len(req.GetEvents()) != 1 {
		t.Fatalf("batch of %d events, want 1", len(req.GetEvents()))
	}
	ev := req.GetEvents()[0]
	if len(ev.GetIdempotencyKey()) != 32 || !strings.Contains(out, "key="+ev.GetIdempotencyKey()) {
		t.Errorf("idempotency key %q is not the one Add returned:\n%s", ev.GetIdempotencyKey(), out)
	}
	typed := ev.GetTyped()
	if typed.GetTypeUrl() != "type.googleapis.com/fixture.events.v1.ItemViewV1" {
		t.Fatalf("type URL %q", typed.GetTypeUrl())
	}
	md := fixtureMessage(t, "fixture.events.v1.ItemViewV1")
	got := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(typed.GetValue(), got); err != nil {
		t.Fatal(err)
	}
	want := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(`{"context": {"userId": "u-1"}, "itemId": "42", "tags": ["a", "b"], "attributes": {"k": "v"}}`), want); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("payload:\n got %v\nwant %v", got, want)
	}
}

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

// goSendCheck uses the Go langpack as an app would.
const goSendCheck = `package main

import (
	"context"
	"fmt"
	"os"
	"time"

	web "langpack.clickstream.dev/web"
	eventsv1 "langpack.clickstream.dev/web/fixture/events/v1"
)

func main() {
	ctx := context.Background()
	if _, err := web.NewItemViewV1(&eventsv1.ItemViewV1{Context: &eventsv1.Context{UserId: "u-1"}}); err != nil {
		fmt.Println("invalid:", err)
	}
	if _, err := web.NewPhotoStatusChangedV2(&eventsv1.PhotoStatusChangedV2{Context: &eventsv1.Context{}, PhotoId: "p"}); err != nil {
		fmt.Println("invalid nested:", err)
	}
	ev, err := web.NewItemViewV1(&eventsv1.ItemViewV1{
		Context: &eventsv1.Context{UserId: "u-1"}, ItemId: 42, Tags: []string{"a", "b"}, Attributes: map[string]string{"k": "v"},
	})
	if err != nil {
		fmt.Println("unexpected:", err)
		os.Exit(1)
	}
	s := web.NewSender(os.Args[1], web.WithAPIKey("ck_test"), web.WithFlushInterval(0), web.WithBatchSize(10),
		web.WithRetryPolicy(web.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}))
	key, err := s.Add(ctx, ev)
	if err != nil {
		fmt.Println("add:", err)
		os.Exit(1)
	}
	fmt.Println("key=" + key)
	results, err := s.Close(ctx)
	if err != nil {
		fmt.Println("close:", err)
		os.Exit(1)
	}
	for i, r := range results {
		fmt.Printf("result %d: %s stored=%t\n", i, r.Status, r.Stored())
	}
}
`

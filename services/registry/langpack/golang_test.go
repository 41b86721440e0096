package langpack_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

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

// TestGoModuleVersionsMatchMainModule: the Go langpack's go.mod requires
// the protobuf and connect versions of the main go.mod, and its go.sum has
// their lines from the main go.sum.
func TestGoModuleVersionsMatchMainModule(t *testing.T) {
	p, err := langpack.Generate(langpack.Go, fixtureInput(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	gomod, _ := p.File("go.mod")
	gosum, _ := p.File("go.sum")
	mainSum, err := os.ReadFile(filepath.Join("..", "..", "..", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("..", "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && (fields[0] == "connectrpc.com/connect" || fields[0] == "google.golang.org/protobuf") {
			found++
			req := fields[0] + " " + fields[1]
			if !bytes.Contains(gomod, []byte(req)) {
				t.Errorf("langpack go.mod lacks %q:\n%s", req, gomod)
			}
			for _, line := range strings.Split(string(gosum), "\n") {
				if strings.HasPrefix(line, fields[0]+" ") && !strings.HasPrefix(line, req+" ") && !strings.HasPrefix(line, req+"/go.mod ") {
					t.Errorf("langpack go.sum line %q is not for %s", line, req)
				}
			}
		}
	}
	if found != 2 {
		t.Fatalf("found %d of connect and protobuf in the main go.mod", found)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(gosum)), "\n") {
		if !bytes.Contains(mainSum, []byte(line+"\n")) {
			t.Errorf("langpack go.sum line %q is not in the main go.sum", line)
		}
	}
}

// acceptingIngest is a Connect ingest that accepts every event and keeps
// each request's events with the API key they came with.
type acceptingIngest struct {
	mu     sync.Mutex
	events map[string][]*ingestv1.Event // by Authorization header
}

func (a *acceptingIngest) SendBatch(ctx context.Context, req *ingestv1.SendBatchRequest) (*ingestv1.SendBatchResponse, error) {
	auth := ""
	if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
		auth = ci.RequestHeader().Get("Authorization")
	}
	a.mu.Lock()
	a.events[auth] = append(a.events[auth], req.GetEvents()...)
	a.mu.Unlock()
	resp := &ingestv1.SendBatchResponse{}
	for i, ev := range req.GetEvents() {
		resp.Results = append(resp.Results, &ingestv1.EventResult{Index: int32(i), Id: ev.GetIdempotencyKey(), Status: ingestv1.EventStatus_EVENT_STATUS_ACCEPTED})
		resp.Accepted++
	}
	return resp, nil
}

// TestGoLangpacksCoexist: one program links the langpacks of two
// environments, which declare the same proto files and message names
// (clickstream/options/v1/options.proto, the ingest contract, the fixture
// events), and the project's Go client, which declares the first two again
// from gen/go. It starts without a registration panic and sends through
// each: a pack's own events, another pack's event through a sender, and a
// pack's event through the client. The partner pack is at major version 2,
// so its module path is .../partner/v2. Offline: the packs and the
// repository are local replacements.
func TestGoLangpacksCoexist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module: skipped with -short")
	}
	gobin := tool(t, "go", "install Go (see go.mod)")
	repo, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	web := fixtureInput(t, 3)
	// The partner pack is at major version 2: its module path and every
	// import path inside it end in /v2.
	partner := fixtureInput(t, 0)
	partner.Environment, partner.Version = "partner", langpack.Version{Major: 2}
	partner.Events = nil
	for _, ev := range web.Events {
		if ev.ID != 2001 { // ItemView v1 and Heartbeat v1
			partner.Events = append(partner.Events, ev)
		}
	}
	for _, in := range []langpack.Input{web, partner} {
		p, err := langpack.Generate(langpack.Go, in)
		if err != nil {
			t.Fatal(err)
		}
		writePack(t, p, filepath.Join(dir, in.Environment))
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(dir, "app")
	for name, content := range map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.26.0\n\nrequire (\n" +
			"\tgithub.com/clickstream-dev/clickstream v0.0.0\n\tlangpack.clickstream.dev/partner/v2 v2.0.0\n\tlangpack.clickstream.dev/web v1.3.0\n)\n\n" +
			"replace github.com/clickstream-dev/clickstream => " + repo + "\n\n" +
			"replace langpack.clickstream.dev/partner/v2 => ../partner\n\nreplace langpack.clickstream.dev/web => ../web\n",
		"go.sum":  string(sum),
		"main.go": goCoexistProgram,
	} {
		if err := os.MkdirAll(app, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(app, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ingest := &acceptingIngest{events: map[string][]*ingestv1.Event{}}
	path, h := ingestv1connect.NewIngestServiceHandler(ingest)
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	env := []string{"GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GONOSUMDB=langpack.clickstream.dev", "GOTOOLCHAIN=local"}
	out := run(t, app, env, gobin, "run", ".", srv.URL)
	t.Logf("the program printed:\n%s", out)
	accepted := strings.Count(out, "EVENT_STATUS_ACCEPTED")
	if accepted != 5 || strings.Contains(out, "panic") {
		t.Errorf("%d events accepted, want 5 (web 2, partner 1, client 2)", accepted)
	}
	if !strings.Contains(out, "partner refused: ItemViewV1 (event 1001 v1): required field item_id is not set") {
		t.Errorf("the partner pack did not refuse an event without its required field")
	}

	ingest.mu.Lock()
	defer ingest.mu.Unlock()
	want := map[string][]string{
		"Bearer ck_web":     {"fixture.events.v1.ItemViewV1", "fixture.events.v1.ItemViewV1"},
		"Bearer ck_partner": {"fixture.events.v1.HeartbeatV1"},
		"Bearer ck_client":  {"fixture.events.v1.ItemViewV1", "fixture.events.v1.HeartbeatV1"},
	}
	md := fixtureMessage(t, "fixture.events.v1.ItemViewV1")
	for auth, names := range want {
		evs := ingest.events[auth]
		t.Logf("%s: ingest received %d events", auth, len(evs))
		if len(evs) != len(names) {
			t.Errorf("%s: ingest received %d events, want %d", auth, len(evs), len(names))
			continue
		}
		for i, ev := range evs {
			if got := ev.GetTyped().GetTypeUrl(); got != "type.googleapis.com/"+names[i] {
				t.Errorf("%s event %d: type URL %q, want %s", auth, i, got, names[i])
			}
		}
	}
	// The partner pack's ItemViewV1, sent through the web sender, arrives as
	// the bytes of the event version.
	if evs := ingest.events["Bearer ck_web"]; len(evs) == 2 {
		got := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(evs[1].GetTyped().GetValue(), got); err != nil {
			t.Fatal(err)
		}
		wantMsg := dynamicpb.NewMessage(md)
		if err := protojson.Unmarshal([]byte(`{"context": {"userId": "u-partner"}, "itemId": "2"}`), wantMsg); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, wantMsg) {
			t.Errorf("the partner pack's event through the web sender:\n got %v\nwant %v", got, wantMsg)
		}
	}
}

// goCoexistProgram imports two environments' langpacks and the project's
// client and sends through each.
const goCoexistProgram = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"google.golang.org/protobuf/proto"
	"langpack.clickstream.dev/partner/v2"
	partnerv1 "langpack.clickstream.dev/partner/v2/fixture/events/v1"
	"langpack.clickstream.dev/web"
	webv1 "langpack.clickstream.dev/web/fixture/events/v1"
)

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	return v
}

func main() {
	ctx := context.Background()
	url := os.Args[1]
	if _, err := partner.NewItemViewV1(&partnerv1.ItemViewV1{Context: &partnerv1.Context{UserId: "u-partner"}}); err != nil {
		fmt.Println("partner refused:", err)
	}

	// Each pack's sender with its own events; the web sender also takes the
	// partner pack's ItemViewV1, the same event version of another package.
	ws := web.NewSender(url, web.WithAPIKey("ck_web"))
	wev := must(web.NewItemViewV1(&webv1.ItemViewV1{Context: &webv1.Context{UserId: "u-web"}, ItemId: 1}))
	pitem := &partnerv1.ItemViewV1{Context: &partnerv1.Context{UserId: "u-partner"}, ItemId: 2}
	for i, r := range must(ws.Send(ctx, wev, pitem)) {
		fmt.Printf("web %d: %s\n", i, r.Status)
	}
	ps := partner.NewSender(url, partner.WithAPIKey("ck_partner"))
	pev := must(partner.NewHeartbeatV1(&partnerv1.HeartbeatV1{ClientId: "c-1", Uptime: &partnerv1.HeartbeatV1_UptimeS{UptimeS: 5}}))
	for i, r := range must(ps.Send(ctx, pev)) {
		fmt.Printf("partner %d: %s\n", i, r.Status)
	}

	// The project's client sends the packs' events too.
	client := ingestclient.New(url, ingestclient.WithAPIKey("ck_client"))
	var events []*ingestv1.Event
	for _, m := range []proto.Message{wev, pev} {
		events = append(events, must(ingestclient.Typed(m)))
	}
	for i, r := range must(client.Send(ctx, events...)) {
		fmt.Printf("client %d: %s\n", i, r.Status)
	}
	ws.Close(ctx)
	ps.Close(ctx)
}
`

// TestGoProtoFileInTheRegistryDirectory: a proto file whose directory is
// the pack's registry package is refused with the file named, rather than
// generating a package that does not compile.
func TestGoProtoFileInTheRegistryDirectory(t *testing.T) {
	in := fixtureInput(t, 1)
	renamed := 0
	for _, f := range in.Files.GetFile() {
		if f.GetName() == "fixture/events/v1/heartbeat.proto" {
			f.Name = proto.String("registry/heartbeat.proto")
			renamed++
		}
	}
	if renamed != 1 {
		t.Fatalf("the fixture has %d heartbeat.proto files, want 1", renamed)
	}
	_, err := langpack.Generate(langpack.Go, in)
	if err == nil || !strings.Contains(err.Error(), "registry/heartbeat.proto") || !strings.Contains(err.Error(), "registry package") {
		t.Fatalf("Generate = %v, want an error naming registry/heartbeat.proto and the registry package", err)
	}
	t.Log(err)
}

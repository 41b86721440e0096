package langpack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// protobufJar is Debian's protobuf-java (package libprotobuf-java).
const protobufJar = "/usr/share/java/protobuf.jar"

// connectStub serves the Connect ingest from the main module's generated
// handler: Unavailable on the first call, then every event accepted.
// Requests are recorded as SendBatchRequest bytes.
func connectStub(t *testing.T, stub *ingestStub) *httptest.Server {
	t.Helper()
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
	t.Cleanup(srv.Close)
	return srv
}

// assertTypedBatch checks that a recorded SendBatchRequest holds the two
// fixture events of wantREST as typed payloads under key-1 and key-2.
func assertTypedBatch(t *testing.T, data []byte) {
	t.Helper()
	var req ingestv1.SendBatchRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		t.Fatalf("the request is no SendBatchRequest: %v", err)
	}
	var want struct {
		Events []struct {
			IdempotencyKey string `json:"idempotencyKey"`
			JSON           struct {
				Name string          `json:"name"`
				Data json.RawMessage `json:"data"`
			} `json:"json"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(wantREST), &want); err != nil {
		t.Fatal(err)
	}
	if len(req.GetEvents()) != len(want.Events) {
		t.Fatalf("batch of %d events, want %d", len(req.GetEvents()), len(want.Events))
	}
	for i, w := range want.Events {
		ev := req.GetEvents()[i]
		if ev.GetIdempotencyKey() != w.IdempotencyKey {
			t.Errorf("event %d: key %q, want %q", i, ev.GetIdempotencyKey(), w.IdempotencyKey)
		}
		if got := ev.GetTyped().GetTypeUrl(); got != "type.googleapis.com/"+w.JSON.Name {
			t.Errorf("event %d: type URL %q", i, got)
			continue
		}
		md := fixtureMessage(t, w.JSON.Name)
		got, exp := dynamicpb.NewMessage(md), dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(ev.GetTyped().GetValue(), got); err != nil {
			t.Fatalf("event %d payload: %v", i, err)
		}
		if err := protojson.Unmarshal(w.JSON.Data, exp); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, exp) {
			t.Errorf("event %d payload:\n got %v\nwant %v", i, got, exp)
		}
	}
}

// javaCheck uses the Java langpack as an app would; args: the ingest URL
// and a file to write the request body of the two fixture events to.
const javaCheck = `import dev.clickstream.events.web.*;
import java.util.*;

public class Check {
    public static void main(String[] args) throws Exception {
        try {
            new ItemViewV1().setContext(new Context().setUserId("u-1")).validate();
            System.out.println("no error for a missing item_id");
        } catch (ValidationException e) {
            System.out.println("invalid: " + e.getMessage());
        }
        try {
            new PhotoStatusChangedV2().setContext(new Context()).setPhotoId("p").validate();
        } catch (ValidationException e) {
            System.out.println("invalid nested: " + e.getMessage());
        }
        System.out.println("deprecated: " + PhotoStatusChangedV1.class.isAnnotationPresent(Deprecated.class) + " " + PhotoStatusChangedV1.DEPRECATED);
        System.out.println(ItemViewV1.EVENT_ID + " " + ItemViewV1.EVENT_VERSION + " " + ItemViewV1.MESSAGE_NAME);

        Sender sender = new Sender(args[0]).apiKey("ck_test").backoff(1, 10);
        try {
            sender.send(new ItemViewV1().setContext(new Context()));
        } catch (ValidationException e) {
            System.out.println("nothing sent for an invalid event");
        }
        Map<String, String> attributes = new LinkedHashMap<String, String>();
        attributes.put("k", "v");
        List<ClickstreamEvent> events = Arrays.<ClickstreamEvent>asList(
                new ItemViewV1().setContext(new Context().setUserId("u-1")).setItemId(42)
                        .setTags(Arrays.asList("a", "b")).setAttributes(attributes),
                new PhotoStatusChangedV2().setContext(new Context().setUserId("u-2")).setPhotoId("p-9")
                        .setStatus(ContentStatus.CONTENT_STATUS_BLOCKED).setReason("spam"));
        List<String> keys = Arrays.asList("key-1", "key-2");
        java.nio.file.Files.write(java.nio.file.Paths.get(args[1]), Sender.requestBody(events, keys));
        for (Result r : sender.send(events, keys)) {
            System.out.println("result " + r.key() + " " + r.status() + " " + r.stored());
        }
        String key = sender.add(events.get(0));
        for (Result r : sender.flush()) {
            System.out.println("queued " + r.key().equals(key) + " " + r.status());
        }
    }
}
`

func TestJavaLangpack(t *testing.T) {
	javac := tool(t, "javac", "apt-get install default-jdk-headless")
	java := tool(t, "java", "apt-get install default-jdk-headless")
	if _, err := os.Stat(protobufJar); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (CI is set): apt-get install libprotobuf-java", protobufJar)
		}
		t.Skipf("%s is not installed: apt-get install libprotobuf-java", protobufJar)
	}
	p, dir := generate(t, langpack.Java)
	var sources []string
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".java") {
			sources = append(sources, f.Path)
		}
	}
	// The Java 8 language level keeps the sources usable on Android.
	run(t, dir, nil, javac, append([]string{"--release", "8", "-Xlint:all,-deprecation,-options", "-Werror", "-cp", protobufJar, "-d", "classes"}, sources...)...)
	if err := os.WriteFile(filepath.Join(dir, "Check.java"), []byte(javaCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	cp := "classes" + string(os.PathListSeparator) + protobufJar
	run(t, dir, nil, javac, "-cp", cp, "-d", "classes", "Check.java")

	stub := &ingestStub{}
	srv := connectStub(t, stub)
	body := filepath.Join(dir, "body.bin")
	out := run(t, dir, nil, java, "-cp", cp, "Check", srv.URL, body)
	for _, want := range []string{
		"invalid: ItemViewV1 (event 1001 v1): required field item_id is not set",
		"invalid nested: PhotoStatusChangedV2 (event 2001 v2): required field status is not set",
		"deprecated: true true",
		"1001 1 fixture.events.v1.ItemViewV1",
		"nothing sent for an invalid event",
		"result key-1 EVENT_STATUS_ACCEPTED true",
		"result key-2 EVENT_STATUS_ACCEPTED true",
		"queued true EVENT_STATUS_ACCEPTED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("java output lacks %q:\n%s", want, out)
		}
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
	assertTypedBatch(t, stub.requests[0])
	written, err := os.ReadFile(body)
	if err != nil {
		t.Fatal(err)
	}
	assertTypedBatch(t, written)

	// protoc reads the same bytes as a SendBatchRequest with typed events.
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("protoc is not installed (CI is set): apt-get install protobuf-compiler")
		}
		t.Log("protoc is not installed: the wire check with protoc --decode is skipped")
		return
	}
	// The descriptors come from Go (the ingest contract and the fixture
	// catalogue), so protoc needs no include directories.
	set := fileSet([]protoreflect.FileDescriptor{ingestv1.File_clickstream_ingest_v1_ingest_proto})
	have := map[string]bool{}
	for _, f := range set.GetFile() {
		have[f.GetName()] = true
	}
	for _, f := range fixtureInput(t, 1).Files.GetFile() {
		if !have[f.GetName()] {
			set.File = append(set.File, f)
		}
	}
	setData, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	setPath := filepath.Join(dir, "descriptors.pb")
	if err := os.WriteFile(setPath, setData, 0o644); err != nil {
		t.Fatal(err)
	}
	decode := func(message string, data []byte) string {
		t.Helper()
		cmd := exec.Command(protoc, "--descriptor_set_in="+setPath, "--decode="+message,
			"clickstream/ingest/v1/ingest.proto", "fixture/events/v1/item_view.proto", "fixture/events/v1/photo_status_changed.proto")
		cmd.Stdin = bytes.NewReader(data)
		text, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("protoc --decode=%s: %v\n%s", message, err, text)
		}
		return string(text)
	}
	text := decode("clickstream.ingest.v1.SendBatchRequest", written)
	for _, want := range []string{`idempotency_key: "key-1"`, `type_url: "type.googleapis.com/fixture.events.v1.ItemViewV1"`, `idempotency_key: "key-2"`} {
		if !strings.Contains(text, want) {
			t.Errorf("protoc --decode output lacks %q:\n%s", want, text)
		}
	}
	var req ingestv1.SendBatchRequest
	if err := proto.Unmarshal(written, &req); err != nil {
		t.Fatal(err)
	}
	for i, wants := range [][]string{
		{`user_id: "u-1"`, `item_id: 42`, `tags: "a"`, `tags: "b"`, `key: "k"`},
		{`user_id: "u-2"`, `photo_id: "p-9"`, `status: CONTENT_STATUS_BLOCKED`, `reason: "spam"`},
	} {
		typed := req.GetEvents()[i].GetTyped()
		text := decode(strings.TrimPrefix(typed.GetTypeUrl(), "type.googleapis.com/"), typed.GetValue())
		for _, want := range wants {
			if !strings.Contains(text, want) {
				t.Errorf("protoc --decode of event %d lacks %q:\n%s", i, want, text)
			}
		}
	}
}

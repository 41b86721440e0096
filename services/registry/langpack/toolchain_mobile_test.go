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
	"reflect"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

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

func TestCSharpLangpack(t *testing.T) {
	mcs := tool(t, "mcs", "apt-get install mono-mcs mono-runtime libmono-system-net-http4.0-cil")
	mono := tool(t, "mono", "apt-get install mono-runtime")
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
}

// TestSwiftLangpack type-checks the Swift langpack where a Swift toolchain
// exists. Debian ships none, so on the machines this project is built on
// (CI included) it skips: the Swift output is checked by golden files only.
func TestSwiftLangpack(t *testing.T) {
	swiftc, err := exec.LookPath("swiftc")
	if err != nil {
		t.Skip("swiftc is not installed (Debian has no Swift package): the Swift langpack is checked by its golden files only")
	}
	p, dir := generate(t, langpack.Swift)
	var sources []string
	for _, f := range p.Files {
		if strings.HasPrefix(f.Path, "Sources/") && strings.HasSuffix(f.Path, ".swift") {
			sources = append(sources, f.Path)
		}
	}
	run(t, dir, nil, swiftc, append([]string{"-typecheck", "-module-name", langpack.NamesFor("web").SwiftModule}, sources...)...)
}

package langpack_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
)

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

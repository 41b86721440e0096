package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// eventVersionDetail is the error detail the failing handlers attach.
var eventVersionDetail = &registryv1.EventVersion{
	EventId:     2001,
	Version:     2,
	MessageName: "clickstream.events.v1.PhotoStatusChangedV2",
	Revision:    17,
}

// connectError is a *connect.Error with eventVersionDetail attached.
func connectError(code connect.Code, msg string) error {
	err := connect.NewError(code, errors.New(msg))
	detail, derr := connect.NewErrorDetail(eventVersionDetail)
	if derr != nil {
		panic(derr)
	}
	err.AddDetail(detail)
	return err
}

// failures are errors a handler returns and what every protocol must make
// of them. The handler for GetEvent(event_id = i+1) returns failures[i].
var failures = []struct {
	name       string
	err        error
	code       connect.Code
	httpStatus int
	message    string
	detail     bool
}{
	{"not found", connectError(connect.CodeNotFound, "event 2001 is not registered; list events with GET /v1/events"),
		connect.CodeNotFound, http.StatusNotFound, "event 2001 is not registered; list events with GET /v1/events", true},
	{"invalid argument", connectError(connect.CodeInvalidArgument, "event_id is required: pass the event's numeric id"),
		connect.CodeInvalidArgument, http.StatusBadRequest, "event_id is required: pass the event's numeric id", true},
	{"unauthenticated", connectError(connect.CodeUnauthenticated, "no API key: send Authorization: Bearer <key>"),
		connect.CodeUnauthenticated, http.StatusUnauthorized, "no API key: send Authorization: Bearer <key>", true},
	{"permission denied", connectError(connect.CodePermissionDenied, "source web may not read event 2001"),
		connect.CodePermissionDenied, http.StatusForbidden, "source web may not read event 2001", true},
	{"unavailable", connectError(connect.CodeUnavailable, "registry store is down; retry"),
		connect.CodeUnavailable, http.StatusServiceUnavailable, "registry store is down; retry", true},
	{"already exists", connectError(connect.CodeAlreadyExists, "event 2001 version 2 is already registered"),
		connect.CodeAlreadyExists, http.StatusConflict, "event 2001 version 2 is already registered", true},
	{"internal", connectError(connect.CodeInternal, "fingerprint mismatch for event 2001 version 2"),
		connect.CodeInternal, http.StatusInternalServerError, "fingerprint mismatch for event 2001 version 2", true},
	{"resource exhausted", connectError(connect.CodeResourceExhausted, "source web is over its quota"),
		connect.CodeResourceExhausted, http.StatusTooManyRequests, "source web is over its quota", true},
	{"wrapped connect error", fmt.Errorf("get event 2001: %w", connectError(connect.CodeNotFound, "event 2001 is not registered")),
		connect.CodeNotFound, http.StatusNotFound, "event 2001 is not registered", true},
	{"plain error", errors.New("store: connection reset by peer"),
		connect.CodeUnknown, http.StatusInternalServerError, "store: connection reset by peer", false},
	{"bare context error", context.DeadlineExceeded,
		connect.CodeDeadlineExceeded, http.StatusGatewayTimeout, "context deadline exceeded", false},
}

func failingRegistry() *registryDouble {
	return &registryDouble{getEvent: func(_ context.Context, req *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error) {
		return nil, failures[req.GetEventId()-1].err
	}}
}

func TestGatewayErrorMapping(t *testing.T) {
	srv := start(t, Config{}, failingRegistry().routes())
	client := http1Client(t)
	for i, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, client, srv.URL()+"/v1/events/"+strconv.Itoa(i+1))
			if resp.StatusCode != tc.httpStatus {
				t.Errorf("HTTP status = %d, want %d (body %s)", resp.StatusCode, tc.httpStatus, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got struct {
				Code    int               `json:"code"`
				Message string            `json:"message"`
				Details []json.RawMessage `json:"details"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("error body %s is not JSON: %v", body, err)
			}
			if got.Code != int(tc.code) || got.Message != tc.message {
				t.Errorf("body = code %d %q, want code %d (%s) %q", got.Code, got.Message, tc.code, tc.code, tc.message)
			}
			var details []proto.Message
			for _, raw := range got.Details {
				var a anypb.Any
				if err := protojson.Unmarshal(raw, &a); err != nil {
					t.Fatalf("detail %s: %v", raw, err)
				}
				m, err := a.UnmarshalNew()
				if err != nil {
					t.Fatalf("detail %s: %v", raw, err)
				}
				details = append(details, m)
			}
			checkDetails(t, details, tc.detail)
		})
	}
}

// TestErrorCodesAcrossProtocols calls the same failing handler over
// Connect, gRPC (grpc-go and connect-go clients) and gRPC-Web, and expects
// the same code, message and details from each.
func TestErrorCodesAcrossProtocols(t *testing.T) {
	srv := start(t, Config{}, failingRegistry().routes())
	type outcome struct {
		code    connect.Code
		message string
		details []proto.Message
	}
	fromConnect := func(err error) outcome {
		var cerr *connect.Error
		if !errors.As(err, &cerr) {
			return outcome{code: connect.CodeOf(err), message: fmt.Sprint(err)}
		}
		o := outcome{code: cerr.Code(), message: cerr.Message()}
		for _, d := range cerr.Details() {
			if v, err := d.Value(); err == nil {
				o.details = append(o.details, v)
			}
		}
		return o
	}
	connectClient := func(client *http.Client, opts ...connect.ClientOption) func(context.Context, uint32) outcome {
		rc := registryv1connect.NewRegistryServiceClient(client, srv.URL(), opts...)
		return func(ctx context.Context, id uint32) outcome {
			_, err := rc.GetEvent(ctx, &registryv1.GetEventRequest{EventId: id})
			return fromConnect(err)
		}
	}
	grpcClient := registryv1.NewRegistryServiceClient(grpcConn(t, srv))
	protocols := []struct {
		name string
		call func(context.Context, uint32) outcome
	}{
		{"connect", connectClient(http1Client(t))},
		{"grpc-web", connectClient(http1Client(t), connect.WithGRPCWeb())},
		{"grpc (connect-go)", connectClient(h2cClient(t), connect.WithGRPC())},
		{"grpc (grpc-go)", func(ctx context.Context, id uint32) outcome {
			_, err := grpcClient.GetEvent(ctx, &registryv1.GetEventRequest{EventId: id})
			st := status.Convert(err)
			o := outcome{code: connect.Code(st.Code()), message: st.Message()}
			for _, d := range st.Details() {
				if m, ok := d.(proto.Message); ok {
					o.details = append(o.details, m)
				}
			}
			return o
		}},
	}
	for i, tc := range failures {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				got := p.call(callContext(t), uint32(i+1))
				if got.code != tc.code || got.message != tc.message {
					t.Errorf("error = %s %q, want %s %q", got.code, got.message, tc.code, tc.message)
				}
				checkDetails(t, got.details, tc.detail)
			})
		}
	}
}

func checkDetails(t *testing.T, details []proto.Message, want bool) {
	t.Helper()
	switch {
	case !want && len(details) > 0:
		t.Errorf("details = %v, want none", details)
	case want && (len(details) != 1 || !proto.Equal(details[0], eventVersionDetail)):
		t.Errorf("details = %v, want [%v]", details, eventVersionDetail)
	}
}

func TestGRPCStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"connect error", connect.NewError(connect.CodeNotFound, errors.New("event 2001 is not registered")), codes.NotFound},
		{"wrapped connect error", fmt.Errorf("get event: %w", connect.NewError(connect.CodePermissionDenied, nil)), codes.PermissionDenied},
		{"grpc status", status.Error(codes.Unimplemented, "method GetEvent not implemented"), codes.Unimplemented},
		{"wrapped grpc status", fmt.Errorf("list: %w", status.Error(codes.Unavailable, "down")), codes.Unavailable},
		{"canceled", fmt.Errorf("list events: %w", context.Canceled), codes.Canceled},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
		{"plain", errors.New("boom"), codes.Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := GRPCStatus(tc.err).Code(); got != tc.want {
				t.Errorf("GRPCStatus(%v).Code() = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

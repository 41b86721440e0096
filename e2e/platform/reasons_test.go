package platform_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

func typedRaw(key, name string, payload []byte) *ingestv1.Event {
	return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Typed{Typed: &anypb.Any{
		TypeUrl: "type.googleapis.com/" + name, Value: payload}}}
}

// TestEveryRejectReasonOnEveryProtocol sends an event of every reject
// reason, in every payload form that can carry it, over gRPC, Connect and
// REST: each is answered REJECTED with its reason and field path and is in
// DEADLETTER with the same reason and path in its headers.
func TestEveryRejectReasonOnEveryProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	ctx := context.Background()
	s := start(t, harness.DataDir(t))
	url := s.URL(platform.Ingest)
	regAdmin, ingAdmin := adminClients(s)

	// NOT_ALLOWED: environment "web" may send ItemView v2 only.
	if _, err := regAdmin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Actor: "test"}); err != nil {
		t.Fatalf("CreateEnvironment web: %v", err)
	}
	if _, err := regAdmin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 1001, Version: 2, Allowed: true, Actor: "test"}); err != nil {
		t.Fatalf("SetEventAccess web: %v", err)
	}
	web, err := ingAdmin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: "web", Actor: "test"})
	if err != nil {
		t.Fatalf("CreateKey web: %v", err)
	}
	// RETIRED: PhotoStatusChanged v1 (v2 stays active).
	for _, st := range []registryv1.LifecycleStatus{registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED, registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED} {
		if _, err := regAdmin.SetLifecycle(ctx, &registryv1.SetLifecycleRequest{EventId: 2001, Version: 1, Status: st, Actor: "test"}); err != nil {
			t.Fatalf("SetLifecycle %v: %v", st, err)
		}
	}
	awaitCatalogue(t, s, registryRevision(t, s))

	view := func() *eventsv1.ItemViewV2 {
		return &eventsv1.ItemViewV2{Context: &eventsv1.Context{UserId: "u-1"}, ItemId: 7}
	}
	viewParams := map[string]string{"context.user_id": "u-1", "item_id": "7"}
	with := func(kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range viewParams {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	const itemView = "clickstream.events.v1.ItemViewV2"
	big := strings.Repeat("x", ingest.DefaultConfig().MaxEventBytes+1)
	// The REST route takes the batch as protobuf JSON: what that cannot
	// express is sent over gRPC and Connect only (noREST says why).
	const (
		anyUnknownType  = "protobuf JSON cannot carry an Any of a type the gateway does not know"
		anyInvalidBytes = "protobuf JSON carries an Any as its message's fields, so bytes that are not that message (unknown fields, wrong wire types, garbage) cannot be sent"
		jsonHasNoNaN    = "JSON has no NaN, so a google.protobuf.Struct that protojson cannot encode cannot be sent over REST"
		wrongWireType   = "protobuf JSON carries an Any as its message's fields, so a field encoded with another wire type cannot be sent"
	)
	cases := []struct {
		name   string
		reason ingestv1.RejectReason
		path   string
		key    string // API key; the dev key when empty
		noREST string
		event  func(t *testing.T, key string) *ingestv1.Event
	}{
		{"typed unknown event", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "typed.type_url", "", anyUnknownType,
			func(t *testing.T, key string) *ingestv1.Event {
				return typedRaw(key, "clickstream.events.v1.NoSuchEventV1", nil)
			}},
		{"json unknown name", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "json.name", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return jsonData(t, key, &ingestv1.JsonEvent{Name: "clickstream.events.v1.NoSuchEventV1"}, map[string]any{})
			}},
		{"json unknown event id", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "json.event_id", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return jsonData(t, key, &ingestv1.JsonEvent{EventId: 4242, Version: 1}, map[string]any{})
			}},
		{"mobile unknown event id", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "mobile.event_id", "", "",
			func(t *testing.T, key string) *ingestv1.Event { return mobileEvent(key, 4242, 1, viewParams) }},

		{"json unknown version", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_VERSION, "json.version", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return jsonData(t, key, &ingestv1.JsonEvent{EventId: 1001, Version: 7}, map[string]any{})
			}},
		{"mobile unknown version", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_VERSION, "mobile.version", "", "",
			func(t *testing.T, key string) *ingestv1.Event { return mobileEvent(key, 1001, 7, viewParams) }},

		{"typed retired", ingestv1.RejectReason_REJECT_REASON_RETIRED, "", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return harness.TypedEvent(key, &eventsv1.PhotoStatusChangedV1{Context: &eventsv1.Context{UserId: "u-1"}, PhotoId: "p-1"})
			}},
		{"json retired", ingestv1.RejectReason_REJECT_REASON_RETIRED, "", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return jsonData(t, key, &ingestv1.JsonEvent{EventId: 2001, Version: 1}, map[string]any{"context": map[string]any{}, "photoId": "p-1"})
			}},
		{"mobile retired", ingestv1.RejectReason_REJECT_REASON_RETIRED, "", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return mobileEvent(key, 2001, 1, map[string]string{"context.user_id": "u-1", "photo_id": "p-1"})
			}},

		{"typed not allowed", ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED, "", "web", "",
			func(t *testing.T, key string) *ingestv1.Event { return harness.TypedEvent(key, searchQuery("x")) }},
		{"json not allowed", ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED, "", "web", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return jsonData(t, key, &ingestv1.JsonEvent{Name: "clickstream.events.v1.SearchQueryV1"}, map[string]any{"context": map[string]any{}, "query": "x"})
			}},
		{"mobile not allowed", ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED, "", "web", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return mobileEvent(key, 1002, 1, map[string]string{"context.user_id": "u-1", "query": "x"})
			}},

		{"typed missing item_id", ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, "item_id", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				m := view()
				m.ItemId = 0
				return harness.TypedEvent(key, m)
			}},
		{"typed missing context", ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, "context", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				m := view()
				m.Context = nil
				return harness.TypedEvent(key, m)
			}},
		{"json missing item_id", ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, "item_id", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return jsonData(t, key, &ingestv1.JsonEvent{Name: itemView}, map[string]any{"context": map[string]any{"userId": "u-1"}})
			}},
		{"mobile missing item_id", ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, "item_id", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return mobileEvent(key, 1001, 2, map[string]string{"context.user_id": "u-1"})
			}},

		{"typed wrong wire type", ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, "item_id", "", wrongWireType,
			func(t *testing.T, key string) *ingestv1.Event {
				// item_id (an int64, field 2) sent as a length-delimited string.
				b := protowire.AppendTag(nil, 1, protowire.BytesType)
				b = protowire.AppendBytes(b, nil)
				b = protowire.AppendTag(b, 2, protowire.BytesType)
				b = protowire.AppendString(b, "7")
				return typedRaw(key, itemView, b)
			}},
		{"json wrong type", ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, "itemId", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return jsonData(t, key, &ingestv1.JsonEvent{Name: itemView}, map[string]any{"context": map[string]any{}, "itemId": "seven"})
			}},
		{"mobile wrong type", ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, "item_id", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return mobileEvent(key, 1001, 2, with("item_id", "seven"))
			}},

		{"typed unknown field", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, "#99", "", anyInvalidBytes,
			func(t *testing.T, key string) *ingestv1.Event {
				return typedRaw(key, itemView, unknownFieldBytes(t, view()))
			}},
		{"json unknown field", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, "colour", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return jsonData(t, key, &ingestv1.JsonEvent{Name: itemView}, map[string]any{"context": map[string]any{}, "itemId": "7", "colour": "red"})
			}},
		{"mobile unknown field", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, "colour", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return mobileEvent(key, 1001, 2, with("colour", "red"))
			}},

		{"typed too large", ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				m := view()
				m.Referrer = big
				return harness.TypedEvent(key, m)
			}},
		{"json too large", ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return jsonData(t, key, &ingestv1.JsonEvent{Name: itemView}, map[string]any{"context": map[string]any{}, "itemId": "7", "referrer": big})
			}},
		{"mobile too large", ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "mobile", "", "",
			func(t *testing.T, key string) *ingestv1.Event {
				return mobileEvent(key, 1001, 2, with("referrer", big))
			}},

		{"typed malformed", ingestv1.RejectReason_REJECT_REASON_MALFORMED, "", "", anyInvalidBytes,
			func(t *testing.T, key string) *ingestv1.Event { return typedRaw(key, itemView, []byte{0xff, 0xff}) }},
		{"json malformed", ingestv1.RejectReason_REJECT_REASON_MALFORMED, "json.data", "", jsonHasNoNaN,
			func(t *testing.T, key string) *ingestv1.Event {
				data := &structpb.Struct{Fields: map[string]*structpb.Value{"itemId": structpb.NewNumberValue(math.NaN())}}
				return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{Name: itemView, Data: data}}}
			}},
		{"mobile malformed", ingestv1.RejectReason_REJECT_REASON_MALFORMED, "item_id", "", "",
			func(t *testing.T, key string) *ingestv1.Event { return mobileEvent(key, 1001, 2, with("itemId", "8")) }},

		{"empty", ingestv1.RejectReason_REJECT_REASON_EMPTY, "payload", "", "",
			func(t *testing.T, key string) *ingestv1.Event { return &ingestv1.Event{IdempotencyKey: key} }},
	}

	senders := map[string]sender{"": newSender(t, url, s.IngestKey()), "web": newSender(t, url, web.GetSecret())}
	sent := map[string]ingestv1.RejectReason{}
	paths := map[string]string{}
	for i, tc := range cases {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.String(), func(t *testing.T) {
				if p == viaREST && tc.noREST != "" {
					t.Skip(tc.noREST)
				}
				key := fmt.Sprintf("reason-%02d-%s", i, p)
				resp := senders[tc.key].send(t, p, &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{tc.event(t, key)}})
				r := resp.GetResults()[0]
				if r.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_REJECTED || r.GetRejection().GetReason() != tc.reason || r.GetRejection().GetFieldPath() != tc.path {
					t.Errorf("answered %v; want REJECTED %s at %q", r, tc.reason, tc.path)
				}
				if r.GetRejection().GetMessage() == "" {
					t.Errorf("rejection %v has no message", r.GetRejection())
				}
				// Only verdicts that depend on the registry's state can change
				// on a retry of the same event.
				wantRetry := tc.reason == ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT ||
					tc.reason == ingestv1.RejectReason_REJECT_REASON_UNKNOWN_VERSION ||
					tc.reason == ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED
				if r.GetRejection().GetRetryable() != wantRetry {
					t.Errorf("%s: retryable = %v, want %v", tc.reason, r.GetRejection().GetRetryable(), wantRetry)
				}
				sent[key], paths[key] = tc.reason, tc.path
			})
		}
	}

	onDead, reasons := storedIDs(t, s.Bus(), bus.StreamDeadLetter, ingest.HeaderReason)
	_, fieldPaths := storedIDs(t, s.Bus(), bus.StreamDeadLetter, ingest.HeaderFieldPath)
	for key, reason := range sent {
		if onDead["dl-"+key] != 1 || reasons["dl-"+key] != reason.String() || fieldPaths["dl-"+key] != paths[key] {
			t.Errorf("%s: %d dead letters with reason %q at %q; want one with %s at %q",
				key, onDead["dl-"+key], reasons["dl-"+key], fieldPaths["dl-"+key], reason, paths[key])
		}
	}
	if onEvents, _ := storedIDs(t, s.Bus(), bus.StreamEvents, ""); len(onEvents) != 0 {
		t.Errorf("%d rejected events are on EVENTS: %v", len(onEvents), keys(onEvents))
	}
}

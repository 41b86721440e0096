package ingest_test

import (
	"context"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// The catalogues of the tests: the repo's catalogue as the registry compiles
// it, and the same with testdata/fixture laid beside it (KitchenSinkV1, id
// 9001, a field of every kind). Each is compiled once per test binary.
var (
	realDescriptors = sync.OnceValues(func() (*descriptorpb.FileDescriptorSet, error) {
		set, err := schema.Compile(context.Background(), protosrc.FS)
		if err != nil {
			return nil, err
		}
		return set.FileDescriptorSet(), nil
	})
	fixtureDescriptors = sync.OnceValues(func() (*descriptorpb.FileDescriptorSet, error) {
		real, err := realDescriptors()
		if err != nil {
			return nil, err
		}
		set, err := schema.Compile(context.Background(), os.DirFS("testdata"), protosrc.FS)
		if err != nil {
			return nil, err
		}
		// The fixture's imports are files of the real catalogue: keep one
		// copy of each, dependencies first.
		merged := proto.Clone(real).(*descriptorpb.FileDescriptorSet)
		have := map[string]bool{}
		for _, f := range merged.GetFile() {
			have[f.GetName()] = true
		}
		for _, f := range set.FileDescriptorSet().GetFile() {
			if !have[f.GetName()] {
				merged.File = append(merged.File, f)
			}
		}
		return merged, nil
	})
)

// realCatalogue is the repo's event catalogue.
func realCatalogue(t testing.TB) *ingest.Catalogue {
	t.Helper()
	return newCatalogue(t, realDescriptors)
}

// fixtureCatalogue is the repo's catalogue and KitchenSinkV1.
func fixtureCatalogue(t testing.TB) *ingest.Catalogue {
	t.Helper()
	return newCatalogue(t, fixtureDescriptors)
}

func newCatalogue(t testing.TB, fds func() (*descriptorpb.FileDescriptorSet, error)) *ingest.Catalogue {
	t.Helper()
	set, err := fds()
	if err != nil {
		t.Fatalf("compile catalogue: %v", err)
	}
	c, err := ingest.NewCatalogue(set, 7)
	if err != nil {
		t.Fatalf("NewCatalogue: %v", err)
	}
	return c
}

const kitchenSink = "fixture.v1.KitchenSinkV1"

// occurred is the occurred_at of the events the tests build.
var occurred = time.Date(2024, 5, 1, 12, 0, 0, 500_000_000, time.UTC)

func testContext() *eventsv1.Context {
	return &eventsv1.Context{
		UserId:     "u-42",
		DeviceId:   "d-1",
		Geo:        &eventsv1.Geo{Latitude: 55.75, Longitude: 37.61, City: "Moscow"},
		Platform:   eventsv1.Platform_PLATFORM_IOS,
		AppVersion: "7.12.0",
		OccurredAt: timestamppb.New(occurred),
	}
}

func itemView() *eventsv1.ItemViewV2 {
	return &eventsv1.ItemViewV2{
		Context:    testContext(),
		ItemId:     4815162342,
		CategoryId: 24,
		Referrer:   "search",
		Price:      &eventsv1.Money{AmountMinor: 129900, Currency: "EUR"},
	}
}

func photoStatus() *eventsv1.PhotoStatusChangedV2 {
	return &eventsv1.PhotoStatusChangedV2{
		Context:        testContext(),
		PhotoId:        "p-1",
		ObjectId:       "o-1",
		Status:         eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE,
		PreviousStatus: eventsv1.ContentStatus_CONTENT_STATUS_MODERATION,
	}
}

// itemViewParams is the map form of itemView().
func itemViewParams() map[string]string {
	return map[string]string{
		"context.user_id":       "u-42",
		"context.device_id":     "d-1",
		"context.geo.latitude":  "55.75",
		"context.geo.longitude": "37.61",
		"context.geo.city":      "Moscow",
		"context.platform":      "ios",
		"context.app_version":   "7.12.0",
		"item_id":               "4815162342",
		"category_id":           "24",
		"referrer":              "search",
		"price.amount_minor":    "129900",
		"price.currency":        "EUR",
	}
}

func typed(t testing.TB, key string, m proto.Message) *ingestv1.Event {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatalf("anypb.New: %v", err)
	}
	return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Typed{Typed: a}}
}

// typedBytes is a typed event with hand-made payload bytes.
func typedBytes(key, name string, payload []byte) *ingestv1.Event {
	return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Typed{Typed: &anypb.Any{
		TypeUrl: "type.googleapis.com/" + name,
		Value:   payload,
	}}}
}

// jsonOf is a JSON event carrying m in protobuf JSON, named by full name.
func jsonOf(t testing.TB, key string, m proto.Message) *ingestv1.Event {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatalf("protojson.Marshal: %v", err)
	}
	return jsonEvent(t, key, &ingestv1.JsonEvent{Name: string(m.ProtoReflect().Descriptor().FullName())}, string(b))
}

// jsonEvent is a JSON event with the given naming and data as JSON text.
func jsonEvent(t testing.TB, key string, j *ingestv1.JsonEvent, data string) *ingestv1.Event {
	t.Helper()
	s := &structpb.Struct{}
	if err := protojson.Unmarshal([]byte(data), s); err != nil {
		t.Fatalf("JSON data %s: %v", data, err)
	}
	j = proto.Clone(j).(*ingestv1.JsonEvent)
	j.Data = s
	return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Json{Json: j}}
}

func mobile(key string, id, version uint32, params map[string]string) *ingestv1.Event {
	return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Mobile{Mobile: &eventsv1.MobileAppEvent{
		EventId:   id,
		Version:   version,
		Timestamp: timestamppb.New(occurred),
		Params:    params,
	}}}
}

// withParams returns a copy of params with key, value pairs set.
func withParams(params map[string]string, kv ...string) map[string]string {
	out := maps.Clone(params)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// without returns a copy of params without keys.
func without(params map[string]string, keys ...string) map[string]string {
	out := maps.Clone(params)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// wantRejection checks a rejection against the expected reason, field path
// and fragments of the message.
func wantRejection(t testing.TB, got *ingestv1.Rejection, reason ingestv1.RejectReason, path string, inMessage ...string) {
	t.Helper()
	if got == nil {
		t.Fatalf("accepted; want rejected %s at %q", reason, path)
	}
	if got.GetReason() != reason || got.GetFieldPath() != path {
		t.Errorf("rejected %s at %q (%s); want %s at %q", got.GetReason(), got.GetFieldPath(), got.GetMessage(), reason, path)
	}
	for _, s := range inMessage {
		if !strings.Contains(got.GetMessage(), s) {
			t.Errorf("rejection message %q does not contain %q", got.GetMessage(), s)
		}
	}
}

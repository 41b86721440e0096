package ingest

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// BenchmarkValidate measures validation of one ItemViewV2 in each form as
// SendBatch runs it (Catalogue.validate): a typed payload valid as received
// is checked on the wire and not decoded, a map-form event is converted on
// the wire. The JSON and map forms report their time against the typed one
// measured in the same run (x_typed). BenchmarkDecode also builds the
// message that Decode hands to the tests.
func BenchmarkValidate(b *testing.B) {
	set, err := schema.Compile(context.Background(), protosrc.FS)
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewCatalogue(set.FileDescriptorSet(), 1)
	if err != nil {
		b.Fatal(err)
	}
	occurred := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	view := &eventsv1.ItemViewV2{
		Context: &eventsv1.Context{
			UserId: "u-42", DeviceId: "d-1", Platform: eventsv1.Platform_PLATFORM_IOS, AppVersion: "7.12.0",
			Geo:        &eventsv1.Geo{Latitude: 55.75, Longitude: 37.61, City: "Moscow"},
			OccurredAt: timestamppb.New(occurred),
		},
		ItemId: 4815162342, CategoryId: 24, Referrer: "search",
		Price: &eventsv1.Money{AmountMinor: 129900, Currency: "EUR"},
	}
	payload, err := anypb.New(view)
	if err != nil {
		b.Fatal(err)
	}
	data := &structpb.Struct{}
	if js, err := protojson.Marshal(view); err != nil {
		b.Fatal(err)
	} else if err := protojson.Unmarshal(js, data); err != nil {
		b.Fatal(err)
	}
	forms := []struct {
		name string
		ev   *ingestv1.Event
	}{
		{"typed", &ingestv1.Event{Payload: &ingestv1.Event_Typed{Typed: payload}}},
		{"json", &ingestv1.Event{Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{
			Name: "clickstream.events.v1.ItemViewV2", Data: data,
		}}}},
		{"mobile", &ingestv1.Event{Payload: &ingestv1.Event_Mobile{Mobile: &eventsv1.MobileAppEvent{
			EventId: 1001, Version: 2, Timestamp: timestamppb.New(occurred),
			Params: map[string]string{
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
			},
		}}}},
	}
	var typedNs float64
	for _, f := range forms {
		b.Run(f.name, func(b *testing.B) {
			d := c.validate(f.ev, 64<<10)
			if d.rejection != nil {
				b.Fatalf("rejected: %v", d.rejection)
			}
			if f.name != "json" && !d.asReceived {
				b.Fatalf("%s: not valid on the wire; the benchmark would measure the full path", f.name)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.validate(f.ev, 64<<10)
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if f.name == "typed" {
				typedNs = ns
			} else if typedNs > 0 {
				b.ReportMetric(ns/typedNs, "x_typed")
			}
		})
	}
}

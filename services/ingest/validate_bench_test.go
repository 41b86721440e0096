package ingest

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// BenchmarkTypedAsReceived measures validation of one typed ItemViewV2
// as SendBatch runs it: a payload valid as received is checked on the wire
// and not decoded (BenchmarkValidate/typed also builds the message that
// Decode hands to the tests).
func BenchmarkTypedAsReceived(b *testing.B) {
	set, err := schema.Compile(context.Background(), protosrc.FS)
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewCatalogue(set.FileDescriptorSet(), 1)
	if err != nil {
		b.Fatal(err)
	}
	payload, err := anypb.New(&eventsv1.ItemViewV2{
		Context: &eventsv1.Context{
			UserId: "u-42", DeviceId: "d-1", Platform: eventsv1.Platform_PLATFORM_IOS, AppVersion: "7.12.0",
			Geo:        &eventsv1.Geo{Latitude: 55.75, Longitude: 37.61, City: "Moscow"},
			OccurredAt: timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)),
		},
		ItemId: 4815162342, CategoryId: 24, Referrer: "search",
		Price: &eventsv1.Money{AmountMinor: 129900, Currency: "EUR"},
	})
	if err != nil {
		b.Fatal(err)
	}
	ev := &ingestv1.Event{Payload: &ingestv1.Event_Typed{Typed: payload}}
	if d := c.validate(ev, 64<<10); d.rejection != nil || !d.asReceived {
		b.Fatalf("not valid as received: %v", d.rejection)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.validate(ev, 64<<10)
	}
}

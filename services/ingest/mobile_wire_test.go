package ingest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// FuzzMobileWire checks the map form's wire conversion against the full
// conversion: whatever the wire path accepts, mobileToMessage accepts as the
// same message, with every required field set.
func FuzzMobileWire(f *testing.F) {
	set, err := schema.Compile(context.Background(), protosrc.FS)
	if err != nil {
		f.Fatal(err)
	}
	c, err := NewCatalogue(set.FileDescriptorSet(), 1)
	if err != nil {
		f.Fatal(err)
	}
	var events []EventType
	for _, t := range c.byName {
		events = append(events, t)
	}
	// Map order: sort for a stable corpus.
	slices.SortFunc(events, func(a, b EventType) int { return strings.Compare(a.FullName(), b.FullName()) })
	seeds := []string{
		"context.user_id\x00u-42\x00context.geo.latitude\x0055.75\x00context.platform\x00ios\x00item_id\x004815162342\x00price.amount_minor\x00129900\x00price.currency\x00EUR",
		"context.userId\x00u\x00context.occurred_at\x002024-05-01T12:00:00.5Z\x00itemId\x00-1\x00category_id\x000",
		"context.occurredAt\x001714564800.25\x00context.geo.city\x00\x00item_id\x0018446744073709551615\x00context.platform\x002",
		"item_id\x001\x00itemId\x002",
		"price\x00{}\x00price.currency\x00EUR",
		"context.geo.latitude\x00NaN\x00context.geo.longitude\x00-0\x00referrer\x00\xff",
	}
	for i, s := range seeds {
		f.Add(uint8(i), int64(1714564800), int32(5), s)
	}
	f.Fuzz(func(t *testing.T, pick uint8, seconds int64, nanos int32, encoded string) {
		typ := events[int(pick)%len(events)]
		params := map[string]string{}
		parts := strings.Split(encoded, "\x00")
		for i := 0; i < len(parts); i += 2 {
			v := ""
			if i+1 < len(parts) {
				v = parts[i+1]
			}
			params[parts[i]] = v
		}
		m := &eventsv1.MobileAppEvent{EventId: typ.ID, Version: typ.Version, Params: params}
		if seconds != 0 || nanos != 0 {
			m.Timestamp = &timestamppb.Timestamp{Seconds: seconds, Nanos: nanos}
		}
		if !validParams(params) {
			return // convertMobile rejects these before either conversion
		}
		w := c.wire[typ.Descriptor.FullName()]
		b, ok := mobileWire(w, m, 0)
		if !ok || !wireValid(b, w, 0) {
			return
		}
		want, rej := mobileToMessage(typ, m)
		if rej != nil {
			t.Fatalf("%s %q: the wire path accepts what the full path rejects: %v", typ.FullName(), params, rej)
		}
		if path, missing := c.missingRequired(want); missing {
			t.Fatalf("%s %q: the wire path accepts what misses required field %s", typ.FullName(), params, path)
		}
		got := dynamicpb.NewMessage(typ.Descriptor)
		wireFill(b, got, w)
		if !proto.Equal(got, want) {
			t.Fatalf("%s %q: wire path %v, full path %v", typ.FullName(), params, got, want)
		}
		if full, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(want); string(full) != string(b) {
			t.Fatalf("%s %q: wire path encodes %x, the full path %x", typ.FullName(), params, b, full)
		}
	})
}

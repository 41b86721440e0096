package ingest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// FuzzJSONEvent sends arbitrary JSON as the data of a JSON event, named by
// arbitrary name or id and version, through SendBatch on a real bus: it never
// panics, never fails the batch, answers one verdict, and every failure is
// REJECTED with a reason and a message. Data protojson cannot decode into
// the named message is never ACCEPTED.
func FuzzJSONEvent(f *testing.F) {
	const itemView = "clickstream.events.v1.ItemViewV2"
	seeds := []struct {
		name        string
		id, version uint32
		data        string
	}{
		{itemView, 0, 0, `{"context":{"userId":"u-42","geo":{"latitude":55.75}},"itemId":"4815162342","categoryId":24,"referrer":"search","price":{"amountMinor":"129900","currency":"EUR"}}`},
		{"", 1001, 2, `{"context":{},"itemId":7}`},
		{"", 1001, 2, `{"context":{},"item_id":"7"}`},
		{"", 1001, 1, `{"itemId":7}`},
		{"", 1001, 7, `{}`},
		{"", 4242, 1, `{}`},
		{"", 0, 0, `{}`},
		{itemView, 0, 0, `{"context":{},"itemId":"abc"}`},
		{itemView, 0, 0, `{"context":{},"itemId":7.5}`},
		{itemView, 0, 0, `{"context":{},"itemId":1e300}`},
		{itemView, 0, 0, `{"context":{},"itemId":"9223372036854775808"}`},
		{itemView, 0, 0, `{"context":[],"itemId":7}`},
		{itemView, 0, 0, `{"context":null,"itemId":null}`},
		{itemView, 0, 0, `{"context":{"platform":"PLATFORM_IOS","occurredAt":"2024-05-01T12:00:00Z"},"itemId":7}`},
		{itemView, 0, 0, `{"context":{"platform":"NOPE","occurredAt":"yesterday"},"itemId":7}`},
		{itemView, 0, 0, `{"context":{"platform":99},"itemId":7}`},
		{itemView, 0, 0, `{"context":{},"itemId":7,"colour":"red"}`},
		{itemView, 0, 0, `{"context":{"geo":{"latitude":"NaN","longitude":"Infinity"}},"itemId":7}`},
		{itemView, 0, 0, `{"context":{"a":{"b":{"c":{"d":[1,[2,[3,{"e":null}]]]}}}},"itemId":7}`},
		{"clickstream.events.v1.PhotoStatusChangedV2", 0, 0, `{"context":{},"photoId":"p","status":"CONTENT_STATUS_ACTIVE","previousStatus":3}`},
		{"clickstream.events.v1.AdAuctionV1", 0, 0, `{"context":{},"bids":[{},{"x":1}]}`},
		{"clickstream.events.v1.NoSuchEventV1", 0, 0, `{}`},
		{"clickstream.events.v1.Context", 0, 0, `{"userId":"u"}`},
		{"google.protobuf.Struct", 0, 0, `{"a":1}`},
		{itemView, 0, 0, `{"context":{},"itemId":7,"referrer":"\u0000\ud800"}`},
		{itemView, 0, 0, `not json`},
	}
	for _, s := range seeds {
		f.Add(s.name, s.id, s.version, []byte(s.data))
	}

	catalogue := realCatalogue(f)
	svc := ingest.New(ingest.Config{Environment: env}, catalogue, bustest.New(f))
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, name string, id, version uint32, data []byte) {
		st := &structpb.Struct{}
		if err := protojson.Unmarshal(data, st); err != nil || !utf8.ValidString(name) {
			// Neither JSON nor protobuf transports carry this to ingest:
			// the request itself is rejected before SendBatch.
			return
		}
		ev := &ingestv1.Event{
			IdempotencyKey: fmt.Sprintf("fuzz-%d", n.Add(1)),
			Payload:        &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{Name: name, EventId: id, Version: version, Data: st}},
		}
		_, _, _, rej := catalogue.Decode(ev, ingest.DefaultConfig().MaxEventBytes)
		resp, err := svc.SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{ev}})
		if err != nil {
			t.Fatalf("SendBatch failed the batch: %v", err)
		}
		if len(resp.GetResults()) != 1 {
			t.Fatalf("%d results for one event", len(resp.GetResults()))
		}
		r := resp.GetResults()[0]
		switch r.GetStatus() {
		case ingestv1.EventStatus_EVENT_STATUS_ACCEPTED:
			if rej != nil {
				t.Fatalf("ACCEPTED although decode rejects it: %v", rej)
			}
		case ingestv1.EventStatus_EVENT_STATUS_REJECTED:
			if r.GetRejection().GetReason() == ingestv1.RejectReason_REJECT_REASON_UNSPECIFIED || r.GetRejection().GetMessage() == "" {
				t.Fatalf("REJECTED without a reason or message: %v", r)
			}
			if rej.GetReason() != r.GetRejection().GetReason() {
				t.Fatalf("SendBatch rejected %v, decode %v", r.GetRejection(), rej)
			}
			return
		default:
			t.Fatalf("status %v for a new idempotency key; want ACCEPTED or REJECTED", r.GetStatus())
		}

		// Accepted: the event names a registered version and protojson
		// decodes the data into it.
		et, ok := catalogue.ByName(name)
		if name == "" {
			et, ok, _ = catalogue.ByID(id, version)
		}
		if !ok {
			t.Fatalf("ACCEPTED an event naming %q (event %d v%d), which is not registered", name, id, version)
		}
		text, err := protojson.Marshal(st)
		if err != nil {
			t.Fatalf("ACCEPTED data protojson cannot encode: %v", err)
		}
		if err := protojson.Unmarshal(text, dynamicpb.NewMessage(et.Descriptor)); err != nil {
			t.Fatalf("ACCEPTED %s data that is not its protobuf JSON (%v): %s", et.FullName(), err, text)
		}
	})
}

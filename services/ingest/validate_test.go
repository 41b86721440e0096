package ingest_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

const maxEventBytes = 64 << 10

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unknownField99 is field 99 (varint 1), which no event defines.
func unknownField99() []byte {
	b := protowire.AppendTag(nil, 99, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

// embed appends message field num holding b.
func embed(dst []byte, num protowire.Number, b []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, b)
}

// itemViewUnknownInContext is ItemViewV2 whose context carries field 99.
func itemViewUnknownInContext(t testing.TB) []byte {
	ev := itemView()
	ctx := append(marshal(t, ev.Context), unknownField99()...)
	ev.Context = nil
	return embed(marshal(t, ev), 1, ctx)
}

// adAuctionUnknownInBid is AdAuctionV1 whose second bid's amount carries field 99.
func adAuctionUnknownInBid(t testing.TB) []byte {
	ev := &eventsv1.AdAuctionV1{Context: testContext(), AuctionId: "a-1", Slot: "serp_top"}
	b := marshal(t, ev)
	b = embed(b, 4, marshal(t, &eventsv1.Bid{CampaignId: "c-1", Amount: &eventsv1.Money{AmountMinor: 5}}))
	amount := append(marshal(t, &eventsv1.Money{AmountMinor: 7}), unknownField99()...)
	return embed(b, 4, embed(marshal(t, &eventsv1.Bid{CampaignId: "c-2"}), 2, amount))
}

// kitchenSinkTyped is a typed KitchenSinkV1 from protobuf JSON.
func kitchenSinkTyped(t testing.TB, c *ingest.Catalogue, data string) *ingestv1.Event {
	t.Helper()
	et, ok := c.ByName(kitchenSink)
	if !ok {
		t.Fatal("no KitchenSinkV1 in the fixture catalogue")
	}
	m := dynamicpb.NewMessage(et.Descriptor)
	if err := protojson.Unmarshal([]byte(data), m); err != nil {
		t.Fatalf("KitchenSinkV1 %s: %v", data, err)
	}
	return typedBytes("", kitchenSink, marshal(t, m))
}

// TestDecode covers the verdicts common to the three forms; mobile_test.go
// covers the conversion of map-form values.
func TestDecode(t *testing.T) {
	c := fixtureCatalogue(t)
	const itemViewV2 = "clickstream.events.v1.ItemViewV2"
	noItemID := itemView()
	noItemID.ItemId = 0
	tests := []struct {
		name     string
		ev       *ingestv1.Event
		maxBytes int
		// Accepted: the message the event must decode to.
		want proto.Message
		// Rejected: reason, field path and fragments of the message.
		reason    ingestv1.RejectReason
		path      string
		inMessage []string
	}{
		// Typed.
		{name: "typed valid", ev: typed(t, "", itemView()), want: itemView()},
		{name: "typed valid with another type URL prefix", ev: typedBytes("", itemViewV2, marshal(t, itemView())), want: itemView()},
		{
			name: "typed unknown event", ev: typedBytes("", "clickstream.events.v1.ItemViewV9", nil),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, path: "typed.type_url", inMessage: []string{"clickstream.events.v1.ItemViewV9"},
		},
		{
			name: "typed message that is not an event", ev: typed(t, "", testContext()),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, path: "typed.type_url", inMessage: []string{"clickstream.events.v1.Context"},
		},
		{
			name: "typed unknown top-level field", ev: typedBytes("", itemViewV2, append(marshal(t, itemView()), unknownField99()...)),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, path: "#99", inMessage: []string{itemViewV2, "field number 99 at the top level"},
		},
		{
			name: "typed unknown field in context", ev: typedBytes("", itemViewV2, itemViewUnknownInContext(t)),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, path: "context.#99", inMessage: []string{itemViewV2, "field number 99 in context"},
		},
		{
			name: "typed unknown field in a repeated message", ev: typedBytes("", "clickstream.events.v1.AdAuctionV1", adAuctionUnknownInBid(t)),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, path: "bids[1].amount.#99", inMessage: []string{"clickstream.events.v1.AdAuctionV1"},
		},
		{
			name: "typed missing required item_id", ev: typed(t, "", noItemID),
			reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path: "item_id", inMessage: []string{itemViewV2, "item_id"},
		},
		{
			name: "typed missing required context", ev: typed(t, "", &eventsv1.ItemViewV2{ItemId: 1}),
			reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path: "context", inMessage: []string{itemViewV2},
		},
		{
			name: "typed missing nested required", ev: kitchenSinkTyped(t, c, `{"context":{}, "shipping":{"street":"Tverskaya"}}`),
			reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path: "shipping.city", inMessage: []string{kitchenSink},
		},
		{
			name: "typed missing required in a repeated message", ev: kitchenSinkTyped(t, c, `{"context":{}, "lines":[{"sku":"a"},{"quantity":2}]}`),
			reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path: "lines[1].sku", inMessage: []string{kitchenSink},
		},
		{
			name: "typed missing required in a map value", ev: kitchenSinkTyped(t, c, `{"context":{}, "linesBySku":{"a":{"sku":"a"},"b":{}}}`),
			reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path: `lines_by_sku["b"].sku`, inMessage: []string{kitchenSink},
		},
		{
			name: "typed not protobuf", ev: typedBytes("", itemViewV2, []byte{0xff, 0xff, 0xff}),
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED, path: "", inMessage: []string{itemViewV2, "not valid protobuf"},
		},
		{
			name: "typed too large", ev: typed(t, "", itemView()), maxBytes: 16,
			reason: ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, path: "", inMessage: []string{itemViewV2, "the limit is 16 bytes"},
		},

		// JSON.
		{name: "json valid by name", ev: jsonOf(t, "", itemView()), want: itemView()},
		{
			name: "json valid by id and version",
			ev:   jsonEvent(t, "", &ingestv1.JsonEvent{EventId: 2001, Version: 2}, `{"context":{}, "photoId":"p", "object_id":"o", "status":"CONTENT_STATUS_BLOCKED"}`),
			want: &eventsv1.PhotoStatusChangedV2{Context: &eventsv1.Context{}, PhotoId: "p", ObjectId: "o", Status: eventsv1.ContentStatus_CONTENT_STATUS_BLOCKED},
		},
		{
			name: "json unknown name", ev: jsonEvent(t, "", &ingestv1.JsonEvent{Name: "ItemViewV2"}, `{}`),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, path: "json.name", inMessage: []string{`"ItemViewV2"`},
		},
		{
			name: "json unknown event id", ev: jsonEvent(t, "", &ingestv1.JsonEvent{EventId: 4242, Version: 1}, `{}`),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, path: "json.event_id", inMessage: []string{"4242"},
		},
		{
			name: "json unknown version", ev: jsonEvent(t, "", &ingestv1.JsonEvent{EventId: 1001, Version: 3}, `{}`),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_VERSION, path: "json.version", inMessage: []string{"1001", "version 3", "[1 2]"},
		},
		{
			name: "json unknown field", ev: jsonEvent(t, "", &ingestv1.JsonEvent{Name: itemViewV2}, `{"context":{}, "itemId":"1", "colour":"red"}`),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, path: "colour", inMessage: []string{itemViewV2, "colour"},
		},
		{
			name: "json wrong type", ev: jsonEvent(t, "", &ingestv1.JsonEvent{Name: itemViewV2}, `{"context":{}, "itemId":"abc"}`),
			reason: ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, path: "itemId", inMessage: []string{itemViewV2, "itemId", `"abc"`},
		},
		{
			name: "json missing required item_id", ev: jsonEvent(t, "", &ingestv1.JsonEvent{Name: itemViewV2}, `{"context":{"userId":"u"}}`),
			reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path: "item_id", inMessage: []string{itemViewV2},
		},
		{
			name: "json missing nested required", ev: jsonEvent(t, "", &ingestv1.JsonEvent{Name: kitchenSink}, `{"context":{}, "shipping":{}}`),
			reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path: "shipping.city", inMessage: []string{kitchenSink},
		},
		{
			name: "json too large", ev: jsonOf(t, "", itemView()), maxBytes: 32,
			reason: ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, path: "", inMessage: []string{itemViewV2, "the limit is 32 bytes"},
		},

		// Mobile.
		{name: "mobile valid", ev: mobile("", 1001, 2, itemViewParams()), want: itemView()},
		{
			name: "mobile unknown event", ev: mobile("", 4242, 1, itemViewParams()),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, path: "mobile.event_id", inMessage: []string{"event id 4242"},
		},
		{
			name: "mobile unknown version", ev: mobile("", 1001, 3, itemViewParams()),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_VERSION, path: "mobile.version", inMessage: []string{"event 1001 (ItemView) has no version 3", "[1 2]"},
		},
		{
			name: "mobile unknown field", ev: mobile("", 1001, 2, withParams(itemViewParams(), "colour", "red")),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, path: "colour", inMessage: []string{itemViewV2, `no field "colour"`},
		},
		{
			name: "mobile unknown nested field", ev: mobile("", 1001, 2, withParams(itemViewParams(), "context.geo.altitude", "120")),
			reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, path: "context.geo.altitude", inMessage: []string{itemViewV2, `clickstream.events.v1.Geo has no field "altitude"`},
		},
		{
			name: "mobile wrong type", ev: mobile("", 1001, 2, withParams(itemViewParams(), "item_id", "abc")),
			reason: ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, path: "item_id", inMessage: []string{`clickstream.events.v1.ItemViewV2: field item_id (int64): "abc" is not an integer`},
		},
		{
			name: "mobile missing required item_id", ev: mobile("", 1001, 2, without(itemViewParams(), "item_id")),
			reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path: "item_id", inMessage: []string{itemViewV2},
		},
		{
			name: "mobile missing nested required", ev: mobile("", 9001, 1, map[string]string{"context.user_id": "u", "shipping.street": "Tverskaya"}),
			reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path: "shipping.city", inMessage: []string{kitchenSink},
		},
		{
			name: "mobile too large", ev: mobile("", 1001, 2, itemViewParams()), maxBytes: 64,
			reason: ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, path: "mobile", inMessage: []string{itemViewV2, "the limit is 64 bytes"},
		},
		{
			name: "mobile too many params", ev: mobile("", 1001, 2, manyParams(300)),
			reason: ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, path: "mobile.params", inMessage: []string{itemViewV2, "300 params"},
		},

		// No payload.
		{
			name: "no payload", ev: &ingestv1.Event{IdempotencyKey: "k"},
			reason: ingestv1.RejectReason_REJECT_REASON_EMPTY, path: "payload", inMessage: []string{"no payload"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxBytes := tt.maxBytes
			if maxBytes == 0 {
				maxBytes = maxEventBytes
			}
			et, msg, _, rej := c.Decode(tt.ev, maxBytes)
			if tt.want == nil {
				wantRejection(t, rej, tt.reason, tt.path, tt.inMessage...)
				return
			}
			if rej != nil {
				t.Fatalf("rejected: %v", rej)
			}
			if et.FullName() != string(tt.want.ProtoReflect().Descriptor().FullName()) {
				t.Errorf("decoded as %s, want %s", et.FullName(), tt.want.ProtoReflect().Descriptor().FullName())
			}
			got := tt.want.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(marshal(t, msg), got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("decoded\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

// manyParams is n params; the limit on their number applies before their keys are looked up.
func manyParams(n int) map[string]string {
	p := itemViewParams()
	for i := len(p); i < n; i++ {
		p["context.app_version"+string(rune('a'+i%26))+string(rune('a'+i/26))] = "x"
	}
	return p
}

// BenchmarkDecode measures Decode of one ItemViewV2 in each form: validation
// and the decoded message the tests look at, which SendBatch builds only
// when it must rewrite pii fields (BenchmarkValidate measures what SendBatch
// runs). It reports the JSON and mobile forms against the typed one measured
// in the same run.
func BenchmarkDecode(b *testing.B) {
	c := realCatalogue(b)
	forms := []struct {
		name string
		ev   *ingestv1.Event
	}{
		{"typed", typed(b, "", itemView())},
		{"json", jsonOf(b, "", itemView())},
		{"mobile", mobile("", 1001, 2, itemViewParams())},
	}
	var typedNs float64
	for _, f := range forms {
		b.Run(f.name, func(b *testing.B) {
			if _, _, _, rej := c.Decode(f.ev, maxEventBytes); rej != nil {
				b.Fatalf("rejected: %v", rej)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Decode(f.ev, maxEventBytes)
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

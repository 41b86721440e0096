package ingest_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// jsonEventSeeds are events of a JSON batch: the JSON form as web sends it
// (the hot path) and shapes the hot path leaves to the general way.
var jsonEventSeeds = []struct {
	raw  string
	fast bool // the hot path takes it
}{
	{`{"idempotencyKey":"k1","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"userId":"u-1","platform":"PLATFORM_ANDROID"},"itemId":"4815162342","categoryId":24,"referrer":"search"}}}`, true},
	{` { "idempotency_key" : "k2" , "json" : { "eventId" : 1001 , "version" : 2 , "data" : { "context" : { } , "itemId" : 7 } } } `, true},
	{`{"json":{"event_id":1001,"version":2,"data":{"context":{"geo":{"latitude":55.75}},"itemId":7.0,"price":{"amountMinor":"129900","currency":"EUR"}}},"idempotencyKey":"k3"}`, true},
	{`{"idempotencyKey":"k4","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":7,"colour":"red"}}}`, true},
	{`{"idempotencyKey":"k5","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"geo":{"altitude":3}},"itemId":7}}}`, true},
	{`{"idempotencyKey":"k6","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":"abc"}}}`, true},
	{`{"idempotencyKey":"k7","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{}}}}`, true},
	{`{"idempotencyKey":"k8","json":{"name":"clickstream.events.v1.NoSuchEventV1","data":{}}}`, true},
	{`{"idempotencyKey":"k9","json":{"eventId":1001,"version":99,"data":{}}}`, true},
	{`{"idempotencyKey":"k10","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"platform":"NOPE"},"itemId":7}}}`, true},
	{`{"idempotencyKey":"k11","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":7,"itemId":8}}}`, true},
	{`{"idempotencyKey":"k12","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":1e300}}}`, true},
	{`{"idempotencyKey":"k13","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"occurredAt":"2024-05-01T12:00:00Z"},"itemId":7,"referrer":"\u00e9\"\\"}}}`, true},
	{`{"idempotencyKey":"k14","json":{"name":"clickstream.events.v1.AdAuctionV1","data":{"context":{},"bids":[{},{"x":1}]}}}`, true},
	// Shapes for the general way.
	{`{"idempotencyKey":"k\u0031","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":7}}}`, false},
	{`{"idempotencyKey":"k16","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":7}},"idempotencyKey":"k"}`, false},
	{`{"idempotencyKey":"k17","json":{"name":"clickstream.events.v1.ItemViewV2","eventId":"1001","data":{"context":{},"itemId":7}}}`, false},
	{`{"idempotencyKey":"k18","json":{"name":"clickstream.events.v1.ItemViewV2","data":null}}`, false},
	{`{"idempotencyKey":"k19","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":7},"extra":1}}`, false},
	{`{"idempotencyKey":"k20","typed":{"@type":"type.googleapis.com/clickstream.events.v1.ItemViewV2","context":{},"itemId":"7"}}`, false},
	{`{"idempotencyKey":"k21","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":7,}}}`, false},
	{`{"idempotencyKey":null,"json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":7}}}`, false},
	{`[1,2]`, false},
	{`{"idempotencyKey":"k24"}`, false},
}

// bigNumber finds integers protojson reads exactly but google.protobuf.Struct
// (a double) cannot hold: the general way rounds them, the hot path does not.
var bigNumber = regexp.MustCompile(`[0-9]{16,}`)

// sameJSONEventVerdict checks that the hot path and the general way give
// the same verdict on raw: the same key, event version and payload when
// valid; the same reason and field path when not.
func sameJSONEventVerdict(t *testing.T, c *ingest.Catalogue, raw []byte) (tookFast bool) {
	t.Helper()
	const maxBytes = 1 << 20
	fKey, fType, fPayload, fRej, tookFast := c.DecodeJSONEventForTest(raw, true, maxBytes)
	sKey, sType, sPayload, sRej, _ := c.DecodeJSONEventForTest(raw, false, maxBytes)
	// A data the general way cannot even read as a google.protobuf.Struct
	// (a key given twice) is rejected before its event version is named;
	// the hot path names it: the same rejection, with its event.
	if fKey != sKey || (fType.FullName() != sType.FullName() && (sRej == nil || sType.Descriptor != nil)) {
		t.Errorf("%s\nhot path: key %q event %q; general way: key %q event %q", raw, fKey, fType.FullName(), sKey, sType.FullName())
	}
	switch {
	case (fRej == nil) != (sRej == nil):
		t.Errorf("%s\nhot path rejects %v; general way rejects %v", raw, fRej, sRej)
	case fRej != nil:
		if fRej.GetReason() != sRej.GetReason() || fRej.GetFieldPath() != sRej.GetFieldPath() {
			t.Errorf("%s\nhot path: %v %q; general way: %v %q", raw, fRej.GetReason(), fRej.GetFieldPath(), sRej.GetReason(), sRej.GetFieldPath())
		}
	case !bigNumber.Match(raw):
		f, s := dynamicpb.NewMessage(fType.Descriptor), dynamicpb.NewMessage(sType.Descriptor)
		if proto.Unmarshal(fPayload, f) != nil || proto.Unmarshal(sPayload, s) != nil || !proto.Equal(f, s) {
			t.Errorf("%s\nhot path payload %v; general way %v", raw, f, s)
		}
	}
	return tookFast
}

// The hot path of a JSON event (split without decoding, data decoded once
// into the message) gives the verdict the general way (protojson through
// google.protobuf.Struct) gives, for every shape, and takes the shape web
// sends.
func TestJSONEventHotPathAgreesWithGeneralWay(t *testing.T) {
	c := realCatalogue(t)
	fast := 0
	for _, s := range jsonEventSeeds {
		took := sameJSONEventVerdict(t, c, []byte(s.raw))
		if took != s.fast {
			t.Errorf("%s: hot path taken %v, want %v", s.raw, took, s.fast)
		}
		if took {
			fast++
		}
	}
	t.Logf("%d events, %d on the hot path", len(jsonEventSeeds), fast)
}

// An int64 beyond a double's 53 bits keeps every digit on the hot path.
func TestJSONEventHotPathKeepsBigIntegers(t *testing.T) {
	c := realCatalogue(t)
	raw := `{"idempotencyKey":"big","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{},"itemId":9007199254740993}}}`
	_, typ, payload, rej, took := c.DecodeJSONEventForTest([]byte(raw), true, 1<<20)
	if rej != nil || !took {
		t.Fatalf("rejected %v, hot path %v", rej, took)
	}
	m := dynamicpb.NewMessage(typ.Descriptor)
	if err := proto.Unmarshal(payload, m); err != nil {
		t.Fatal(err)
	}
	got := m.Get(typ.Descriptor.Fields().ByName("item_id")).Int()
	t.Logf("itemId %d", got)
	if got != 9007199254740993 {
		t.Errorf("itemId %d, want 9007199254740993", got)
	}
}

// FuzzJSONEventHotPath: on any event JSON, the hot path and the general way
// agree (sameJSONEventVerdict).
func FuzzJSONEventHotPath(f *testing.F) {
	for _, s := range jsonEventSeeds {
		f.Add([]byte(s.raw))
	}
	c := realCatalogue(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameJSONEventVerdict(t, c, raw)
	})
}

// A batch the hot path splits gives the events encoding/json gives; what
// it does not take is refused with encoding/json's word.
func TestDecodeBatchJSONSplits(t *testing.T) {
	for _, body := range []string{
		`{"events":[{"a":1}, {"b":[1,2,{"c":"}"}]} ,3,"x",null]}`,
		` {"events" : [] } `,
		`{}`,
		`{"events":null}`,
		`{"ev\u0065nts":[{"a":1}]}`,
		`{"events":[{"a":1}],"events":[{"b":2}]}`,
	} {
		req := &ingestv1.SendBatchRequest{}
		if err := ingest.DecodeBatchJSON([]byte(body), req); err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		var top map[string][]json.RawMessage
		if err := json.Unmarshal([]byte(body), &top); err != nil {
			t.Fatal(err)
		}
		want := top["events"]
		if len(req.GetEvents()) != len(want) {
			t.Errorf("%s: %d events, want %d", body, len(req.GetEvents()), len(want))
			continue
		}
		for i, ev := range req.GetEvents() {
			// The event's JSON travels among its unknown fields.
			if !strings.Contains(string(ev.ProtoReflect().GetUnknown()), string(want[i])) {
				t.Errorf("%s: event %d carries %q, want %s", body, i, ev.ProtoReflect().GetUnknown(), want[i])
			}
		}
	}
	for _, body := range []string{`{"events":[{"a":1},]}`, `{"events":[{"a":01}]}`, `{"events":[{"a":"\x"}]}`, `{"events":{}}`, `{"other":[]}`, `null`, `{"events":[]} x`} {
		err := ingest.DecodeBatchJSON([]byte(body), &ingestv1.SendBatchRequest{})
		t.Logf("%s: %v", body, err)
		if err == nil {
			t.Errorf("%s: decoded, want an error", body)
		}
	}
}

// The batch's verdicts written by EncodeBatchResponseJSON are what the
// gateway's protobuf JSON writes, as JSON values.
func TestEncodeBatchResponseJSON(t *testing.T) {
	resp := &ingestv1.SendBatchResponse{
		Results: []*ingestv1.EventResult{
			{Index: 0, Id: "k-1", Status: ingestv1.EventStatus_EVENT_STATUS_ACCEPTED},
			{Index: 1, Id: "quote\" back\\slash \n\t\x01 é ✓ \u2028", Status: ingestv1.EventStatus_EVENT_STATUS_DUPLICATE},
			{Index: 2, Id: "", Status: ingestv1.EventStatus_EVENT_STATUS_REJECTED, Rejection: &ingestv1.Rejection{
				Reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, FieldPath: "context.geo.altitude", Message: "no \"altitude\"", Retryable: true}},
			{Index: 3, Id: "odd", Status: ingestv1.EventStatus(99), Rejection: &ingestv1.Rejection{}},
		},
		Accepted: 1, Duplicates: 1, Rejected: 1,
	}
	for _, r := range []*ingestv1.SendBatchResponse{resp, {}} {
		got, err := ingest.EncodeBatchResponseJSON(r)
		if err != nil {
			t.Fatal(err)
		}
		want, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, got)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("encoded\n%s\nwant (protojson)\n%s", got, want)
		}
	}
	if _, err := ingest.EncodeBatchResponseJSON(&ingestv1.SendBatchResponse{Results: []*ingestv1.EventResult{{Id: "\xff"}}}); err == nil {
		t.Error("an id that is not UTF-8 encoded, want an error (protojson then says what)")
	}

}

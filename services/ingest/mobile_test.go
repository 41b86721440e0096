package ingest_test

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

const (
	wrongType   = ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE
	unknownKey  = ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD
	conflicting = ingestv1.RejectReason_REJECT_REASON_MALFORMED
)

// mobileCase is one map-form event: KitchenSinkV1 (9001 v1) unless id is
// set, without a timestamp unless ts is set. Accepted cases give the event
// in protobuf JSON (want); rejected ones the reason, path and fragments of
// the message.
type mobileCase struct {
	name        string
	id, version uint32
	ts          *timestamppb.Timestamp
	params      map[string]string
	want        string
	reason      ingestv1.RejectReason
	path        string
	inMessage   []string
}

// sink is the params of a KitchenSinkV1 with its required context and kv.
func sink(kv ...string) map[string]string {
	return withParams(map[string]string{"context.user_id": "u"}, kv...)
}

// sinkWant is the protobuf JSON of a KitchenSinkV1 with its context and fields.
func sinkWant(fields string) string {
	if fields == "" {
		return `{"context":{"userId":"u"}}`
	}
	return `{"context":{"userId":"u"},` + fields + `}`
}

func jsonText(m proto.Message) string {
	return protojson.Format(m)
}

var mobileCases = []mobileCase{
	// Integers.
	{name: "integers", params: sink("i32", "-2147483648", "i64", "9223372036854775807", "u32", "4294967295", "u64", "18446744073709551615",
		"s32", "-5", "s64", "-6", "f32", "7", "f64", "8", "sf32", "-9", "sf64", "-10"),
		want: sinkWant(`"i32":-2147483648,"i64":"9223372036854775807","u32":4294967295,"u64":"18446744073709551615","s32":-5,"s64":"-6","f32":7,"f64":"8","sf32":-9,"sf64":"-10"`)},
	{name: "integer with plus sign", params: sink("i32", "+3"), want: sinkWant(`"i32":3`)},
	{name: "int32 overflow", params: sink("i32", "2147483648"), reason: wrongType, path: "i32", inMessage: []string{`field i32 (int32): "2147483648" is out of range for int32`}},
	{name: "int32 underflow", params: sink("sf32", "-2147483649"), reason: wrongType, path: "sf32", inMessage: []string{"is out of range for sfixed32"}},
	{name: "uint32 overflow", params: sink("u32", "4294967296"), reason: wrongType, path: "u32", inMessage: []string{"is out of range for uint32"}},
	{name: "uint64 overflow", params: sink("u64", "18446744073709551616"), reason: wrongType, path: "u64", inMessage: []string{"is out of range for uint64"}},
	{name: "negative unsigned", params: sink("u32", "-1"), reason: wrongType, path: "u32", inMessage: []string{`field u32 (uint32): "-1" is negative`}},
	{name: "negative fixed64", params: sink("f64", "-1"), reason: wrongType, path: "f64", inMessage: []string{"is negative; fixed64 is unsigned"}},
	{name: "integer with a fraction", params: sink("i64", "1.0"), reason: wrongType, path: "i64", inMessage: []string{`"1.0" is not an integer`}},
	{name: "integer with an exponent", params: sink("i64", "1e3"), reason: wrongType, path: "i64", inMessage: []string{"is not an integer"}},
	{name: "integer with spaces", params: sink("i64", " 1"), reason: wrongType, path: "i64", inMessage: []string{"is not an integer"}},
	{name: "empty integer", params: sink("i64", ""), reason: wrongType, path: "i64", inMessage: []string{`"" is not an integer`}},
	{name: "double sign", params: sink("i64", "+-1"), reason: wrongType, path: "i64", inMessage: []string{"is not an integer"}},
	{name: "long value is quoted clipped", params: sink("i64", strings.Repeat("9", 200)), reason: wrongType, path: "i64", inMessage: []string{"… (200 bytes) is out of range for int64"}},

	// Floats.
	{name: "floats", params: sink("fl", "1.5", "db", "-2e-3"), want: sinkWant(`"fl":1.5,"db":-0.002`)},
	{name: "float fractions", params: sink("fl", ".5", "db", "5."), want: sinkWant(`"fl":0.5,"db":5`)},
	{name: "NaN", params: sink("db", "NaN"), want: sinkWant(`"db":"NaN"`)},
	{name: "Infinity", params: sink("db", "Infinity", "fl", "-Infinity"), want: sinkWant(`"db":"Infinity","fl":"-Infinity"`)},
	{name: "float underflow rounds to zero", params: sink("fl", "1e-50", "db", "1"), want: sinkWant(`"db":1`)},
	{name: "float overflow", params: sink("fl", "3.5e38"), reason: wrongType, path: "fl", inMessage: []string{`field fl (float): "3.5e38" is out of range for float`}},
	{name: "double overflow", params: sink("db", "1e400"), reason: wrongType, path: "db", inMessage: []string{"is out of range for double"}},
	{name: "inf spelled the Go way", params: sink("db", "inf"), reason: wrongType, path: "db", inMessage: []string{`"inf" is not a number`}},
	{name: "hex float", params: sink("db", "0x1p3"), reason: wrongType, path: "db", inMessage: []string{"is not a number"}},
	{name: "float with underscores", params: sink("db", "1_000"), reason: wrongType, path: "db", inMessage: []string{"is not a number"}},
	{name: "float with a comma", params: sink("db", "1,5"), reason: wrongType, path: "db", inMessage: []string{"is not a number"}},
	{name: "bare exponent", params: sink("db", "e5"), reason: wrongType, path: "db", inMessage: []string{"is not a number"}},

	// Bools, strings, bytes.
	{name: "bools", params: sink("flag", "TRUE"), want: sinkWant(`"flag":true`)},
	{name: "bool 1", params: sink("flag", "1"), want: sinkWant(`"flag":true`)},
	{name: "bool 0", params: sink("flag", "0"), want: sinkWant(``)},
	{name: "bool false", params: sink("flag", "false"), want: sinkWant(``)},
	{name: "bad bool", params: sink("flag", "yes"), reason: wrongType, path: "flag", inMessage: []string{`field flag (bool): "yes" is not a bool; use true, false, 1 or 0`}},
	{name: "string as is", params: sink("text", `héllo, "world" [1]`), want: sinkWant(`"text":"héllo, \"world\" [1]"`)},
	{name: "empty string", params: sink("text", ""), want: sinkWant(``)},
	{name: "invalid UTF-8", params: sink("text", "\xff"), reason: conflicting, path: "mobile", inMessage: []string{"cannot be encoded"}},
	{name: "bytes std base64", params: sink("blob", "aGk+Pz8="), want: sinkWant(`"blob":"aGk+Pz8="`)},
	{name: "bytes std base64 unpadded", params: sink("blob", "aGk"), want: sinkWant(`"blob":"aGk="`)},
	{name: "bytes URL base64", params: sink("blob", "aGk-Pz8="), want: sinkWant(`"blob":"aGk+Pz8="`)},
	{name: "bytes URL base64 unpadded", params: sink("blob", "-_8"), want: sinkWant(`"blob":"+/8="`)},
	{name: "bad base64", params: sink("blob", "!!!"), reason: wrongType, path: "blob", inMessage: []string{`field blob (bytes): "!!!" is not base64`}},

	// Enums.
	{name: "enum full name", params: sink("status", "CONTENT_STATUS_ACTIVE"), want: sinkWant(`"status":"CONTENT_STATUS_ACTIVE"`)},
	{name: "enum short name", params: sink("status", "BLOCKED"), want: sinkWant(`"status":"CONTENT_STATUS_BLOCKED"`)},
	{name: "enum lower case", params: sink("status", "hidden"), want: sinkWant(`"status":"CONTENT_STATUS_HIDDEN"`)},
	{name: "enum full name lower case", params: sink("status", "content_status_deleted"), want: sinkWant(`"status":"CONTENT_STATUS_DELETED"`)},
	{name: "enum number", params: sink("status", "1"), want: sinkWant(`"status":"CONTENT_STATUS_MODERATION"`)},
	{name: "enum zero", params: sink("status", "UNSPECIFIED"), want: sinkWant(``)},
	{name: "enum unknown name", params: sink("status", "ACTIVATED"), reason: wrongType, path: "status",
		inMessage: []string{`field status (clickstream.events.v1.ContentStatus): "ACTIVATED" is not a value of clickstream.events.v1.ContentStatus`, "ACTIVE=2", "CONTENT_STATUS_"}},
	{name: "enum undefined number", params: sink("status", "9"), reason: wrongType, path: "status", inMessage: []string{`"9" is not a value`}},
	{name: "enum negative number", params: sink("status", "-1"), reason: wrongType, path: "status", inMessage: []string{`"-1" is not a value`}},

	// Timestamps.
	{name: "timestamp RFC 3339", params: sink("at", "2024-05-01T12:00:00.5Z"), want: sinkWant(`"at":"2024-05-01T12:00:00.500Z"`)},
	{name: "timestamp RFC 3339 with offset", params: sink("at", "2024-05-01T14:00:00+02:00"), want: sinkWant(`"at":"2024-05-01T12:00:00Z"`)},
	{name: "timestamp unix seconds", params: sink("at", "1714564800"), want: sinkWant(`"at":"2024-05-01T12:00:00Z"`)},
	{name: "timestamp fractional unix seconds", params: sink("at", "1714564800.000000001"), want: sinkWant(`"at":"2024-05-01T12:00:00.000000001Z"`)},
	{name: "timestamp negative fractional", params: sink("at", "-1.25"), want: sinkWant(`"at":"1969-12-31T23:59:58.750Z"`)},
	{name: "timestamp earliest", params: sink("at", "0001-01-01T00:00:00Z"), want: sinkWant(`"at":"0001-01-01T00:00:00Z"`)},
	{name: "timestamp in milliseconds", params: sink("at", "1714564800123"), reason: wrongType, path: "at",
		inMessage: []string{`field at (google.protobuf.Timestamp): "1714564800123" is not a timestamp`, "not milliseconds"}},
	{name: "timestamp with ten fractional digits", params: sink("at", "1.0000000001"), reason: wrongType, path: "at", inMessage: []string{"at most nine fractional digits"}},
	{name: "timestamp words", params: sink("at", "yesterday"), reason: wrongType, path: "at", inMessage: []string{"RFC 3339"}},
	{name: "timestamp month 13", params: sink("at", "2024-13-01T00:00:00Z"), reason: wrongType, path: "at", inMessage: []string{"is not a timestamp"}},
	{name: "timestamp without zone", params: sink("at", "2024-05-01T12:00:00"), reason: wrongType, path: "at", inMessage: []string{"is not a timestamp"}},

	// Repeated fields.
	{name: "repeated integers", params: sink("ids", `[1, "2", -3]`), want: sinkWant(`"ids":["1","2","-3"]`)},
	{name: "repeated strings", params: sink("tags", `["a","b"]`), want: sinkWant(`"tags":["a","b"]`)},
	{name: "repeated enums", params: sink("statuses", `["ACTIVE", 3, "content_status_hidden", "4"]`),
		want: sinkWant(`"statuses":["CONTENT_STATUS_ACTIVE","CONTENT_STATUS_BLOCKED","CONTENT_STATUS_HIDDEN","CONTENT_STATUS_HIDDEN"]`)},
	{name: "repeated timestamps", params: sink("times", `["2024-05-01T12:00:00Z", 1714564800.25]`), want: sinkWant(`"times":["2024-05-01T12:00:00Z","2024-05-01T12:00:00.250Z"]`)},
	{name: "repeated bools", params: sink("flags", `[true, "0", 1, "FALSE"]`), want: sinkWant(`"flags":[true,false,true,false]`)},
	{name: "repeated doubles", params: sink("scores", `[1.5, "NaN", -2, "-Infinity"]`), want: sinkWant(`"scores":[1.5,"NaN",-2,"-Infinity"]`)},
	{name: "repeated bytes", params: sink("blobs", `["aGk=", "-_8"]`), want: sinkWant(`"blobs":["aGk=","+/8="]`)},
	{name: "empty array", params: sink("ids", `[]`), want: sinkWant(``)},
	{name: "repeated messages", params: sink("lines", `[{"sku":"a","quantity":2,"price":{"amountMinor":"5","currency":"EUR"}}, {"sku":"b"}]`),
		want: sinkWant(`"lines":[{"sku":"a","quantity":2,"price":{"amountMinor":"5","currency":"EUR"}},{"sku":"b"}]`)},
	{name: "array as a list of words", params: sink("ids", "1,2,3"), reason: wrongType, path: "ids", inMessage: []string{`field ids (repeated int64): "1,2,3" is not a JSON array`}},
	{name: "bad element", params: sink("ids", `[1,"x"]`), reason: wrongType, path: "ids[1]", inMessage: []string{`field ids[1] (int64): "x" is not an integer`}},
	{name: "element out of range", params: sink("statuses", `[99]`), reason: wrongType, path: "statuses[0]", inMessage: []string{`"99" is not a value`}},
	{name: "nested array", params: sink("ids", `[[1]]`), reason: wrongType, path: "ids[0]", inMessage: []string{"is a JSON array"}},
	{name: "null element", params: sink("ids", `[null]`), reason: wrongType, path: "ids[0]", inMessage: []string{"is not a value"}},
	{name: "null array", params: sink("ids", `null`), reason: wrongType, path: "ids", inMessage: []string{"is not a JSON array"}},
	{name: "number for a string", params: sink("tags", `[1]`), reason: wrongType, path: "tags[0]", inMessage: []string{"is not a JSON string; quote it"}},
	{name: "truncated JSON", params: sink("tags", `["a"`), reason: wrongType, path: "tags", inMessage: []string{"is not a JSON array"}},
	{name: "object element for a scalar", params: sink("ids", `[{}]`), reason: wrongType, path: "ids[0]", inMessage: []string{"is a JSON object"}},
	{name: "string element for a message", params: sink("lines", `["a"]`), reason: wrongType, path: "lines[0]", inMessage: []string{"is not a JSON object"}},
	{name: "unknown member in an element", params: sink("lines", `[{"sku":"a","qty":1}]`), reason: unknownKey, path: "lines[0].qty", inMessage: []string{`fixture.v1.Line has no field "qty"`}},
	{name: "bad member in an element", params: sink("lines", `[{"sku":"a","price":{"amount_minor":"x"}}]`), reason: wrongType, path: "lines[0].price.amount_minor",
		inMessage: []string{`field lines[0].price.amount_minor (int64): "x" is not an integer`}},
	{name: "member set twice", params: sink("lines", `[{"sku":"a","price":{"amount_minor":1,"amountMinor":2}}]`), reason: conflicting, path: "lines[0].price.amount_minor",
		inMessage: []string{`members "amountMinor" and "amount_minor"`}},

	// Maps.
	{name: "map of strings", params: sink("labels", `{"color":"red","size":"L"}`), want: sinkWant(`"labels":{"color":"red","size":"L"}`)},
	{name: "map with integer keys", params: sink("counts", `{"1":10,"-2":"20"}`), want: sinkWant(`"counts":{"1":"10","-2":"20"}`)},
	{name: "map of messages", params: sink("lines_by_sku", `{"a":{"sku":"a","quantity":2}}`), want: sinkWant(`"linesBySku":{"a":{"sku":"a","quantity":2}}`)},
	{name: "map as an array", params: sink("labels", `["a"]`), reason: wrongType, path: "labels", inMessage: []string{`field labels (map<string, string>)`, "is not a JSON object"}},
	{name: "map value not a string", params: sink("labels", `{"a":1}`), reason: wrongType, path: `labels["a"]`, inMessage: []string{"is not a JSON string"}},
	{name: "map key not an integer", params: sink("counts", `{"x":1}`), reason: wrongType, path: `counts["x"]`, inMessage: []string{`"x" is not an integer`}},
	{name: "map key twice", params: sink("labels", `{"a":"x","a":"y"}`), reason: wrongType, path: "labels", inMessage: []string{`has the key "a" twice`}},
	{name: "map key twice written another way", params: sink("counts", `{"1":1,"01":2}`), reason: wrongType, path: `counts["1"]`, inMessage: []string{`field counts["1"] (int32): "1" is the key 1 again`}},
	{name: "member twice", params: sink("shipping", `{"city":"a","city":"b"}`), reason: wrongType, path: "shipping", inMessage: []string{`has the key "city" twice`}},
	{name: "object with trailing data", params: sink("shipping", `{"city":"a"} {}`), reason: wrongType, path: "shipping", inMessage: []string{"is not a JSON object"}},
	{name: "map entry by dotted key", params: sink("labels.color", "red"), reason: wrongType, path: "labels.color", inMessage: []string{"send the whole map as one JSON object"}},

	// Nested messages.
	{name: "dotted paths", params: sink("shipping.city", "Moscow", "shipping.geo.latitude", "55.75", "shipping.geo.accuracy_m", "5"),
		want: sinkWant(`"shipping":{"city":"Moscow","geo":{"latitude":55.75,"accuracyM":5}}`)},
	{name: "message as a JSON object", params: sink("shipping", `{"city":"Moscow","geo":{"latitude":55.75}}`), want: sinkWant(`"shipping":{"city":"Moscow","geo":{"latitude":55.75}}`)},
	{name: "JSON names", params: map[string]string{"context.userId": "u", "linesBySku": `{"a":{"sku":"a"}}`, "shipping.geo.accuracyM": "5", "shipping.city": "c"},
		want: sinkWant(`"linesBySku":{"a":{"sku":"a"}},"shipping":{"city":"c","geo":{"accuracyM":5}}`)},
	{name: "message as a plain string", params: sink("shipping", "Moscow"), reason: wrongType, path: "shipping", inMessage: []string{`field shipping (fixture.v1.Address): "Moscow" is not a JSON object`}},
	{name: "unknown member", params: sink("shipping", `{"town":"x"}`), reason: unknownKey, path: "shipping.town", inMessage: []string{`fixture.v1.Address has no field "town"`}},
	{name: "dot into a scalar", params: sink("text.length", "1"), reason: wrongType, path: "text.length", inMessage: []string{"field text (string) has no fields"}},
	{name: "dot into a list", params: sink("lines.sku", "a"), reason: wrongType, path: "lines.sku", inMessage: []string{"send the whole list as one JSON array"}},
	{name: "dot into a timestamp", params: sink("at.seconds", "1"), reason: wrongType, path: "at.seconds", inMessage: []string{"field at (google.protobuf.Timestamp) has no fields"}},

	// Keys.
	{name: "unknown key", params: sink("nope", "1"), reason: unknownKey, path: "nope", inMessage: []string{`fixture.v1.KitchenSinkV1 has no field "nope"; its fields are context, i32`}},
	{name: "empty key", params: sink("", "1"), reason: unknownKey, path: "", inMessage: []string{`has no field ""`}},
	{name: "trailing dot", params: sink("shipping.", "1"), reason: unknownKey, path: "shipping.", inMessage: []string{`fixture.v1.Address has no field ""`}},
	{name: "same field by proto and JSON name", params: sink("lines_by_sku", `{}`, "linesBySku", `{}`), reason: conflicting, path: "lines_by_sku",
		inMessage: []string{`params "linesBySku" and "lines_by_sku" both set field lines_by_sku`}},
	{name: "message and a field inside it", params: sink("shipping", `{"city":"a"}`, "shipping.city", "b"), reason: conflicting, path: "shipping.city",
		inMessage: []string{`params "shipping" and "shipping.city" both set field shipping.city`}},
	{name: "field inside and the message", params: sink("shipping.geo.latitude", "1", "shipping.geo", `{}`), reason: conflicting, path: "shipping.geo.latitude",
		inMessage: []string{`both set field shipping.geo.latitude`}},
	{name: "oneof set twice", params: sink("url", "https://example.com", "object_id", "7"), reason: conflicting, path: "url", inMessage: []string{"oneof target"}},
	{name: "oneof", params: sink("object_id", "7"), want: sinkWant(`"objectId":"7"`)},
	{name: "explicit presence keeps a zero", params: sink("maybe", "0"), want: sinkWant(`"maybe":0`)},

	// Events of the catalogue, and the timestamp.
	{name: "item view", id: 1001, version: 2, ts: timestamppb.New(occurred), params: itemViewParams(), want: jsonText(itemView())},
	{name: "timestamp is only the default", id: 1001, version: 2, ts: timestamppb.New(occurred),
		params: withParams(itemViewParams(), "context.occurred_at", "2020-01-01T00:00:00Z"),
		want: jsonText(func() proto.Message {
			m := itemView()
			m.Context.OccurredAt = &timestamppb.Timestamp{Seconds: 1577836800}
			return m
		}())},
	{name: "no timestamp", id: 1001, version: 2, params: itemViewParams(),
		want: jsonText(func() proto.Message { m := itemView(); m.Context.OccurredAt = nil; return m }())},
	{name: "timestamp makes the context", id: 1002, version: 1, ts: timestamppb.New(occurred), params: map[string]string{"query": "red bicycle", "item_ids": "[1,2]", "filters": `{"color":"red"}`},
		want: jsonText(&eventsv1.SearchQueryV1{Context: &eventsv1.Context{OccurredAt: timestamppb.New(occurred)}, Query: "red bicycle", ItemIds: []int64{1, 2}, Filters: map[string]string{"color": "red"}})},
	{name: "bad timestamp", id: 1001, version: 2, ts: &timestamppb.Timestamp{Seconds: math.MaxInt64}, params: itemViewParams(), reason: wrongType, path: "mobile.timestamp",
		inMessage: []string{"clickstream.events.v1.ItemViewV2: timestamp (google.protobuf.Timestamp)"}},
	{name: "payment", id: 1004, version: 1, params: map[string]string{"context.user_id": "u", "payment_id": "pay_1", "status": "completed", "amount.amount_minor": "500", "amount.currency": "EUR"},
		want: jsonText(&eventsv1.PaymentV1{Context: &eventsv1.Context{UserId: "u"}, PaymentId: "pay_1", Status: eventsv1.PaymentStatus_PAYMENT_STATUS_COMPLETED, Amount: &eventsv1.Money{AmountMinor: 500, Currency: "EUR"}})},
	{name: "platform by number", id: 2005, version: 1, params: map[string]string{"context.platform": "2", "object_id": "o"},
		want: jsonText(&eventsv1.PlaceCardOpenedV1{Context: &eventsv1.Context{Platform: eventsv1.Platform_PLATFORM_ANDROID}, ObjectId: "o"})},
}

func (tc mobileCase) event() *ingestv1.Event {
	id, version := tc.id, tc.version
	if id == 0 {
		id, version = 9001, 1
	}
	return &ingestv1.Event{Payload: &ingestv1.Event_Mobile{Mobile: &eventsv1.MobileAppEvent{
		EventId: id, Version: version, Timestamp: tc.ts, Params: tc.params,
	}}}
}

func TestMobileToMessage(t *testing.T) {
	c := fixtureCatalogue(t)
	for _, tc := range mobileCases {
		t.Run(tc.name, func(t *testing.T) {
			et, msg, _, rej := c.Decode(tc.event(), maxEventBytes)
			if tc.want == "" {
				wantRejection(t, rej, tc.reason, tc.path, tc.inMessage...)
				if !strings.Contains(rej.GetMessage(), et.FullName()) || et.FullName() == "" {
					t.Errorf("rejection %q does not name the event %q", rej.GetMessage(), et.FullName())
				}
				return
			}
			if rej != nil {
				t.Fatalf("rejected: %v", rej)
			}
			want := dynamicpb.NewMessage(et.Descriptor)
			if err := protojson.Unmarshal([]byte(tc.want), want); err != nil {
				t.Fatalf("want %s: %v", tc.want, err)
			}
			if !proto.Equal(msg, want) {
				t.Errorf("got  %s\nwant %s", protojson.Format(msg), protojson.Format(want))
			}
		})
	}
}

// FuzzMobileToMessage converts arbitrary params for every event version of
// the fixture catalogue (and for an unknown event and version): it must
// never panic, always answer the same, give a rejection that can be sent,
// and accept only messages that marshal and round-trip.
func FuzzMobileToMessage(f *testing.F) {
	c := fixtureCatalogue(f)
	type idVersion struct{ id, version uint32 }
	var events []idVersion
	for _, e := range catalogueEvents {
		events = append(events, idVersion{e.id, e.version})
	}
	events = append(events, idVersion{9001, 1}, idVersion{4242, 1}, idVersion{1001, 3})
	for _, tc := range mobileCases {
		id, version := tc.id, tc.version
		if id == 0 {
			id, version = 9001, 1
		}
		pick := 0
		for i, e := range events {
			if e == (idVersion{id, version}) {
				pick = i
			}
		}
		var params []string
		for k, v := range tc.params {
			params = append(params, k, v)
		}
		f.Add(uint8(pick), tc.ts.GetSeconds(), tc.ts.GetNanos(), strings.Join(params, "\x00"))
	}
	f.Fuzz(func(t *testing.T, pick uint8, seconds int64, nanos int32, encoded string) {
		e := events[int(pick)%len(events)]
		params := map[string]string{}
		parts := strings.Split(encoded, "\x00")
		for i := 0; i < len(parts); i += 2 {
			v := ""
			if i+1 < len(parts) {
				v = parts[i+1]
			}
			params[parts[i]] = v
		}
		ev := &ingestv1.Event{Payload: &ingestv1.Event_Mobile{Mobile: &eventsv1.MobileAppEvent{
			EventId: e.id, Version: e.version, Params: params,
		}}}
		if seconds != 0 || nanos != 0 {
			ev.GetMobile().Timestamp = &timestamppb.Timestamp{Seconds: seconds, Nanos: nanos}
		}

		et, msg, _, rej := c.Decode(ev, maxEventBytes)
		_, again, _, rejAgain := c.Decode(ev, maxEventBytes)
		if !proto.Equal(rej, rejAgain) || (rej == nil && !proto.Equal(msg, again)) {
			t.Fatalf("two conversions differ: %v / %v", rej, rejAgain)
		}
		if rej != nil {
			if rej.GetReason() == ingestv1.RejectReason_REJECT_REASON_UNSPECIFIED || rej.GetMessage() == "" {
				t.Fatalf("rejection without a reason or message: %v", rej)
			}
			if !utf8.ValidString(rej.GetFieldPath()) || len(rej.GetFieldPath()) > 1024 {
				t.Fatalf("field path %q is not fit for a response", rej.GetFieldPath())
			}
			if _, err := proto.Marshal(rej); err != nil {
				t.Fatalf("rejection cannot be sent: %v", err)
			}
			return
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			t.Fatalf("accepted %s does not marshal: %v", et.FullName(), err)
		}
		back := dynamicpb.NewMessage(et.Descriptor)
		if err := proto.Unmarshal(b, back); err != nil {
			t.Fatalf("accepted %s does not unmarshal: %v", et.FullName(), err)
		}
		if !proto.Equal(msg, back) {
			t.Fatalf("accepted %s does not round-trip:\n%v\n%v", et.FullName(), msg, back)
		}
		// Consumers decode with the generated types.
		if mt, err := protoregistry.GlobalTypes.FindMessageByName(et.Descriptor.FullName()); err == nil {
			generated := mt.New().Interface()
			if err := proto.Unmarshal(b, generated); err != nil {
				t.Fatalf("accepted %s does not unmarshal into the generated type: %v", et.FullName(), err)
			}
		}
	})
}

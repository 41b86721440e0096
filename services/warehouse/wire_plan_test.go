package warehouse_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/services/warehouse"
)

// sameRow checks that the wire plan and the dynamic way decode rec into the
// same row (or both fail), and says whether it decoded.
func sameRow(t *testing.T, table *warehouse.Table, rec *busv1.EventRecord) bool {
	t.Helper()
	plan, perr := table.DecodeRow(rec, 7)
	dyn, derr := table.DecodeRowDynamic(rec, 7)
	if (perr == nil) != (derr == nil) {
		t.Errorf("payload %x: wire plan error %v, dynamic way error %v", rec.GetPayload(), perr, derr)
		return false
	}
	if perr != nil {
		return false
	}
	cols := table.AllColumns()
	for i := range plan.Values {
		p, d := fmt.Sprintf("%T %v", plan.Values[i], plan.Values[i]), fmt.Sprintf("%T %v", dyn.Values[i], dyn.Values[i])
		if p != d {
			t.Errorf("payload %x column %s: wire plan %s, dynamic way %s", rec.GetPayload(), cols[i].Name, p, d)
		}
	}
	return true
}

// wireCases are cart payloads of every version, some written by hand on the
// wire: a message sent twice (merged), a field with a wire type that does
// not fit (unknown), unknown fields, packed and unpacked repeated fields, a
// timestamp in two parts, invalid UTF-8 and truncated bytes.
func wireCases(t testing.TB, v123 *warehouse.FileSchemas) []*busv1.EventRecord {
	var recs []*busv1.EventRecord
	for i, p := range []struct {
		v       uint32
		payload string
	}{
		{1, cartV1},
		{1, `{}`},
		{1, `{"context": {}}`},
		{1, `{"context": {"geo": {}}, "updated_at": "1970-01-01T00:00:00Z", "items": [], "attributes": {}}`},
		{2, `{"context": {"user_id": "u", "platform": "PLATFORM_WEB"}, "cart_id": "c", "status": "CART_STATUS_PAID", "quantity": "-9000000000", "coupon": "K"}`},
		{3, `{"context": {"user_id": "u"}, "channel": "web", "user_id": "inner", "attribution": {"a_campaign_name_long_enough_to_push_the_column_name_past_the_postgres_limit": "spring"}}`},
		{3, `{"attribution": {}, "total_minor": "18446744073709551615", "token": "", "status": 7}`},
		{1, `{"items": [{"sku": "<a&b>\u2028\b\u001f\"\\é", "qty": 0}, {}, {"qty": -3}], "attributes": {"z": "", "": "<>", "a": "\n"}}`},
	} {
		recs = append(recs, cartRecord(t, v123, fmt.Sprintf("case-%d", i), p.v, p.payload))
	}
	base := cartRecord(t, v123, "wire", 1, `{}`)
	onWire := func(b []byte) *busv1.EventRecord {
		r := proto.Clone(base).(*busv1.EventRecord)
		r.Payload = b
		return r
	}
	msg := func(num protowire.Number, inner []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), inner)
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	str := func(num protowire.Number, s string) []byte { return msg(num, []byte(s)) }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	recs = append(recs,
		// context twice: user_id from the first, geo and platform from the second.
		onWire(cat(msg(1, str(1, "first")), msg(1, cat(msg(4, []byte{}), varint(3, 2))), str(2, "cart"))),
		// cart_id sent as a varint: unknown, the column keeps "".
		onWire(cat(varint(2, 5), msg(1, nil))),
		// fields no version defines, at the top and inside context.
		onWire(cat(varint(99, 1), msg(1, cat(str(77, "x"), str(1, "u"))), str(100, "y"))),
		// updated_at in two parts: seconds, then nanos.
		onWire(cat(msg(6, varint(1, 1700000000)), msg(6, varint(2, 5000)))),
		// items twice, the second with an unknown field; attributes twice.
		onWire(cat(msg(4, cat(str(1, "a"), varint(2, 3))), msg(4, cat(str(1, "b"), varint(9, 1))),
			msg(5, cat(str(1, "k"), str(2, "v"))), msg(5, cat(str(1, "k2"), str(2, "v2"))))),
		// map entries without a value, without a key, and a key twice.
		onWire(cat(msg(5, str(1, "k")), msg(5, str(2, "v")), msg(5, cat(str(1, "d"), str(2, "1"))), msg(5, cat(str(1, "d"), str(2, "2"))))),
		// an item's field twice: the last wins.
		onWire(msg(4, cat(str(1, "a"), str(1, "b"), varint(2, 1), varint(2, 0)))),
		// quantity twice: the last wins; status a number the enum does not know.
		onWire(cat(varint(10, 1), varint(10, 2), varint(3, 42))),
		// cart_id not UTF-8: both refuse.
		onWire(str(2, "\xff\xfe")),
		// a nested string not UTF-8: both refuse.
		onWire(msg(1, str(1, "\xff"))),
		// truncated.
		onWire([]byte{0x0a, 0x05, 0x0a}),
		onWire([]byte{0x80}),
	)
	return recs
}

// The wire plan decodes every payload into the row the dynamic way gives:
// the same value in every column, or the same refusal.
func TestWirePlanDecodesAsTheDynamicWay(t *testing.T) {
	v123 := fixtureSchemas(t, "v123")
	table := warehouse.NewTable(9101, "CartUpdated", cartVersions(t, v123))
	for _, v := range table.Versions {
		if !table.HasWirePlan(v) {
			t.Errorf("version %d has no wire plan", v)
		}
	}
	decoded, refused := 0, 0
	for _, rec := range wireCases(t, v123) {
		if sameRow(t, table, rec) {
			decoded++
		} else {
			refused++
		}
	}
	e := &loaderEnv{v12: fixtureSchemas(t, "v12")}
	for _, rec := range lakeWorkload(t, e, 200) {
		if sameRow(t, table, rec) {
			decoded++
		}
	}
	t.Logf("%d payloads decoded alike, %d refused by both", decoded, refused)
	if refused != 4 {
		t.Errorf("%d refused, want the 4 invalid ones", refused)
	}
}

// A version with a real oneof has no wire plan (setting one member clears
// the others, which flattened columns cannot follow) and is decoded the
// dynamic way: the member sent last holds the value, the other NULL.
func TestWirePlanLeavesOneofsToTheDynamicWay(t *testing.T) {
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("oneof.proto"), Package: proto.String("fixture.v1"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("ChoiceV1"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("a"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), OneofIndex: proto.Int32(0)},
				{Name: proto.String("b"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_INT64.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), OneofIndex: proto.Int32(0)},
			},
			OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("choice")}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	table := warehouse.NewTable(1, "Choice", []protoreflect.MessageDescriptor{fd.Messages().Get(0)})
	v := table.Versions[0]
	if table.HasWirePlan(v) {
		t.Fatal("a version with a oneof has a wire plan")
	}
	payload := protowire.AppendVarint(protowire.AppendTag(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("x")), 2, protowire.VarintType), 5)
	row, err := table.DecodeRow(&busv1.EventRecord{Id: "choice", EventVersion: v, Payload: payload}, 1)
	if err != nil {
		t.Fatal(err)
	}
	fields := row.Values[len(warehouse.EnvelopeColumns):]
	t.Logf("a then b sent: a=%v b=%v", fields[0], fields[1])
	if fields[0] != nil || fields[1] != int64(5) {
		t.Errorf("a=%v b=%v, want a NULL and b 5", fields[0], fields[1])
	}
}

// FuzzWirePlan: on any payload of any cart version, the wire plan and the
// dynamic way agree.
func FuzzWirePlan(f *testing.F) {
	v123 := fixtureSchemas(f, "v123")
	table := warehouse.NewTable(9101, "CartUpdated", cartVersions(f, v123))
	for _, rec := range wireCases(f, v123) {
		f.Add(uint8(rec.GetEventVersion()), rec.GetPayload())
	}
	f.Fuzz(func(t *testing.T, version uint8, payload []byte) {
		v := uint32(version%3) + 1
		rec := &busv1.EventRecord{Id: "fuzz", EventId: 9101, EventVersion: v, EventName: fmt.Sprintf("fixture.v1.CartUpdatedV%d", v), Payload: payload}
		sameRow(t, table, rec)
	})
}

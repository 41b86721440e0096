package ingest_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// piiDescriptors declares pii.v1.PiiV1 (event 9100 v1): pii fields of every
// shape, at the top level, nested, repeated and in maps.
func piiDescriptors(t *testing.T) *descriptorpb.FileDescriptorSet {
	t.Helper()
	pii := func() *descriptorpb.FieldOptions {
		o := &descriptorpb.FieldOptions{}
		proto.SetExtension(o, optionsv1.E_Field, &optionsv1.FieldOptions{Pii: true})
		return o
	}
	field := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type, label descriptorpb.FieldDescriptorProto_Label, typeName string, opts *descriptorpb.FieldOptions) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Type: typ.Enum(), Label: label.Enum(), JsonName: proto.String(name), Options: opts}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	const (
		opt = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		rep = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
		str = descriptorpb.FieldDescriptorProto_TYPE_STRING
		byt = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		i32 = descriptorpb.FieldDescriptorProto_TYPE_INT32
		msg = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	eventOpts := &descriptorpb.MessageOptions{}
	proto.SetExtension(eventOpts, optionsv1.E_Event, &optionsv1.EventOptions{Id: 9100, Version: 1})
	opts := protodesc.ToFileDescriptorProto(optionsv1.File_clickstream_options_v1_options_proto)
	file := &descriptorpb.FileDescriptorProto{
		Name: proto.String("pii/v1/pii.proto"), Package: proto.String("pii.v1"), Syntax: proto.String("proto3"),
		Dependency: []string{opts.GetName()},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("Inner"), Field: []*descriptorpb.FieldDescriptorProto{
				field("secret", 1, str, opt, "", pii()),
				field("open", 2, str, opt, "", nil),
			}},
			{Name: proto.String("PiiV1"), Options: eventOpts, Field: []*descriptorpb.FieldDescriptorProto{
				field("email", 1, str, opt, "", pii()),
				field("blob", 2, byt, opt, "", pii()),
				field("tags", 3, str, rep, "", pii()),
				field("age", 4, i32, opt, "", pii()),
				field("inner", 5, msg, opt, ".pii.v1.Inner", nil),
				field("inners", 6, msg, rep, ".pii.v1.Inner", nil),
				field("labels", 7, msg, rep, ".pii.v1.PiiV1.LabelsEntry", pii()),
				field("open", 8, str, opt, "", nil),
			}, NestedType: []*descriptorpb.DescriptorProto{{
				Name:    proto.String("LabelsEntry"),
				Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
				Field:   []*descriptorpb.FieldDescriptorProto{field("key", 1, str, opt, "", nil), field("value", 2, str, opt, "", nil)},
			}}},
		},
	}
	return &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto), opts, file}}
}

func TestPIIFieldsAreHashedBeforePublishing(t *testing.T) {
	fds := piiDescriptors(t)
	catalogue, err := ingest.NewCatalogue(fds, 1)
	if err != nil {
		t.Fatal(err)
	}
	et, ok := catalogue.ByName("pii.v1.PiiV1")
	if !ok {
		t.Fatal("PiiV1 is not in the catalogue")
	}
	md := et.Descriptor
	inner := md.Fields().ByName("inner").Message()
	newInner := func(secret string) *dynamicpb.Message {
		m := dynamicpb.NewMessage(inner)
		m.Set(inner.Fields().ByName("secret"), protoValueOf(secret))
		m.Set(inner.Fields().ByName("open"), protoValueOf("open"))
		return m
	}
	sent := dynamicpb.NewMessage(md)
	f := md.Fields()
	sent.Set(f.ByName("email"), protoValueOf("ann@example.com"))
	sent.Set(f.ByName("blob"), protoValueOfBytes([]byte{1, 2, 3}))
	tags := sent.Mutable(f.ByName("tags")).List()
	tags.Append(protoValueOf("a"))
	tags.Append(protoValueOf("b"))
	sent.Set(f.ByName("age"), protoValueOfInt(42))
	sent.Set(f.ByName("inner"), protoValueOfMessage(newInner("s1")))
	inners := sent.Mutable(f.ByName("inners")).List()
	inners.Append(protoValueOfMessage(newInner("s2")))
	labels := sent.Mutable(f.ByName("labels")).Map()
	labels.Set(protoMapKey("k"), protoValueOf("v"))
	sent.Set(f.ByName("open"), protoValueOf("open"))
	payload, err := proto.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}

	const secret = "pii-test-secret"
	h := ingest.NewPIIHasher([]byte(secret), []string{"keep"})
	b := newBus(t)
	svc := ingest.New(ingest.Config{PIISecret: secret, PIIKeepEnvironments: []string{"keep"}}, catalogue, b)
	ev := func(key string) *ingestv1.Event {
		return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Typed{Typed: &anypb.Any{TypeUrl: "type.googleapis.com/pii.v1.PiiV1", Value: payload}}}
	}
	for env, key := range map[string]string{"web": "pii-web", "keep": "pii-keep"} {
		ctx := ingest.WithCaller(context.Background(), ingest.Caller{Environment: env})
		resp, err := svc.SendBatch(ctx, &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{ev(key)}})
		if err != nil || resp.GetAccepted() != 1 {
			t.Fatalf("SendBatch %s: %v %v", env, resp, err)
		}
	}
	got := map[string]*dynamicpb.Message{}
	for _, m := range storedMsgs(t, b, bus.StreamEvents) {
		var rec busv1.EventRecord
		if err := proto.Unmarshal(m.Data, &rec); err != nil {
			t.Fatal(err)
		}
		dm := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(rec.GetPayload(), dm); err != nil {
			t.Fatal(err)
		}
		got[rec.GetId()] = dm
	}

	if !proto.Equal(got["pii-keep"], sent) {
		t.Errorf("environment keep: published %v, want as sent %v", got["pii-keep"], sent)
	}
	want := proto.Clone(sent).(*dynamicpb.Message)
	want.Set(f.ByName("email"), protoValueOf(h.HashString("ann@example.com")))
	want.Set(f.ByName("blob"), protoValueOfBytes(h.Hash([]byte{1, 2, 3})))
	wt := want.Mutable(f.ByName("tags")).List()
	wt.Set(0, protoValueOf(h.HashString("a")))
	wt.Set(1, protoValueOf(h.HashString("b")))
	want.Clear(f.ByName("age"))
	want.Set(f.ByName("inner"), protoValueOfMessage(newInner(h.HashString("s1"))))
	wi := want.Mutable(f.ByName("inners")).List()
	wi.Set(0, protoValueOfMessage(newInner(h.HashString("s2"))))
	want.Mutable(f.ByName("labels")).Map().Set(protoMapKey("k"), protoValueOf(h.HashString("v")))
	if !proto.Equal(got["pii-web"], want) {
		t.Errorf("environment web: published\n%v\nwant\n%v", got["pii-web"], want)
	}
	if len(h.HashString("x")) != 64 {
		t.Errorf("a hashed string is %d characters, want 64 hex", len(h.HashString("x")))
	}
}

func newBus(t *testing.T) *bus.Bus { return bustest.New(t) }

func protoValueOf(s string) protoreflect.Value      { return protoreflect.ValueOfString(s) }
func protoValueOfBytes(b []byte) protoreflect.Value { return protoreflect.ValueOfBytes(b) }
func protoValueOfInt(i int32) protoreflect.Value    { return protoreflect.ValueOfInt32(i) }
func protoMapKey(s string) protoreflect.MapKey      { return protoreflect.ValueOfString(s).MapKey() }
func protoValueOfMessage(m *dynamicpb.Message) protoreflect.Value {
	return protoreflect.ValueOfMessage(m)
}

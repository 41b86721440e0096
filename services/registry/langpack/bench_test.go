package langpack_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// The synthetic catalogue of the benchmark: 250 events of 4 versions each,
// 1,000 event versions, one file per event, all referencing a shared
// message and enum (the shape of services/registry/bench_test.go's).
const (
	benchEvents   = 250
	benchVersions = 4
)

func syntheticInput() langpack.Input {
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING
	fds := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto),
		protodesc.ToFileDescriptorProto(optionsv1.File_clickstream_options_v1_options_proto),
		{
			Name:    proto.String("bench/v1/common.proto"),
			Package: proto.String("bench.v1"),
			Syntax:  proto.String("proto3"),
			MessageType: []*descriptorpb.DescriptorProto{{
				Name: proto.String("Device"),
				Field: []*descriptorpb.FieldDescriptorProto{
					benchField("os", 1, str, "", true),
					benchField("app_version", 2, str, "", false),
				},
			}},
			EnumType: []*descriptorpb.EnumDescriptorProto{{
				Name: proto.String("Kind"),
				Value: []*descriptorpb.EnumValueDescriptorProto{
					{Name: proto.String("KIND_UNSPECIFIED"), Number: proto.Int32(0)},
					{Name: proto.String("KIND_A"), Number: proto.Int32(1)},
				},
			}},
		},
	}}
	in := langpack.Input{Environment: "bench", Revision: 1, Version: langpack.Version{Major: 1, Minor: 1}, Files: fds}
	for e := range benchEvents {
		file := &descriptorpb.FileDescriptorProto{
			Name:       proto.String(fmt.Sprintf("bench/v1/event_%03d.proto", e)),
			Package:    proto.String("bench.v1"),
			Syntax:     proto.String("proto3"),
			Dependency: []string{"bench/v1/common.proto", "clickstream/options/v1/options.proto"},
		}
		for v := 1; v <= benchVersions; v++ {
			name := fmt.Sprintf("Event%03dV%d", e, v)
			opts := &descriptorpb.MessageOptions{}
			proto.SetExtension(opts, optionsv1.E_Event, &optionsv1.EventOptions{Id: uint32(10000 + e), Version: uint32(v), Description: fmt.Sprintf("Synthetic event %d, version %d.", e, v)})
			m := &descriptorpb.DescriptorProto{
				Name:    proto.String(name),
				Options: opts,
				Field: []*descriptorpb.FieldDescriptorProto{
					benchField("device", 1, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".bench.v1.Device", true),
					benchField("object_id", 2, str, "", true),
					benchField("count", 3, descriptorpb.FieldDescriptorProto_TYPE_INT64, "", false),
					benchField("kind", 4, descriptorpb.FieldDescriptorProto_TYPE_ENUM, ".bench.v1.Kind", false),
				},
			}
			for f := range v {
				m.Field = append(m.Field, benchField(fmt.Sprintf("extra_%d", f), int32(5+f), str, "", false))
			}
			file.MessageType = append(file.MessageType, m)
			in.Events = append(in.Events, langpack.Event{ID: uint32(10000 + e), Version: uint32(v), MessageName: "bench.v1." + name, Description: "Synthetic.", Deprecated: v == 1})
		}
		fds.File = append(fds.File, file)
	}
	return in
}

func benchField(name string, number int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string, required bool) *descriptorpb.FieldDescriptorProto {
	f := &descriptorpb.FieldDescriptorProto{
		Name:     proto.String(name),
		JsonName: proto.String(name),
		Number:   proto.Int32(number),
		Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		Type:     typ.Enum(),
	}
	if typeName != "" {
		f.TypeName = proto.String(typeName)
	}
	if required {
		f.Options = &descriptorpb.FieldOptions{}
		proto.SetExtension(f.Options, optionsv1.E_Field, &optionsv1.FieldOptions{Required: true})
	}
	return f
}

// BenchmarkGenerate generates each language's langpack of 1,000 event
// versions.
func BenchmarkGenerate(b *testing.B) {
	in := syntheticInput()
	for _, lang := range langpack.Languages() {
		b.Run(string(lang), func(b *testing.B) {
			var size int
			for b.Loop() {
				p, err := langpack.Generate(lang, in)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Manifest.Events) != benchEvents*benchVersions {
					b.Fatalf("%d events in the manifest", len(p.Manifest.Events))
				}
				size = 0
				for _, f := range p.Files {
					size += len(f.Data)
				}
			}
			b.ReportMetric(float64(size), "bytes/pack")
		})
	}
}

// TestSyntheticCatalogue keeps the benchmark's input honest: every
// language generates it, with every event version in it.
func TestSyntheticCatalogue(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1,000 event versions per language")
	}
	in := syntheticInput()
	for _, lang := range langpack.Languages() {
		p, err := langpack.Generate(lang, in)
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		if len(p.Manifest.Events) != 1000 {
			t.Fatalf("%s: %d events", lang, len(p.Manifest.Events))
		}
	}
}

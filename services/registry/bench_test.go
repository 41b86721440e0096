package registry_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// The synthetic catalogue: benchEvents events of benchVersions versions
// each, one file per event, all referencing a shared message.
const (
	benchEvents   = 250
	benchVersions = 4
)

// syntheticCatalogue returns a FileDescriptorSet of events events with
// versions versions each (event 0 has extra more), as the CLI pushes it:
// the standard and option imports first, then a shared file, then one file
// per event.
func syntheticCatalogue(events, versions, extra int) *descriptorpb.FileDescriptorSet {
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
					scalarField("os", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, nil),
					scalarField("app_version", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING, nil),
				},
			}},
		},
	}}
	for e := range events {
		n := versions
		if e == 0 {
			n += extra
		}
		file := &descriptorpb.FileDescriptorProto{
			Name:       proto.String(fmt.Sprintf("bench/v1/event_%03d.proto", e)),
			Package:    proto.String("bench.v1"),
			Syntax:     proto.String("proto3"),
			Dependency: []string{"bench/v1/common.proto", "clickstream/options/v1/options.proto"},
		}
		for v := 1; v <= n; v++ {
			file.MessageType = append(file.MessageType, syntheticVersion(e, v))
		}
		fds.File = append(fds.File, file)
	}
	return fds
}

// syntheticVersion is version v of event e: a handful of fields, one more
// per version.
func syntheticVersion(e, v int) *descriptorpb.DescriptorProto {
	opts := &descriptorpb.MessageOptions{}
	proto.SetExtension(opts, optionsv1.E_Event, &optionsv1.EventOptions{
		Id:          uint32(10000 + e),
		Version:     uint32(v),
		Description: fmt.Sprintf("Synthetic event %d, version %d.", e, v),
	})
	m := &descriptorpb.DescriptorProto{
		Name:    proto.String(fmt.Sprintf("Event%03dV%d", e, v)),
		Options: opts,
		Field: []*descriptorpb.FieldDescriptorProto{
			{
				Name: proto.String("device"), JsonName: proto.String("device"), Number: proto.Int32(1),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Type:     descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
				TypeName: proto.String(".bench.v1.Device"),
				Options:  fieldOptions(&optionsv1.FieldOptions{Required: true}),
			},
			scalarField("user_id", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING, &optionsv1.FieldOptions{Required: true, Pii: true}),
			scalarField("item_id", 3, descriptorpb.FieldDescriptorProto_TYPE_INT64, &optionsv1.FieldOptions{Example: "42"}),
			scalarField("price", 4, descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, nil),
		},
	}
	for i := range v {
		m.Field = append(m.Field, scalarField(fmt.Sprintf("extra_%d", i+1), int32(5+i), descriptorpb.FieldDescriptorProto_TYPE_STRING, nil))
	}
	return m
}

func scalarField(name string, number int32, typ descriptorpb.FieldDescriptorProto_Type, opt *optionsv1.FieldOptions) *descriptorpb.FieldDescriptorProto {
	f := &descriptorpb.FieldDescriptorProto{
		Name:     proto.String(name),
		JsonName: proto.String(jsonName(name)),
		Number:   proto.Int32(number),
		Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		Type:     typ.Enum(),
	}
	if opt != nil {
		f.Options = fieldOptions(opt)
	}
	return f
}

func fieldOptions(opt *optionsv1.FieldOptions) *descriptorpb.FieldOptions {
	opts := &descriptorpb.FieldOptions{}
	proto.SetExtension(opts, optionsv1.E_Field, opt)
	return opts
}

// jsonName is protoc's default JSON name.
func jsonName(name string) string {
	out := []byte{}
	upper := false
	for i := range len(name) {
		switch c := name[i]; {
		case c == '_':
			upper = true
		case upper && 'a' <= c && c <= 'z':
			out, upper = append(out, c-'a'+'A'), false
		default:
			out, upper = append(out, c), false
		}
	}
	return string(out)
}

// benchStore returns a store on a fresh, migrated database, and its pool
// for the caller to close.
func benchStore(b *testing.B) (*registry.PostgresStore, *pgxpool.Pool) {
	b.Helper()
	pool, err := postgres.Open(b.Context(), pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	return registry.NewPostgresStore(pool), pool
}

// benchPush pushes fds and checks that it added want versions.
func benchPush(b *testing.B, admin *registry.AdminService, fds *descriptorpb.FileDescriptorSet, want int) {
	b.Helper()
	resp, err := admin.PushSchemas(b.Context(), &registryv1.PushSchemasRequest{FileDescriptorSet: fds, Author: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if len(resp.GetAdded()) != want {
		b.Fatalf("push added %d versions, want %d", len(resp.GetAdded()), want)
	}
}

// BenchmarkPush1000 pushes a catalogue of 1,000 event versions to an empty
// registry.
func BenchmarkPush1000(b *testing.B) {
	fds := syntheticCatalogue(benchEvents, benchVersions, 0)
	for range b.N {
		b.StopTimer()
		store, pool := benchStore(b)
		admin := registry.NewAdmin(store)
		b.StartTimer()
		benchPush(b, admin, fds, benchEvents*benchVersions)
		b.StopTimer()
		pool.Close()
		b.StartTimer()
	}
}

// BenchmarkPushOneMore pushes the catalogue with one version more on top of
// 1,000 registered ones (each iteration adds the next version of one
// event), and reports the ratio of its time to the initial push of the
// 1,000, measured in the same run.
func BenchmarkPushOneMore(b *testing.B) {
	store, pool := benchStore(b)
	defer pool.Close()
	admin := registry.NewAdmin(store)
	start := time.Now()
	benchPush(b, admin, syntheticCatalogue(benchEvents, benchVersions, 0), benchEvents*benchVersions)
	initial := time.Since(start)

	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		fds := syntheticCatalogue(benchEvents, benchVersions, i+1)
		b.StartTimer()
		benchPush(b, admin, fds, 1)
	}
	b.StopTimer()
	perPush := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(initial.Nanoseconds()), "initial-push-ns")
	b.ReportMetric(float64(perPush)/float64(initial), "ratio-to-initial-push")
}

// BenchmarkGetSchemaSet1000 asks for the schema set of a catalogue of 1,000
// versions: all of them, and an environment allowed every other version.
func BenchmarkGetSchemaSet1000(b *testing.B) {
	store, pool := benchStore(b)
	defer pool.Close()
	benchPush(b, registry.NewAdmin(store), syntheticCatalogue(benchEvents, benchVersions, 0), benchEvents*benchVersions)
	if _, err := pool.Exec(b.Context(), `
		INSERT INTO registry.environments (name) VALUES ('half');
		INSERT INTO registry.environment_access (environment, event_id, version)
		SELECT 'half', event_id, version FROM registry.event_versions WHERE version % 2 = 0`); err != nil {
		b.Fatal(err)
	}
	svc := registry.New(store)
	for _, env := range []string{"", "half"} {
		b.Run(fmt.Sprintf("environment=%q", env), func(b *testing.B) {
			for range b.N {
				resp, err := svc.GetSchemaSet(b.Context(), &registryv1.GetSchemaSetRequest{Environment: env})
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.GetVersions()) == 0 {
					b.Fatal("no versions")
				}
				if _, err := proto.Marshal(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package langpack_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// fixtureInput is the schema package's small fixed catalogue as the
// registry hands it to the generators: PhotoStatusChangedV1 deprecated,
// owners set, the files with all their imports.
func fixtureInput(t testing.TB, version int) langpack.Input {
	t.Helper()
	set, err := schema.Compile(context.Background(), os.DirFS(filepath.Join("..", "schema", "testdata", "catalogue")), protosrc.FS)
	if err != nil {
		t.Fatalf("compile the fixture catalogue: %v", err)
	}
	events, vs := set.Events()
	if len(vs) > 0 {
		t.Fatalf("fixture catalogue violations: %v", vs)
	}
	in := langpack.Input{Environment: "web", Revision: 7, Version: version, Files: fileSet(set.Files)}
	for _, ev := range events {
		in.Events = append(in.Events, langpack.Event{
			ID: ev.ID, Version: ev.Version, MessageName: ev.MessageName, Description: ev.Description,
			Deprecated: ev.MessageName == "fixture.events.v1.PhotoStatusChangedV1",
			OwnerTeam:  "ugc",
		})
	}
	return in
}

// fileSet returns files and everything they import, each after its imports.
func fileSet(files []protoreflect.FileDescriptor) *descriptorpb.FileDescriptorSet {
	out := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			visit(imports.Get(i).FileDescriptor)
		}
		out.File = append(out.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range files {
		visit(fd)
	}
	return out
}

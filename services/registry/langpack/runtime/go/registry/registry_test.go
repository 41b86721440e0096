package registry

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	_ "google.golang.org/protobuf/types/known/timestamppb"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
)

// TestOwnFilesBesideTheGlobalOnes: a file the global registry already holds
// registers here without a conflict and is found here; protobuf's own files
// and types come from the global registry; the global registry's other
// files do not leak into the pack's.
func TestOwnFilesBesideTheGlobalOnes(t *testing.T) {
	global := optionsv1.File_clickstream_options_v1_options_proto
	copied, err := protodesc.NewFile(protodesc.ToFileDescriptorProto(global), protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := Files.RegisterFile(copied); err != nil {
		t.Fatalf("register %s beside the global one: %v", copied.Path(), err)
	}
	fd, err := Files.FindFileByPath(global.Path())
	if err != nil || fd != copied {
		t.Errorf("FindFileByPath(%s) = %v, %v; want the pack's own copy", global.Path(), fd, err)
	}
	if d, err := Files.FindDescriptorByName("clickstream.options.v1.EventOptions"); err != nil || d.ParentFile() != copied {
		t.Errorf("FindDescriptorByName(EventOptions) = %v, %v; want the pack's own", d, err)
	}
	if _, err := Files.FindFileByPath("google/protobuf/timestamp.proto"); err != nil {
		t.Errorf("a well-known file is not found through the global registry: %v", err)
	}
	if _, err := Types.FindMessageByName("google.protobuf.Timestamp"); err != nil {
		t.Errorf("a well-known type is not found through the global registry: %v", err)
	}
	if _, err := Files.FindFileByPath("clickstream/ingest/v1/ingest.proto"); !errors.Is(err, protoregistry.NotFound) {
		t.Errorf("a file the pack does not hold: %v, want NotFound", err)
	}
	n := 0
	Files.RangeFiles(func(protoreflect.FileDescriptor) bool { n++; return true })
	if n != 1 {
		t.Errorf("the pack's registry ranges over %d files, want 1", n)
	}
}

package warehouse_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
	"github.com/clickstream-dev/clickstream/services/warehouse"
	"github.com/clickstream-dev/clickstream/services/warehouse/migrations"
)

// TestMain starts one PostgreSQL for the package, migrated once into a
// template; each test that needs it clones a fresh database.
func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, url string) error {
		return postgres.Migrate(ctx, url, migrations.Schema, migrations.FS)
	})
}

// versionThree starts what the fixture adds for version 3 of the cart event.
const versionThree = "\n// Version 3 (the tests leave out what follows"

// fixtureSchemas compiles the cart event of testdata/fixture: "v123" with
// its three versions, "v12" with versions 1 and 2 (the file up to
// versionThree).
func fixtureSchemas(t testing.TB, versions string) *warehouse.FileSchemas {
	t.Helper()
	const name = "fixture/v1/cart.proto"
	src, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if versions == "v12" {
		src, _, _ = bytes.Cut(src, []byte(versionThree))
	}
	set, err := schema.Compile(context.Background(), fstest.MapFS{name: {Data: src}}, protosrc.FS)
	if err != nil {
		t.Fatalf("compile the %s cart fixture: %v", versions, err)
	}
	// Through bytes, as the registry's GetSchemaSet delivers it (the event
	// options then decode as the generated types).
	b, err := proto.Marshal(set.FileDescriptorSet())
	if err != nil {
		t.Fatal(err)
	}
	fds := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(b, fds); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(fds)
	if err != nil {
		t.Fatal(err)
	}
	return warehouse.NewFileSchemas(files, 1)
}

// cartVersions are the messages of the cart event's versions in s.
func cartVersions(t testing.TB, s *warehouse.FileSchemas) []protoreflect.MessageDescriptor {
	t.Helper()
	_, versions, ok := s.Event("fixture.v1.CartUpdatedV1")
	if !ok {
		t.Fatal("the fixture has no CartUpdatedV1")
	}
	return versions
}

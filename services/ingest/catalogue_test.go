package ingest_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// catalogueEvents is every event version of the repo's catalogue with its
// required top-level fields, in field order.
var catalogueEvents = []struct {
	name     string
	id       uint32
	version  uint32
	event    string // name without the version suffix
	required []string
}{
	{"clickstream.events.v1.ItemViewV1", 1001, 1, "ItemView", []string{"context", "item_id"}},
	{"clickstream.events.v1.ItemViewV2", 1001, 2, "ItemView", []string{"context", "item_id"}},
	{"clickstream.events.v1.SearchQueryV1", 1002, 1, "SearchQuery", []string{"context", "query"}},
	{"clickstream.events.v1.MessengerMessageSentV1", 1003, 1, "MessengerMessageSent", []string{"context", "chat_id", "message_id"}},
	{"clickstream.events.v1.PaymentV1", 1004, 1, "Payment", []string{"context", "payment_id", "status", "amount"}},
	{"clickstream.events.v1.AdAuctionV1", 1005, 1, "AdAuction", []string{"context", "auction_id", "slot"}},
	{"clickstream.events.v1.PhotoStatusChangedV1", 2001, 1, "PhotoStatusChanged", []string{"context", "photo_id", "object_id", "status"}},
	{"clickstream.events.v1.PhotoStatusChangedV2", 2001, 2, "PhotoStatusChanged", []string{"context", "photo_id", "object_id", "status"}},
	{"clickstream.events.v1.ReviewStatusChangedV1", 2002, 1, "ReviewStatusChanged", []string{"context", "review_id", "object_id", "status"}},
	{"clickstream.events.v1.DataFeedbackStatusChangedV1", 2003, 1, "DataFeedbackStatusChanged", []string{"context", "feedback_id", "object_id", "status"}},
	{"clickstream.events.v1.NavigationTripFinishedV1", 2004, 1, "NavigationTripFinished", []string{"context", "trip_id", "distance_m"}},
	{"clickstream.events.v1.PlaceCardOpenedV1", 2005, 1, "PlaceCardOpened", []string{"context", "object_id"}},
	{"clickstream.events.v1.ExternalProjectEventV1", 3001, 1, "ExternalProjectEvent", []string{"context", "project", "action"}},
}

// TestCatalogueSources builds the catalogue from the descriptors as the
// compiler makes them and as they arrive over the wire, where the custom
// options may be known extensions or unknown fields, and checks every event
// version and its required fields are found.
func TestCatalogueSources(t *testing.T) {
	compiled, err := realDescriptors()
	if err != nil {
		t.Fatal(err)
	}
	wire, err := proto.Marshal(compiled)
	if err != nil {
		t.Fatal(err)
	}
	sources := []struct {
		name     string
		resolver interface {
			protoregistry.ExtensionTypeResolver
			protoregistry.MessageTypeResolver
		}
	}{
		{"compiled", nil},
		{"wire, options as extensions", protoregistry.GlobalTypes},
		{"wire, options as unknown fields", new(protoregistry.Types)},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			fds := compiled
			if src.resolver != nil {
				fds = &descriptorpb.FileDescriptorSet{}
				if err := (proto.UnmarshalOptions{Resolver: src.resolver}).Unmarshal(wire, fds); err != nil {
					t.Fatal(err)
				}
			}
			if src.name == "wire, options as unknown fields" && !optionsUnknown(fds) {
				t.Fatal("the fixture is wrong: the event options did not stay unknown fields")
			}
			c, err := ingest.NewCatalogue(fds, 3)
			if err != nil {
				t.Fatalf("NewCatalogue: %v", err)
			}
			checkCatalogue(t, c)
		})
	}
}

// optionsUnknown reports whether ItemViewV2's options hold the event option
// as unknown bytes.
func optionsUnknown(fds *descriptorpb.FileDescriptorSet) bool {
	for _, f := range fds.GetFile() {
		for _, m := range f.GetMessageType() {
			if m.GetName() == "ItemViewV2" {
				return len(m.GetOptions().ProtoReflect().GetUnknown()) > 0
			}
		}
	}
	return false
}

func checkCatalogue(t *testing.T, c *ingest.Catalogue) {
	t.Helper()
	if c.Revision() != 3 {
		t.Errorf("Revision() = %d, want 3", c.Revision())
	}
	total := 0
	for _, id := range []uint32{1001, 1002, 1003, 1004, 1005, 2001, 2002, 2003, 2004, 2005, 3001} {
		total += len(c.Versions(id))
	}
	if total != len(catalogueEvents) || total != 13 {
		t.Errorf("%d event versions, want 13", total)
	}
	for _, want := range catalogueEvents {
		et, ok := c.ByName(want.name)
		if !ok {
			t.Errorf("ByName(%s): not found", want.name)
			continue
		}
		if et.ID != want.id || et.Version != want.version || et.Name != want.event || et.FullName() != want.name {
			t.Errorf("ByName(%s) = {%d v%d %s %s}, want {%d v%d %s}", want.name, et.ID, et.Version, et.Name, et.FullName(), want.id, want.version, want.event)
		}
		byID, found, known := c.ByID(want.id, want.version)
		if !found || !known || byID.FullName() != want.name {
			t.Errorf("ByID(%d, %d) = %s, %v, %v; want %s, true, true", want.id, want.version, byID.FullName(), found, known, want.name)
		}
		checkRequired(t, c, et, want.required)
	}
}

// checkRequired checks that exactly the fields in required are required: an
// event with only them set is valid, and without any one of them it is
// rejected naming that field.
func checkRequired(t *testing.T, c *ingest.Catalogue, et ingest.EventType, required []string) {
	t.Helper()
	full := dynamicpb.NewMessage(et.Descriptor)
	for _, name := range required {
		fd := et.Descriptor.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			t.Fatalf("%s has no field %s", et.FullName(), name)
		}
		full.Set(fd, someValue(full, fd))
	}
	if rej := decodeMessage(t, c, et, full); rej != nil {
		t.Errorf("%s with its required fields %v set: rejected: %v", et.FullName(), required, rej)
	}
	for _, name := range required {
		m := proto.Clone(full).(*dynamicpb.Message)
		m.Clear(et.Descriptor.Fields().ByName(protoreflect.Name(name)))
		rej := decodeMessage(t, c, et, m)
		wantRejection(t, rej, ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, name, et.FullName(), name)
	}
}

// someValue is a value that counts as set for a required field.
func someValue(m protoreflect.Message, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x")
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(1)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	case protoreflect.MessageKind:
		return m.NewField(fd) // an empty message is present
	}
	panic("someValue: add kind " + fd.Kind().String())
}

func decodeMessage(t *testing.T, c *ingest.Catalogue, et ingest.EventType, m proto.Message) *ingestv1.Rejection {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, rej := c.Decode(typedBytes("", et.FullName(), b), 1<<20)
	return rej
}

func TestCatalogueLookups(t *testing.T) {
	c := realCatalogue(t)
	tests := []struct {
		id, version  uint32
		found, known bool
	}{
		{1001, 1, true, true},
		{1001, 2, true, true},
		{1001, 3, false, true},
		{1001, 0, false, true},
		{9999, 1, false, false},
		{0, 0, false, false},
	}
	for _, tt := range tests {
		_, found, known := c.ByID(tt.id, tt.version)
		if found != tt.found || known != tt.known {
			t.Errorf("ByID(%d, %d): found %v, known %v; want %v, %v", tt.id, tt.version, found, known, tt.found, tt.known)
		}
	}
	for id, want := range map[uint32][]uint32{1001: {1, 2}, 2001: {1, 2}, 1002: {1}, 9999: nil} {
		if got := c.Versions(id); !slices.Equal(got, want) {
			t.Errorf("Versions(%d) = %v, want %v", id, got, want)
		}
	}
	for _, name := range []string{"", "ItemViewV2", "clickstream.events.v1.Context", "clickstream.events.v1.MobileAppEvent", "clickstream.events.v1.ItemViewV3"} {
		if _, ok := c.ByName(name); ok {
			t.Errorf("ByName(%q) found an event; want none", name)
		}
	}
}

func TestNewCatalogueErrors(t *testing.T) {
	compiled, err := realDescriptors()
	if err != nil {
		t.Fatal(err)
	}
	fileNamed := func(fds *descriptorpb.FileDescriptorSet, name string) *descriptorpb.FileDescriptorProto {
		for _, f := range fds.GetFile() {
			if f.GetName() == name {
				return f
			}
		}
		t.Fatalf("no file %s", name)
		return nil
	}

	// The same event id and version defined twice, in another package.
	twice := proto.Clone(compiled).(*descriptorpb.FileDescriptorSet)
	dup := proto.Clone(fileNamed(twice, "clickstream/events/v1/item_view.proto")).(*descriptorpb.FileDescriptorProto)
	dup.Name = proto.String("copy/v1/item_view.proto")
	dup.Package = proto.String("copy.v1") // field types are fully qualified: they still name clickstream.events.v1
	twice.File = append(twice.File, dup)

	// A file whose import is missing.
	missing := proto.Clone(compiled).(*descriptorpb.FileDescriptorSet)
	missing.File = slices.DeleteFunc(missing.File, func(f *descriptorpb.FileDescriptorProto) bool {
		return f.GetName() == "clickstream/events/v1/context.proto"
	})

	tests := []struct {
		name string
		fds  *descriptorpb.FileDescriptorSet
		want string
	}{
		{"event version defined twice", twice, "event 1001 v1 is defined twice"},
		{"missing import", missing, "context.proto"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingest.NewCatalogue(tt.fds, 9)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "revision 9") {
				t.Errorf("NewCatalogue: %v; want an error naming the revision and %q", err, tt.want)
			}
		})
	}
}

package registry_test

import (
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// schemaSet calls GetSchemaSet and returns the answer as a client decodes
// it from the wire.
func schemaSet(t *testing.T, svc *registry.Service, req *registryv1.GetSchemaSetRequest) *registryv1.GetSchemaSetResponse {
	t.Helper()
	resp, err := svc.GetSchemaSet(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	decoded := &registryv1.GetSchemaSetResponse{}
	if err := proto.Unmarshal(b, decoded); err != nil {
		t.Fatal(err)
	}
	return decoded
}

// eventMessages builds the files of a schema set, checking that each comes
// after its imports, and returns the full names of its event messages.
func eventMessages(t *testing.T, fds *descriptorpb.FileDescriptorSet) (*protoregistry.Files, []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range fds.GetFile() {
		for _, dep := range f.GetDependency() {
			if !seen[dep] {
				t.Errorf("%s comes before its import %s", f.GetName(), dep)
			}
		}
		seen[f.GetName()] = true
	}
	files, err := protodesc.NewFiles(fds)
	if err != nil {
		t.Fatalf("build the schema set: %v", err)
	}
	var events []string
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Messages().Len() {
			md := fd.Messages().Get(i)
			if proto.HasExtension(md.Options(), optionsv1.E_Event) {
				events = append(events, string(md.FullName()))
			}
		}
		return true
	})
	slices.Sort(events)
	return files, events
}

func TestGetSchemaSetEnvironment(t *testing.T) {
	store, pool := registeredStore(t)
	webAndIOS(t, pool)
	exec(t, pool, `UPDATE registry.event_versions SET status = 'retired' WHERE event_id = 2001 AND version = 2`)
	svc := registry.New(store)

	resp := schemaSet(t, svc, &registryv1.GetSchemaSetRequest{Environment: "web"})
	if resp.GetRevision() != 1 || resp.GetNotModified() {
		t.Errorf("revision %d, not modified %v; want 1, false", resp.GetRevision(), resp.GetNotModified())
	}
	files, events := eventMessages(t, resp.GetFileDescriptorSet())
	want := []string{"clickstream.events.v1.ItemViewV1", "clickstream.events.v1.PhotoStatusChangedV2"}
	if !slices.Equal(events, want) {
		t.Errorf("event messages %v, want exactly %v", events, want)
	}
	var paths []string
	for _, f := range resp.GetFileDescriptorSet().GetFile() {
		paths = append(paths, f.GetName())
	}
	slices.Sort(paths)
	wantPaths := []string{
		"clickstream/events/v1/context.proto", "clickstream/events/v1/item_view.proto",
		"clickstream/events/v1/photo_status_changed.proto", "clickstream/options/v1/options.proto",
		"google/protobuf/descriptor.proto", "google/protobuf/timestamp.proto",
	}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("files %v, want %v", paths, wantPaths)
	}
	var got []string
	for _, v := range resp.GetVersions() {
		got = append(got, strings.Join([]string{v.GetMessageName(), v.GetStatus().String(), v.GetFile()}, " "))
	}
	wantVersions := []string{
		"clickstream.events.v1.ItemViewV1 LIFECYCLE_STATUS_ACTIVE clickstream/events/v1/item_view.proto",
		"clickstream.events.v1.PhotoStatusChangedV2 LIFECYCLE_STATUS_RETIRED clickstream/events/v1/photo_status_changed.proto",
	}
	if !slices.Equal(got, wantVersions) {
		t.Errorf("versions %q, want %q", got, wantVersions)
	}

	// The messages left out of a file take their source info with them:
	// comments still belong to the right declarations.
	d, err := files.FindDescriptorByName("clickstream.events.v1.PhotoStatusChangedV2")
	if err != nil {
		t.Fatal(err)
	}
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	if c := strings.TrimSpace(loc.LeadingComments); c != "Version 2 adds the previous status and the moderation reason." {
		t.Errorf("PhotoStatusChangedV2 comment %q, want its own", c)
	}
	reason := d.(protoreflect.MessageDescriptor).Fields().ByName("reason")
	if c := strings.TrimSpace(d.ParentFile().SourceLocations().ByDescriptor(reason).LeadingComments); c != `Why moderation changed the status, e.g. "spam".` {
		t.Errorf("PhotoStatusChangedV2.reason comment %q, want its own", c)
	}

	// Every version, for ingest and awards.
	all := schemaSet(t, svc, &registryv1.GetSchemaSetRequest{})
	if _, events := eventMessages(t, all.GetFileDescriptorSet()); len(events) != 13 || len(all.GetVersions()) != 13 {
		t.Errorf("all versions: %d event messages, %d versions; want 13 and 13", len(events), len(all.GetVersions()))
	}

	// An environment that may send nothing gets an empty set.
	none := schemaSet(t, svc, &registryv1.GetSchemaSetRequest{Environment: "backend"})
	if len(none.GetFileDescriptorSet().GetFile()) != 0 || len(none.GetVersions()) != 0 || none.GetRevision() != 1 {
		t.Errorf("backend: %v, want an empty set at revision 1", none)
	}

	_, err = svc.GetSchemaSet(t.Context(), &registryv1.GetSchemaSetRequest{Environment: "nowhere"})
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), `environment "nowhere" does not exist`) {
		t.Errorf("GetSchemaSet(nowhere): %v, want NotFound naming the environment", err)
	}
}

func TestGetSchemaSetNotModified(t *testing.T) {
	store, pool := registeredStore(t)
	webAndIOS(t, pool)
	svc := registry.New(store)

	resp := schemaSet(t, svc, &registryv1.GetSchemaSetRequest{Environment: "web", SinceRevision: 1})
	if !resp.GetNotModified() || resp.GetRevision() != 1 || resp.GetFileDescriptorSet() != nil || len(resp.GetVersions()) != 0 {
		t.Errorf("since the current revision: %v, want not_modified at 1 and nothing else", resp)
	}

	// A metadata revision (an access change) carries no descriptors: the
	// set comes from the newest push, under the newest revision.
	exec(t, pool,
		`INSERT INTO registry.environment_access (environment, event_id, version) VALUES ('web', 1004, 1)`,
		`INSERT INTO registry.revisions (author, message, descriptor_set, kind) VALUES ('bob', 'allow PaymentV1 in web', '', 'metadata')`)
	resp = schemaSet(t, svc, &registryv1.GetSchemaSetRequest{Environment: "web", SinceRevision: 1})
	if resp.GetNotModified() || resp.GetRevision() != 2 {
		t.Fatalf("after a metadata revision: not_modified %v, revision %d; want false, 2", resp.GetNotModified(), resp.GetRevision())
	}
	if _, events := eventMessages(t, resp.GetFileDescriptorSet()); !slices.Contains(events, "clickstream.events.v1.PaymentV1") || len(events) != 3 {
		t.Errorf("event messages %v, want ItemViewV1, PaymentV1 and PhotoStatusChangedV2", events)
	}

	// A push after it adds its versions.
	set := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV2)})
	if _, err := registry.NewAdmin(store).PushSchemas(t.Context(), pushRequest(set)); err != nil {
		t.Fatal(err)
	}
	all := schemaSet(t, svc, &registryv1.GetSchemaSetRequest{SinceRevision: 2})
	if _, events := eventMessages(t, all.GetFileDescriptorSet()); all.GetRevision() != 3 || !slices.Contains(events, "clickstream.events.v1.PlaceCardOpenedV2") {
		t.Errorf("after a push: revision %d, events %v; want 3 with PlaceCardOpenedV2", all.GetRevision(), events)
	}
}

// TestGetSchemaSetNotModifiedByContent: a client asking whether its set
// changed since a revision hears "not modified" while the revisions since
// changed nothing its set holds (access of other environments, owners), and
// gets the set again when they did (its own access, a lifecycle, a push),
// or when the registry does not know what it answered then.
func TestGetSchemaSetNotModifiedByContent(t *testing.T) {
	store, pool := registeredStore(t)
	webAndIOS(t, pool)
	svc, admin := registry.New(store), registry.NewAdmin(store)
	allow := func(env string, id, version uint32) uint64 {
		t.Helper()
		if _, err := admin.SetEventAccess(t.Context(), &registryv1.SetEventAccessRequest{Environment: env, EventId: id, Version: version, Allowed: true, Actor: "alice"}); err != nil {
			t.Fatal(err)
		}
		revs, err := store.Revisions(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return revs.Current
	}
	unchanged := func(name string, resp *registryv1.GetSchemaSetResponse, revision uint64) {
		t.Helper()
		if !resp.GetNotModified() || resp.GetRevision() != revision || resp.GetFileDescriptorSet() != nil || len(resp.GetVersions()) != 0 {
			t.Errorf("%s: not_modified %v at revision %d with %d files, %d versions; want not modified at %d and nothing else",
				name, resp.GetNotModified(), resp.GetRevision(), len(resp.GetFileDescriptorSet().GetFile()), len(resp.GetVersions()), revision)
		}
	}
	changed := func(name string, resp *registryv1.GetSchemaSetResponse, revision uint64, versions int) {
		t.Helper()
		if resp.GetNotModified() || resp.GetRevision() != revision || len(resp.GetVersions()) != versions || len(resp.GetFileDescriptorSet().GetFile()) == 0 {
			t.Errorf("%s: not_modified %v at revision %d with %d files, %d versions; want the set of %d versions at %d",
				name, resp.GetNotModified(), resp.GetRevision(), len(resp.GetFileDescriptorSet().GetFile()), len(resp.GetVersions()), versions, revision)
		}
	}

	web := schemaSet(t, svc, &registryv1.GetSchemaSetRequest{Environment: "web"})
	all := schemaSet(t, svc, &registryv1.GetSchemaSetRequest{})
	changed("web at 1", web, 1, 2)
	changed("every version at 1", all, 1, 13)

	// ios may send one more: neither web's set nor the whole one changed.
	rev := allow("ios", 1004, 1)
	unchanged("web since 1 after an ios grant", schemaSet(t, svc, &registryv1.GetSchemaSetRequest{Environment: "web", SinceRevision: 1}), rev)
	unchanged("every version since 1 after an ios grant", schemaSet(t, svc, &registryv1.GetSchemaSetRequest{SinceRevision: 1}), rev)
	// An owner changes nothing a schema set holds either.
	if _, err := admin.SetOwner(t.Context(), &registryv1.SetOwnerRequest{EventId: 1001, Owner: &registryv1.Owner{Team: "growth"}, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	revs, err := store.Revisions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	unchanged("web since 1 after an owner", schemaSet(t, svc, &registryv1.GetSchemaSetRequest{Environment: "web", SinceRevision: 1}), revs.Current)

	// web may send one more: its set changed, the whole one did not.
	rev = allow("web", 1004, 1)
	changed("web since 1 after a web grant", schemaSet(t, svc, &registryv1.GetSchemaSetRequest{Environment: "web", SinceRevision: 1}), rev, 3)
	unchanged("every version since 1 after a web grant", schemaSet(t, svc, &registryv1.GetSchemaSetRequest{SinceRevision: 1}), rev)

	// A lifecycle change is in every set holding the version.
	if _, err := admin.SetLifecycle(t.Context(), &registryv1.SetLifecycleRequest{EventId: 1001, Version: 1, Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	if revs, err = store.Revisions(t.Context()); err != nil {
		t.Fatal(err)
	}
	changed("every version after a deprecation", schemaSet(t, svc, &registryv1.GetSchemaSetRequest{SinceRevision: rev}), revs.Current, 13)

	// A registry that did not answer at that revision (restarted, or
	// another replica) sends the set.
	changed("web since 1 from a new registry", schemaSet(t, registry.New(store), &registryv1.GetSchemaSetRequest{Environment: "web", SinceRevision: 1}), revs.Current, 3)
}

// TestGetSchemaSetOmitSourceInfo: a client that only decodes events gets
// the same files without comments and source positions, and fewer bytes.
func TestGetSchemaSetOmitSourceInfo(t *testing.T) {
	store, pool := registeredStore(t)
	webAndIOS(t, pool)
	svc := registry.New(store)
	full := schemaSet(t, svc, &registryv1.GetSchemaSetRequest{})
	bare := schemaSet(t, svc, &registryv1.GetSchemaSetRequest{OmitSourceInfo: true})
	if len(bare.GetFileDescriptorSet().GetFile()) != len(full.GetFileDescriptorSet().GetFile()) || len(bare.GetVersions()) != len(full.GetVersions()) {
		t.Fatalf("without source info: %d files, %d versions; want %d and %d as with it",
			len(bare.GetFileDescriptorSet().GetFile()), len(bare.GetVersions()), len(full.GetFileDescriptorSet().GetFile()), len(full.GetVersions()))
	}
	withInfo := 0
	for i, f := range bare.GetFileDescriptorSet().GetFile() {
		if f.GetSourceCodeInfo() != nil {
			t.Errorf("%s keeps its source info", f.GetName())
		}
		if full.GetFileDescriptorSet().GetFile()[i].GetSourceCodeInfo() != nil {
			withInfo++
		}
		stripped := proto.CloneOf(full.GetFileDescriptorSet().GetFile()[i])
		stripped.SourceCodeInfo = nil
		if !proto.Equal(f, stripped) {
			t.Errorf("%s differs from the full set's beyond its source info", f.GetName())
		}
	}
	fullSize, bareSize := proto.Size(full.GetFileDescriptorSet()), proto.Size(bare.GetFileDescriptorSet())
	t.Logf("schema set of every version: %d bytes, %d without source info (%d of %d files had some)", fullSize, bareSize, withInfo, len(full.GetFileDescriptorSet().GetFile()))
	if withInfo == 0 || bareSize >= fullSize {
		t.Errorf("without source info %d bytes of %d (%d files had source info): want fewer", bareSize, fullSize, withInfo)
	}
	if _, events := eventMessages(t, bare.GetFileDescriptorSet()); len(events) != 13 {
		t.Errorf("without source info: %d event messages, want 13", len(events))
	}
}

package registry_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// pushRequest is a push of set by "alice".
func pushRequest(set *schema.Set) *registryv1.PushSchemasRequest {
	return &registryv1.PushSchemasRequest{FileDescriptorSet: set.FileDescriptorSet(), Author: "alice", Message: "a change"}
}

// lockedNames are the short names of the versions in events.lock, in order.
func lockedNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, e := range catalogueLock(t).Entries {
		names = append(names, e.MessageName[strings.LastIndexByte(e.MessageName, '.')+1:])
	}
	return names
}

func TestPushCatalogue(t *testing.T) {
	store, pool := newStore(t)
	admin := registry.NewAdmin(store)

	resp, err := admin.PushSchemas(t.Context(), &registryv1.PushSchemasRequest{
		FileDescriptorSet: catalogue(t).FileDescriptorSet(), Author: " alice ", Message: "starter catalogue",
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRevision() != 1 || !slices.Equal(resp.GetAdded(), lockedNames(t)) || resp.GetUnchanged() != 0 || resp.GetDryRun() {
		t.Errorf("push = %v, want revision 1 adding every locked version", resp)
	}
	var author, message string
	var stored []byte
	if err := pool.QueryRow(t.Context(), `SELECT author, message, descriptor_set FROM registry.revisions WHERE revision = 1 AND kind = 'push'`).Scan(&author, &message, &stored); err != nil {
		t.Fatal(err)
	}
	if author != "alice" || message != "starter catalogue" || len(stored) == 0 {
		t.Errorf("revision 1: author %q, message %q, %d descriptor bytes; want alice, starter catalogue, some", author, message, len(stored))
	}

	// The same set again is a no-op.
	again, err := admin.PushSchemas(t.Context(), pushRequest(catalogue(t)))
	if err != nil {
		t.Fatal(err)
	}
	if again.GetRevision() != 1 || len(again.GetAdded()) != 0 || int(again.GetUnchanged()) != len(lockedNames(t)) {
		t.Errorf("push again = %v, want revision 1, nothing added, %d unchanged", again, len(lockedNames(t)))
	}
	if n := count(t, pool, `SELECT count(*) FROM registry.revisions`); n != 1 {
		t.Errorf("%d revisions after pushing twice, want 1", n)
	}
}

func TestPushNewVersion(t *testing.T) {
	store, pool := registeredStore(t)
	admin := registry.NewAdmin(store)
	set := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV2)})

	dry, err := admin.PushSchemas(t.Context(), &registryv1.PushSchemasRequest{FileDescriptorSet: set.FileDescriptorSet(), Author: "alice", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !dry.GetDryRun() || dry.GetRevision() != 1 || !slices.Equal(dry.GetAdded(), []string{"PlaceCardOpenedV2"}) || dry.GetUnchanged() != 13 {
		t.Errorf("dry run = %v, want revision 1, would add PlaceCardOpenedV2, 13 unchanged", dry)
	}
	assertUnchanged(t, store, pool)

	resp, err := admin.PushSchemas(t.Context(), pushRequest(set))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRevision() != 2 || !slices.Equal(resp.GetAdded(), []string{"PlaceCardOpenedV2"}) || resp.GetUnchanged() != 13 {
		t.Errorf("push = %v, want revision 2 adding PlaceCardOpenedV2, 13 unchanged", resp)
	}
	if n := count(t, pool, `SELECT count(*) FROM registry.event_versions WHERE revision = 2`); n != 1 {
		t.Errorf("%d versions in revision 2, want 1", n)
	}
}

// violationCase is a push that breaks a rule, and the violation it must
// report: where (file, line, message, field) and which rule.
type violationCase struct {
	name   string
	edits  map[string]func(string) string // of the catalogue's files
	added  map[string]string              // new files
	rule   string
	file   string
	line   string // text whose line the violation names, in the pushed file (or in the registered one, for a deleted version)
	msg    string
	field  string
	detail string // in the detail
	hint   string // in the hint
}

func TestPushRejected(t *testing.T) {
	const photoFile = "clickstream/events/v1/photo_status_changed.proto"
	const itemViewFile = "clickstream/events/v1/item_view.proto"
	const paymentFile = "clickstream/events/v1/payment.proto"
	photoV2Status := "ContentStatus status = 4 [(clickstream.options.v1.field) = {required: true}];\n  string rubric = 5 [(clickstream.options.v1.field) = {example: \"cafe\"}];\n  ContentStatus previous_status"
	tests := []violationCase{{
		name: "field of a registered version renamed",
		edits: map[string]func(string) string{photoFile: replaceText(t, photoV2Status,
			strings.Replace(photoV2Status, "status = 4", "state = 4", 1))},
		rule: "version-changed", file: photoFile, line: "ContentStatus state = 4",
		msg: "clickstream.events.v1.PhotoStatusChangedV2", field: "state",
		detail: `field 4 "status" renamed to "state"`,
		hint:   "add PhotoStatusChangedV3 instead of changing V2",
	}, {
		name:  "field type of a registered version changed",
		edits: map[string]func(string) string{itemViewFile: replaceText(t, "int32 category_id = 3", "int64 category_id = 3")},
		rule:  "version-changed", file: itemViewFile, line: "int64 category_id = 3",
		msg: "clickstream.events.v1.ItemViewV1", field: "category_id",
		detail: `field 3 "category_id" type changed from int32 to int64`,
		hint:   "add ItemViewV3 instead of changing V1",
	}, {
		name: "registered version deleted",
		edits: map[string]func(string) string{paymentFile: func(s string) string {
			return regexp.MustCompile(`(?s)// A payment changed state\.\nmessage PaymentV1 \{.*?\n\}\n`).ReplaceAllString(s, "")
		}},
		rule: "version-deleted", file: paymentFile, line: "message PaymentV1 {",
		msg:    "clickstream.events.v1.PaymentV1",
		detail: "PaymentV1 (event 1004 v1) is registered (revision 1) but missing from the push",
		hint:   "versions are never deleted",
	}, {
		name:  "version number skipped",
		edits: map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV3)},
		rule:  "version-gap", file: placeCardFile, line: "message PlaceCardOpenedV3 {",
		msg:    "clickstream.events.v1.PlaceCardOpenedV3",
		detail: "version 2 is missing",
		hint:   "number this version 2",
	}, {
		name: "new version mislabelled",
		edits: map[string]func(string) string{placeCardFile: appendText(
			strings.Replace(placeCardOpenedV2, "version: 2", "version: 3", 1))},
		rule: "version-gap", file: placeCardFile, line: "message PlaceCardOpenedV2 {",
		msg:    "clickstream.events.v1.PlaceCardOpenedV2",
		detail: "version 2 is missing",
	}, {
		name: "event name registered under another id",
		added: map[string]string{"clickstream/partner/v1/payment.proto": `syntax = "proto3";
package clickstream.partner.v1;
import "clickstream/options/v1/options.proto";
message PaymentV1 {
  option (clickstream.options.v1.event) = {id: 4001, version: 1};
  string id = 1;
}
`},
		rule: "id-name-conflict", file: "clickstream/partner/v1/payment.proto", line: "message PaymentV1 {",
		msg:    "clickstream.partner.v1.PaymentV1",
		detail: "event Payment is registered with id 1004",
		hint:   "use id 1004",
	}, {
		name: "pii on a message field",
		edits: map[string]func(string) string{placeCardFile: appendText(strings.Replace(placeCardOpenedV2,
			"Context context = 1 [(clickstream.options.v1.field) = {required: true}];",
			"Context context = 1 [(clickstream.options.v1.field) = {pii: true}];", 1))},
		rule: "pii-type", file: placeCardFile, line: "Context context = 1 [(clickstream.options.v1.field) = {pii: true}];",
		msg: "clickstream.events.v1.PlaceCardOpenedV2", field: "context",
		detail: "is marked pii",
	}, {
		name: "event without an id",
		edits: map[string]func(string) string{placeCardFile: appendText(
			strings.Replace(placeCardOpenedV2, "id: 2005\n", "", 1))},
		rule: "missing-id", file: placeCardFile, line: "message PlaceCardOpenedV2 {",
		msg:    "clickstream.events.v1.PlaceCardOpenedV2",
		detail: "without an id",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store, pool := registeredStore(t)
			fsys, set := editedCatalogue(t, tt.edits, tt.added)
			// A deleted version is named where it was registered.
			source := fsys
			if tt.rule == "version-deleted" {
				source = catalogueSource(t)
			}
			line := lineOf(t, source, tt.file, tt.line)

			for _, dryRun := range []bool{true, false} {
				req := pushRequest(set)
				req.DryRun = dryRun
				_, err := registry.NewAdmin(store).PushSchemas(t.Context(), req)
				violations := rejection(t, err)
				i := slices.IndexFunc(violations, func(v *registryv1.Violation) bool { return v.GetRule() == tt.rule })
				if i < 0 {
					t.Fatalf("no %s violation in %v", tt.rule, violations)
				}
				v := violations[i]
				if v.GetFile() != tt.file || v.GetLine() != int32(line) || line <= 0 || v.GetMessage() != tt.msg || v.GetField() != tt.field {
					t.Errorf("violation at %s:%d %s field %q, want %s:%d %s field %q",
						v.GetFile(), v.GetLine(), v.GetMessage(), v.GetField(), tt.file, line, tt.msg, tt.field)
				}
				if !strings.Contains(v.GetDetail(), tt.detail) || !strings.Contains(v.GetHint(), tt.hint) || v.GetHint() == "" {
					t.Errorf("violation detail %q, hint %q; want them to say %q and %q", v.GetDetail(), v.GetHint(), tt.detail, tt.hint)
				}
				assertUnchanged(t, store, pool)
			}
		})
	}
}

func TestPushListsEveryViolation(t *testing.T) {
	store, pool := registeredStore(t)
	set := catalogueWith(t, map[string]func(string) string{
		"clickstream/events/v1/item_view.proto": replaceText(t, "int32 category_id = 3", "int64 category_id = 3"),
		placeCardFile:                           appendText(placeCardOpenedV3),
	})
	_, err := registry.NewAdmin(store).PushSchemas(t.Context(), pushRequest(set))
	var rules []string
	for _, v := range rejection(t, err) {
		rules = append(rules, v.GetMessage()+" "+v.GetRule())
	}
	want := []string{"clickstream.events.v1.ItemViewV1 version-changed", "clickstream.events.v1.PlaceCardOpenedV3 version-gap"}
	if !slices.Equal(rules, want) {
		t.Errorf("violations %v, want %v", rules, want)
	}
	if !strings.Contains(err.Error(), "2 violation(s)") {
		t.Errorf("error %q does not count the violations", err)
	}
	assertUnchanged(t, store, pool)
}

func TestPushSharedTypeChanged(t *testing.T) {
	// Every registered version uses Context: changing it changes them all,
	// and each violation points at the field that uses it.
	store, pool := registeredStore(t)
	fsys, set := editedCatalogue(t, map[string]func(string) string{
		"clickstream/events/v1/context.proto": replaceText(t, "  google.protobuf.Timestamp occurred_at = 8;\n",
			"  google.protobuf.Timestamp occurred_at = 8;\n  string locale = 9;\n"),
	}, nil)
	_, err := registry.NewAdmin(store).PushSchemas(t.Context(), pushRequest(set))
	violations := rejection(t, err)
	if len(violations) != 13 {
		t.Errorf("%d violations, want one per registered version (13)", len(violations))
	}
	for _, v := range violations {
		// The context field of the version, not of another in the file.
		text := string(fsys[v.GetFile()].Data)
		decl := strings.Index(text, "message "+v.GetMessage()[strings.LastIndexByte(v.GetMessage(), '.')+1:]+" {")
		field := decl + strings.Index(text[max(decl, 0):], "Context context = 1")
		if v.GetRule() != "version-changed" || v.GetField() != "context" || decl < 0 ||
			int(v.GetLine()) != strings.Count(text[:field], "\n")+1 ||
			!strings.Contains(v.GetDetail(), `clickstream.events.v1.Context: field 9 "locale" added (string)`) ||
			!strings.HasPrefix(v.GetHint(), "restore clickstream.events.v1.Context as registered") {
			t.Errorf("violation %v, want version-changed at the context field, naming Context's new field and what to do", v)
		}
	}
	assertUnchanged(t, store, pool)
}

func TestPushBadRequests(t *testing.T) {
	store, pool := registeredStore(t)
	admin := registry.NewAdmin(store)
	optionsOnly := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto),
		protodesc.ToFileDescriptorProto(optionsv1.File_clickstream_options_v1_options_proto),
	}}
	withoutImports := catalogue(t).FileDescriptorSet()
	withoutImports.File = withoutImports.File[len(withoutImports.File)-1:]
	tests := []struct {
		name string
		req  *registryv1.PushSchemasRequest
		want string
	}{
		{"no author", &registryv1.PushSchemasRequest{FileDescriptorSet: catalogue(t).FileDescriptorSet(), Author: "  "}, "author is required"},
		{"no descriptors", &registryv1.PushSchemasRequest{Author: "alice"}, "file_descriptor_set is required"},
		{"imports missing", &registryv1.PushSchemasRequest{FileDescriptorSet: withoutImports, Author: "alice"}, "push every file with all of its imports"},
		{"no event", &registryv1.PushSchemasRequest{FileDescriptorSet: optionsOnly, Author: "alice"}, "declare no event message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := admin.PushSchemas(t.Context(), tt.req)
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v (%v), want InvalidArgument saying %q", err, connect.CodeOf(err), tt.want)
			}
		})
	}
	assertUnchanged(t, store, pool)
}

// TestPushConnect pushes through the admin API's Connect handler, as the
// CLI does: the rejection detail survives the wire.
func TestPushConnect(t *testing.T) {
	store, pool := registeredStore(t)
	mux := http.NewServeMux()
	routes := registry.Routes(registry.Config{AdminToken: "t0k"}, registry.New(store), registry.NewAdmin(store))
	routes.Connect(mux)
	srv := httptest.NewServer(routes.Guard(mux))
	defer srv.Close()
	client := registryv1connect.NewRegistryAdminServiceClient(srv.Client(), srv.URL, connect.WithInterceptors(bearer("t0k")))

	set := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV3)})
	_, err := client.PushSchemas(t.Context(), pushRequest(set))
	if v := rejection(t, err); len(v) != 1 || v[0].GetRule() != "version-gap" {
		t.Errorf("violations over Connect: %v, want one version-gap", v)
	}
	assertUnchanged(t, store, pool)

	set = catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV2)})
	resp, err := client.PushSchemas(t.Context(), pushRequest(set))
	if err != nil || resp.GetRevision() != 2 {
		t.Errorf("push over Connect: %v, %v; want revision 2", resp, err)
	}
}

func TestRegisterSetBehindTheRegistry(t *testing.T) {
	// A registry restarted with the catalogue it was built with, older than
	// what was pushed since, registers nothing and does not fail.
	store, pool := registeredStore(t)
	newer := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV2)})
	if _, err := registry.RegisterSet(t.Context(), store, newer, "alice", "v2"); err != nil {
		t.Fatal(err)
	}
	// The starter catalogue lacks PlaceCardOpenedV2.
	res, err := registry.RegisterSet(t.Context(), store, catalogue(t), "restart", "starter catalogue")
	if err != nil || res.Revision != 2 || len(res.Added) != 0 {
		t.Errorf("register the older catalogue: %+v, %v; want revision 2, nothing added", res, err)
	}
	// But an older catalogue that adds a version is a push like any other.
	older := catalogueWith(t, map[string]func(string) string{"clickstream/events/v1/payment.proto": appendText(`
message PaymentV2 {
  option (clickstream.options.v1.event) = {id: 1004, version: 2};
  string payment_id = 1;
}
`)})
	_, err = registry.RegisterSet(t.Context(), store, older, "restart", "older plus one")
	var rejected *registry.RejectedError
	if !errors.As(err, &rejected) || len(rejected.Violations) != 1 || rejected.Violations[0].Rule != "version-deleted" {
		t.Errorf("register an older catalogue with a new version: %v, want one version-deleted violation", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM registry.revisions`); n != 2 {
		t.Errorf("%d revisions, want 2", n)
	}
}

// rejection returns the violations of a rejected push's error.
func rejection(t *testing.T, err error) []*registryv1.Violation {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeInvalidArgument {
		t.Fatalf("push error %v, want InvalidArgument", err)
	}
	for _, d := range cerr.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := v.(*registryv1.PushRejection); ok {
			return r.GetViolations()
		}
	}
	t.Fatalf("push error %v has no PushRejection detail", err)
	return nil
}

// bearer adds the admin token to every request.
func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}
}

// catalogueSource returns a copy of the repo's catalogue sources.
func catalogueSource(t *testing.T) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(protosrc.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(protosrc.FS, p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// editedCatalogue compiles the repo's catalogue with edits applied and
// files added, and returns its sources too.
func editedCatalogue(t *testing.T, edits map[string]func(string) string, added map[string]string) (fstest.MapFS, *schema.Set) {
	t.Helper()
	fsys := catalogueSource(t)
	for name, edit := range edits {
		f, ok := fsys[name]
		if !ok {
			t.Fatalf("catalogue has no file %s to edit", name)
		}
		f.Data = []byte(edit(string(f.Data)))
	}
	for name, text := range added {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	set, err := schema.Compile(t.Context(), fsys)
	if err != nil {
		t.Fatalf("compile the edited catalogue: %v", err)
	}
	return fsys, set
}

// lineOf returns the 1-based line of the first occurrence of text in a file.
func lineOf(t *testing.T, fsys fstest.MapFS, file, text string) int {
	t.Helper()
	f, ok := fsys[file]
	if !ok {
		t.Fatalf("no file %s", file)
	}
	i := strings.Index(string(f.Data), text)
	if i < 0 {
		t.Fatalf("%s does not contain %q", file, text)
	}
	return strings.Count(string(f.Data[:i]), "\n") + 1
}

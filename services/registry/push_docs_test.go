package registry_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// The lines of PlaceCardOpenedV1 (event 2005 v1) the documentation tests edit.
const (
	placeCardDescription = `description: "A user opened the card of a place on the map."`
	placeCardObjectID    = `string object_id = 2 [(clickstream.options.v1.field) = {required: true}];`
	placeCardRubric      = `string rubric = 3 [(clickstream.options.v1.field) = {example: "cafe"}];`
)

// TestPushDocumentation: a push that changes only the documentation of a
// registered version (its description, a field's pii, loosening required)
// is stored as a new documentation revision of the version, not a new
// version, shown by the API and audited.
func TestPushDocumentation(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(t *testing.T) func(string) string
		before map[string]any // audit of event:2005:v1
		after  map[string]any
		check  func(t *testing.T, v *registryv1.EventVersion)
	}{{
		name: "description",
		edit: func(t *testing.T) func(string) string {
			return replaceText(t, placeCardDescription, `description: "A user opened a place's card on the map."`)
		},
		before: map[string]any{"description": "A user opened the card of a place on the map."},
		after:  map[string]any{"description": "A user opened a place's card on the map."},
		check: func(t *testing.T, v *registryv1.EventVersion) {
			if v.GetDescription() != "A user opened a place's card on the map." {
				t.Errorf("description %q after the push, want the new one", v.GetDescription())
			}
		},
	}, {
		name: "pii",
		edit: func(t *testing.T) func(string) string {
			return replaceText(t, placeCardRubric, `string rubric = 3 [(clickstream.options.v1.field) = {example: "cafe", pii: true}];`)
		},
		before: map[string]any{"rubric.pii": "false"},
		after:  map[string]any{"rubric.pii": "true"},
		check: func(t *testing.T, v *registryv1.EventVersion) {
			if f := fieldNamed(v, "rubric"); !f.GetPii() {
				t.Errorf("field rubric after the push: %v, want pii", f)
			}
		},
	}, {
		name: "required loosened",
		edit: func(t *testing.T) func(string) string {
			return replaceText(t, placeCardObjectID, `string object_id = 2;`)
		},
		before: map[string]any{"object_id.required": "true"},
		after:  map[string]any{"object_id.required": "false"},
		check: func(t *testing.T, v *registryv1.EventVersion) {
			if f := fieldNamed(v, "object_id"); f.GetRequired() {
				t.Errorf("field object_id after the push: %v, want not required", f)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, pool := registeredStore(t)
			admin := registry.NewAdmin(store)
			set := catalogueWith(t, map[string]func(string) string{placeCardFile: tt.edit(t)})

			dry, err := admin.PushSchemas(t.Context(), &registryv1.PushSchemasRequest{FileDescriptorSet: set.FileDescriptorSet(), Author: "alice", DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if dry.GetRevision() != 1 || !slices.Equal(dry.GetDocumented(), []string{"PlaceCardOpenedV1"}) {
				t.Errorf("dry run = %v, want revision 1, would document PlaceCardOpenedV1", dry)
			}
			assertUnchanged(t, store, pool)

			resp, err := admin.PushSchemas(t.Context(), pushRequest(set))
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetRevision() != 2 || len(resp.GetAdded()) != 0 || !slices.Equal(resp.GetDocumented(), []string{"PlaceCardOpenedV1"}) || resp.GetUnchanged() != 13 {
				t.Errorf("push = %v, want revision 2 documenting PlaceCardOpenedV1, nothing added, 13 unchanged", resp)
			}
			if n := count(t, pool, `SELECT count(*) FROM registry.event_versions`); n != 13 {
				t.Errorf("%d event versions after a documentation push, want 13: no new version", n)
			}

			got, err := registry.New(store).GetEventVersion(t.Context(), &registryv1.GetEventVersionRequest{EventId: 2005, Version: 1})
			if err != nil {
				t.Fatal(err)
			}
			v := got.GetVersion()
			if v.GetRevision() != 1 || v.GetDocsRevision() != 2 {
				t.Errorf("PlaceCardOpenedV1: revision %d, documentation revision %d; want registered in 1, documented in 2", v.GetRevision(), v.GetDocsRevision())
			}
			tt.check(t, v)

			// The documentation shows it.
			rec := httptest.NewRecorder()
			registry.DocsHandler(registry.New(store), time.Now).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs/events/PlaceCardOpened.md", nil))
			if page := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(page, "Documentation: revision 2") {
				t.Errorf("GET /docs/events/PlaceCardOpened.md: %d, want the page to show documentation revision 2:\n%s", rec.Code, page)
			}

			wantAudit(t, onlyAudit(t, admin, "event:2005:v1"), "alice", "document", "event:2005:v1", tt.before, tt.after)
			wantPushAudit(t, admin, 2, nil, []any{"PlaceCardOpenedV1"})

			// The same push again changes nothing.
			again, err := admin.PushSchemas(t.Context(), pushRequest(set))
			if err != nil {
				t.Fatal(err)
			}
			if again.GetRevision() != 2 || len(again.GetDocumented()) != 0 {
				t.Errorf("the same push again = %v, want revision 2, nothing documented", again)
			}
		})
	}
}

// TestPushRequiredTightened: making an optional field of a registered
// version required is refused, naming the event, the version and the
// field: senders that omit the field would start being rejected.
func TestPushRequiredTightened(t *testing.T) {
	store, pool := registeredStore(t)
	admin := registry.NewAdmin(store)
	set := catalogueWith(t, map[string]func(string) string{placeCardFile: replaceText(t, placeCardRubric,
		`string rubric = 3 [(clickstream.options.v1.field) = {example: "cafe", required: true}];`)})

	_, err := admin.PushSchemas(t.Context(), pushRequest(set))
	violations := rejection(t, err)
	if len(violations) != 1 {
		t.Fatalf("violations %v, want 1", violations)
	}
	v := violations[0]
	if v.GetRule() != schema.RuleRequiredTightened || v.GetField() != "rubric" || v.GetFile() != placeCardFile ||
		v.GetMessage() != "clickstream.events.v1.PlaceCardOpenedV1" || v.GetLine() == 0 {
		t.Errorf("violation %v, want %s on PlaceCardOpenedV1.rubric with its line", v, schema.RuleRequiredTightened)
	}
	for _, want := range []string{"PlaceCardOpenedV1 (event 2005 v1)", "rubric", "becomes required", "would start being rejected"} {
		if !strings.Contains(v.GetDetail(), want) {
			t.Errorf("detail %q does not say %q", v.GetDetail(), want)
		}
	}
	if !strings.Contains(v.GetHint(), "PlaceCardOpenedV2") {
		t.Errorf("hint %q does not say to add PlaceCardOpenedV2", v.GetHint())
	}
	if !strings.Contains(err.Error(), "rubric becomes required") {
		t.Errorf("error %q does not explain itself", err)
	}
	assertUnchanged(t, store, pool)

	// The same edit alongside a description change: still refused whole.
	both := catalogueWith(t, map[string]func(string) string{placeCardFile: func(s string) string {
		s = replaceText(t, placeCardRubric, `string rubric = 3 [(clickstream.options.v1.field) = {example: "cafe", required: true}];`)(s)
		return replaceText(t, placeCardDescription, `description: "Opened."`)(s)
	}})
	_, err = admin.PushSchemas(t.Context(), pushRequest(both))
	if vs := rejection(t, err); len(vs) != 1 || vs[0].GetRule() != schema.RuleRequiredTightened {
		t.Errorf("violations %v, want one %s", vs, schema.RuleRequiredTightened)
	}
	assertUnchanged(t, store, pool)
}

// TestPushAudited: every push that stores a revision writes an audit row:
// the author, action "push", the revision and the versions it added.
func TestPushAudited(t *testing.T) {
	store, _ := registeredStore(t)
	admin := registry.NewAdmin(store)
	wantPushAudit(t, admin, 1, lockedNamesAny(t), nil)

	set := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV2)})
	if _, err := admin.PushSchemas(t.Context(), pushRequest(set)); err != nil {
		t.Fatal(err)
	}
	wantPushAudit(t, admin, 2, []any{"PlaceCardOpenedV2"}, nil)

	// A push that stores nothing records nothing.
	if _, err := admin.PushSchemas(t.Context(), pushRequest(set)); err != nil {
		t.Fatal(err)
	}
	resp, err := admin.ListAudit(t.Context(), &registryv1.ListAuditRequest{Entity: "catalogue"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetEntries()); n != 2 {
		t.Errorf("%d push audit rows after two pushes that stored and one that did not, want 2", n)
	}
}

// wantPushAudit checks the newest push audit row: revision, added and
// documented versions (nil for none).
func wantPushAudit(t *testing.T, admin *registry.AdminService, revision uint64, added, documented []any) {
	t.Helper()
	resp, err := admin.ListAudit(t.Context(), &registryv1.ListAuditRequest{Entity: "catalogue", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEntries()) != 1 {
		t.Fatalf("no push audit row, want revision %d", revision)
	}
	e := resp.GetEntries()[0]
	after := map[string]any{"revision": float64(revision), "added": added}
	if added == nil {
		after["added"] = nil
	}
	if documented != nil {
		after["documented"] = documented
	}
	if msg := auditJSON(t, e.GetAfter()).(map[string]any)["message"]; msg != nil {
		after["message"] = msg
	}
	wantAudit(t, e, e.GetActor(), "push", "catalogue", nil, after)
	if e.GetActor() == "" {
		t.Errorf("push audit row without an actor: %v", e)
	}
}

// lockedNamesAny is lockedNames as decoded JSON.
func lockedNamesAny(t *testing.T) []any {
	var names []any
	for _, n := range lockedNames(t) {
		names = append(names, n)
	}
	return names
}

// fieldNamed finds a field of a version.
func fieldNamed(v *registryv1.EventVersion, name string) *registryv1.Field {
	for _, f := range v.GetFields() {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

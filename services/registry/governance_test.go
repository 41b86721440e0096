package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// auditJSON decodes an audit state; "" is nil.
func auditJSON(t *testing.T, s string) any {
	t.Helper()
	if s == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("audit state %q is not JSON: %v", s, err)
	}
	return v
}

// onlyAudit returns the one audit entry of entity, failing unless there is
// exactly one.
func onlyAudit(t *testing.T, admin *registry.AdminService, entity string) *registryv1.AuditEntry {
	t.Helper()
	resp, err := admin.ListAudit(t.Context(), &registryv1.ListAuditRequest{Entity: entity})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEntries()) != 1 {
		t.Fatalf("audit of %s has %d entries, want 1: %v", entity, len(resp.GetEntries()), resp.GetEntries())
	}
	return resp.GetEntries()[0]
}

// wantAudit checks an audit entry against what it must record.
func wantAudit(t *testing.T, e *registryv1.AuditEntry, actor, action, entity string, before, after any) {
	t.Helper()
	if e.GetActor() != actor || e.GetAction() != action || e.GetEntity() != entity {
		t.Errorf("audit entry %v: actor %q, action %q, entity %q; want %q, %q, %q", e, e.GetActor(), e.GetAction(), e.GetEntity(), actor, action, entity)
	}
	if got := auditJSON(t, e.GetBefore()); !reflect.DeepEqual(got, before) {
		t.Errorf("audit of %s %s: before %s, want %v", action, entity, e.GetBefore(), before)
	}
	if got := auditJSON(t, e.GetAfter()); !reflect.DeepEqual(got, after) {
		t.Errorf("audit of %s %s: after %s, want %v", action, entity, e.GetAfter(), after)
	}
	if at := e.GetAt().AsTime(); at.IsZero() || time.Since(at) > time.Hour || time.Until(at) > time.Hour {
		t.Errorf("audit of %s %s: at %v, want about now", action, entity, at)
	}
}

// TestAudit: retiring a version, changing an owner and allowing a version in
// an environment each leave an audit row with the actor, the state before
// and the state after.
func TestAudit(t *testing.T) {
	store, _ := registeredStore(t)
	admin := registry.NewAdmin(store)
	ctx := t.Context()

	if _, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Description: "The website", Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	wantAudit(t, onlyAudit(t, admin, "environment:web"), "alice", "create_environment", "environment:web",
		nil, map[string]any{"name": "web", "description": "The website"})

	if _, err := admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Version: 2, Allowed: true, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Allowed: true, Actor: "carol"}); err != nil {
		t.Fatal(err)
	}
	envAudit, err := admin.ListAudit(ctx, &registryv1.ListAuditRequest{Entity: "environment:web"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(envAudit.GetEntries()); n != 3 {
		t.Fatalf("audit of environment:web has %d entries, want 3", n)
	}
	// Newest first.
	wantAudit(t, envAudit.GetEntries()[0], "carol", "set_access", "environment:web",
		map[string]any{"event_id": 2001.0, "versions": []any{2.0}}, map[string]any{"event_id": 2001.0, "versions": []any{1.0, 2.0}})
	wantAudit(t, envAudit.GetEntries()[1], "bob", "set_access", "environment:web",
		map[string]any{"event_id": 2001.0, "versions": []any{}}, map[string]any{"event_id": 2001.0, "versions": []any{2.0}})

	if _, err := admin.SetOwner(ctx, &registryv1.SetOwnerRequest{EventId: 2001, Owner: &registryv1.Owner{Team: "ugc", Contact: "#ugc"}, Actor: "dave"}); err != nil {
		t.Fatal(err)
	}
	wantAudit(t, onlyAudit(t, admin, "event:2001"), "dave", "set_owner", "event:2001",
		nil, map[string]any{"team": "ugc", "contact": "#ugc"})
	resp, err := admin.SetOwner(ctx, &registryv1.SetOwnerRequest{EventId: 2001, Owner: &registryv1.Owner{Team: "photos"}, Actor: "erin"})
	if err != nil {
		t.Fatal(err)
	}
	if o := resp.GetEvent().GetOwner(); resp.GetEvent().GetId() != 2001 || o.GetTeam() != "photos" || o.GetContact() != "" || len(resp.GetEvent().GetVersions()) != 2 {
		t.Errorf("SetOwner answered %v, want event 2001 with its 2 versions owned by photos", resp.GetEvent())
	}
	ownerAudit, err := admin.ListAudit(ctx, &registryv1.ListAuditRequest{Entity: "event:2001"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ownerAudit.GetEntries()); n != 2 {
		t.Fatalf("audit of event:2001 has %d entries, want 2", n)
	}
	wantAudit(t, ownerAudit.GetEntries()[0], "erin", "set_owner", "event:2001",
		map[string]any{"team": "ugc", "contact": "#ugc"}, map[string]any{"team": "photos", "contact": ""})
	if o, err := store.GetOwner(ctx, 2001); err != nil || o.Team != "photos" {
		t.Errorf("GetOwner(2001) = %v, %v; want photos", o, err)
	}

	if _, err := admin.SetLifecycle(ctx, &registryv1.SetLifecycleRequest{EventId: 2001, Version: 1, Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED, Actor: "frank"}); err != nil {
		t.Fatal(err)
	}
	wantAudit(t, onlyAudit(t, admin, "event:2001:v1"), "frank", "set_lifecycle", "event:2001:v1",
		map[string]any{"status": "active"}, map[string]any{"status": "retired"})

	// The whole audit, newest first, and its limit.
	all, err := admin.ListAudit(ctx, &registryv1.ListAuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for i, e := range all.GetEntries() {
		actors = append(actors, e.GetActor())
		if i > 0 && e.GetId() >= all.GetEntries()[i-1].GetId() {
			t.Errorf("audit entry %d (id %d) listed after id %d: want newest first", i, e.GetId(), all.GetEntries()[i-1].GetId())
		}
	}
	// The oldest is the push that registered the starter catalogue.
	if got := strings.Join(actors, " "); got != "frank erin dave carol bob alice test" {
		t.Errorf("audit actors %q, want frank erin dave carol bob alice test", got)
	}
	two, err := admin.ListAudit(ctx, &registryv1.ListAuditRequest{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(two.GetEntries()) != 2 || two.GetEntries()[0].GetActor() != "frank" {
		t.Errorf("ListAudit(limit 2) = %v, want the 2 newest", two.GetEntries())
	}
	_, err = admin.ListAudit(ctx, &registryv1.ListAuditRequest{Limit: -1})
	wantConnectError(t, "ListAudit(limit -1)", err, connect.CodeInvalidArgument, "limit -1 is negative")
}

// TestAuditLimits: 100 entries by default, never more than 1000.
func TestAuditLimits(t *testing.T) {
	store, pool := newStore(t)
	if _, err := pool.Exec(t.Context(), `
		INSERT INTO registry.audit (actor, action, entity, after)
		SELECT 'bulk', 'set_owner', 'event:' || i, '{}' FROM generate_series(1, 1001) AS i`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ limit, want int }{{0, 100}, {1, 1}, {1000, 1000}, {5000, 1000}} {
		entries, err := store.ListAudit(t.Context(), registry.AuditFilter{Limit: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != tt.want || entries[0].Entity != "event:1001" {
			t.Errorf("ListAudit(limit %d): %d entries from %v, want %d from the newest", tt.limit, len(entries), entries[0].Entity, tt.want)
		}
	}
}

func TestLifecycleForwardOnly(t *testing.T) {
	store, pool := registeredStore(t)
	admin := registry.NewAdmin(store)
	const (
		active     = registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE
		deprecated = registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED
		retired    = registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED
	)
	steps := []struct {
		event, version uint32
		status         registryv1.LifecycleStatus
		actor          string
		code           connect.Code // 0 for success
		want           string       // in the error
		audited        bool         // leaves an audit row and a revision
	}{
		{event: 2001, version: 1, status: deprecated, audited: true},
		{event: 2001, version: 1, status: deprecated},
		{event: 2001, version: 1, status: active, code: connect.CodeFailedPrecondition,
			want: "PhotoStatusChangedV1 (event 2001 v1) is deprecated and cannot become active: lifecycle only moves forward (active → deprecated → retired)"},
		{event: 2001, version: 1, status: retired, audited: true},
		{event: 2001, version: 1, status: retired},
		{event: 2001, version: 1, status: deprecated, code: connect.CodeFailedPrecondition, want: "is retired, and retired is final"},
		{event: 2001, version: 1, status: active, code: connect.CodeFailedPrecondition, want: "is retired, and retired is final"},
		// Active straight to retired is forward too.
		{event: 1001, version: 1, status: retired, audited: true},
		{event: 2001, version: 3, status: retired, code: connect.CodeNotFound, want: "event 2001 has no version 3"},
		{event: 4242, version: 1, status: retired, code: connect.CodeNotFound, want: "event 4242 is not registered"},
		{event: 2001, version: 4294967295, status: retired, code: connect.CodeNotFound, want: "event 2001 has no version 4294967295"},
		{event: 2001, version: 2, status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_UNSPECIFIED, code: connect.CodeInvalidArgument, want: "is not a lifecycle status"},
		{event: 2001, version: 0, status: retired, code: connect.CodeInvalidArgument, want: "event_id and version are required"},
		{event: 2001, version: 2, status: retired, actor: " ", code: connect.CodeInvalidArgument, want: "actor is required"},
	}
	for _, s := range steps {
		what := fmt.Sprintf("SetLifecycle(%d v%d, %v)", s.event, s.version, s.status)
		actor := s.actor
		if actor == "" {
			actor = "alice"
		}
		before := catalogueRevision(t, store)
		audits := count(t, pool, `SELECT count(*) FROM registry.audit`)
		resp, err := admin.SetLifecycle(t.Context(), &registryv1.SetLifecycleRequest{EventId: s.event, Version: s.version, Status: s.status, Actor: actor})
		if s.code != 0 {
			wantConnectError(t, what, err, s.code, s.want)
		} else if err != nil {
			t.Errorf("%s: %v", what, err)
		} else if v := resp.GetVersion(); v.GetEventId() != s.event || v.GetVersion() != s.version || v.GetStatus() != s.status || v.GetMessageName() == "" || v.GetFingerprint() == "" {
			t.Errorf("%s answered %v, want the version in its new status", what, v)
		}
		moved := catalogueRevision(t, store) != before
		audited := count(t, pool, `SELECT count(*) FROM registry.audit`) != audits
		if moved != s.audited || audited != s.audited {
			t.Errorf("%s: revision moved %v, audited %v; want %v", what, moved, audited, s.audited)
		}
	}

	// Retired versions are kept.
	e, err := store.GetEvent(t.Context(), 2001)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Versions) != 2 || e.Versions[0].Status != registry.LifecycleRetired || e.Versions[1].Status != registry.LifecycleActive {
		t.Errorf("event 2001 versions %+v, want v1 retired and v2 active", e.Versions)
	}
	if _, err := store.SetLifecycle(t.Context(), 2001, 2, registry.Lifecycle("gone"), "alice"); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("SetLifecycle(gone): %v, want ErrInvalid", err)
	}
	if _, err := store.SetLifecycle(t.Context(), 2001, 1, registry.LifecycleActive, "alice"); !errors.Is(err, registry.ErrLifecycleBackwards) {
		t.Errorf("SetLifecycle(retired → active): %v, want ErrLifecycleBackwards", err)
	}
}

func TestOwnerRefused(t *testing.T) {
	store, _ := registeredStore(t)
	admin := registry.NewAdmin(store)
	ctx := t.Context()
	refusals := []struct {
		req  *registryv1.SetOwnerRequest
		code connect.Code
		want string
	}{
		{&registryv1.SetOwnerRequest{EventId: 2001, Actor: "alice"}, connect.CodeInvalidArgument, "team is required to own event 2001"},
		{&registryv1.SetOwnerRequest{EventId: 2001, Owner: &registryv1.Owner{Team: "  ", Contact: "#x"}, Actor: "alice"}, connect.CodeInvalidArgument, "team is required"},
		{&registryv1.SetOwnerRequest{EventId: 2001, Owner: &registryv1.Owner{Team: "ugc"}}, connect.CodeInvalidArgument, "actor is required"},
		{&registryv1.SetOwnerRequest{EventId: 4242, Owner: &registryv1.Owner{Team: "ugc"}, Actor: "alice"}, connect.CodeNotFound, "event 4242 is not registered"},
		{&registryv1.SetOwnerRequest{Owner: &registryv1.Owner{Team: "ugc"}, Actor: "alice"}, connect.CodeInvalidArgument, "event_id is required"},
	}
	for _, r := range refusals {
		_, err := admin.SetOwner(ctx, r.req)
		wantConnectError(t, fmt.Sprintf("SetOwner(%v)", r.req), err, r.code, r.want)
	}
	if _, err := store.GetOwner(ctx, 2001); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("GetOwner of an unowned event: %v, want ErrNotFound", err)
	}
	// The same owner again records nothing.
	req := &registryv1.SetOwnerRequest{EventId: 2001, Owner: &registryv1.Owner{Team: "ugc", Contact: "#ugc"}, Actor: "alice"}
	if _, err := admin.SetOwner(ctx, req); err != nil {
		t.Fatal(err)
	}
	rev := catalogueRevision(t, store)
	if _, err := admin.SetOwner(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got := catalogueRevision(t, store); got != rev {
		t.Errorf("setting the same owner moved the revision from %d to %d", rev, got)
	}
	onlyAudit(t, admin, "event:2001")
}

// TestMetadataRevisions: each metadata change is a revision of kind
// metadata, signed by its actor, without descriptors, saying what changed.
func TestMetadataRevisions(t *testing.T) {
	store, pool := registeredStore(t)
	admin := registry.NewAdmin(store)
	ctx := t.Context()
	changes := []struct {
		change  func() error
		actor   string
		message string
	}{
		{func() error {
			return errOf(admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Actor: "alice"}))
		}, "alice", "create environment web"},
		{func() error {
			return errOf(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Allowed: true, Actor: "bob"}))
		}, "bob", "web may send PhotoStatusChangedV1, PhotoStatusChangedV2"},
		{func() error {
			return errOf(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Version: 1, Actor: "bob"}))
		}, "bob", "web may no longer send PhotoStatusChangedV1"},
		{func() error {
			return errOf(admin.SetLifecycle(ctx, &registryv1.SetLifecycleRequest{EventId: 2001, Version: 2, Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED, Actor: "carol"}))
		}, "carol", "PhotoStatusChangedV2 (event 2001 v2) is deprecated, was active"},
		{func() error {
			return errOf(admin.SetOwner(ctx, &registryv1.SetOwnerRequest{EventId: 2001, Owner: &registryv1.Owner{Team: "ugc"}, Actor: "dave"}))
		}, "dave", "PhotoStatusChanged (event 2001) is owned by team ugc"},
	}
	for i, c := range changes {
		if err := c.change(); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		want := uint64(i + 2)
		if got := catalogueRevision(t, store); got != want {
			t.Errorf("after %q: revision %d, want %d", c.message, got, want)
		}
		var kind, author, message string
		var descriptors []byte
		if err := pool.QueryRow(ctx, `SELECT kind, author, message, descriptor_set FROM registry.revisions WHERE revision = $1`, want).
			Scan(&kind, &author, &message, &descriptors); err != nil {
			t.Fatal(err)
		}
		if kind != "metadata" || author != c.actor || message != c.message || len(descriptors) != 0 {
			t.Errorf("revision %d: kind %q, author %q, message %q, %d descriptor bytes; want metadata, %q, %q, none",
				want, kind, author, message, len(descriptors), c.actor, c.message)
		}
	}
	// Changes that change nothing are no revisions.
	if _, err := admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Version: 2, Allowed: true, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Version: 1, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	if got := catalogueRevision(t, store); got != uint64(len(changes)+1) {
		t.Errorf("no-op access changes moved the revision to %d", got)
	}
}

// adminTransport adds the admin token to every request.
type adminTransport struct{ token string }

func (a adminTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if a.token != "" {
		r.Header.Set("Authorization", "Bearer "+a.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// serveRegistry serves the registry through internal/server, as `clickstream
// serve registry` does, and returns its base URL.
func serveRegistry(t *testing.T, cfg registry.Config, store *registry.PostgresStore) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0"}, registry.Routes(cfg, registry.New(store), registry.NewAdmin(store)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv.URL()
}

// TestAdminAuth: the admin API needs the admin token on every protocol, and
// is closed when no token is configured.
func TestAdminAuth(t *testing.T) {
	store, _ := registeredStore(t)
	open := serveRegistry(t, registry.Config{AdminToken: "t0ken"}, store)
	closed := serveRegistry(t, registry.Config{}, store)

	tests := []struct {
		name     string
		url      string
		token    string
		code     connect.Code // 0 for success
		httpCode int
	}{
		{"no token", open, "", connect.CodeUnauthenticated, http.StatusUnauthorized},
		{"wrong token", open, "nope", connect.CodePermissionDenied, http.StatusForbidden},
		{"right token", open, "t0ken", 0, http.StatusOK},
		{"admin API closed", closed, "", connect.CodePermissionDenied, http.StatusForbidden},
		{"admin API closed, any token", closed, "t0ken", connect.CodePermissionDenied, http.StatusForbidden},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{Transport: adminTransport{tt.token}}

			// Connect.
			admin := registryv1connect.NewRegistryAdminServiceClient(client, tt.url)
			_, err := admin.CreateEnvironment(t.Context(), &registryv1.CreateEnvironmentRequest{Name: fmt.Sprintf("connect-%d", i), Actor: "alice"})
			if tt.code == 0 && err != nil || tt.code != 0 && connect.CodeOf(err) != tt.code {
				t.Errorf("CreateEnvironment over Connect: %v (%v), want %v", err, connect.CodeOf(err), tt.code)
			}
			// gRPC.
			grpcAdmin := registryv1connect.NewRegistryAdminServiceClient(client, tt.url, connect.WithGRPC())
			_, err = grpcAdmin.ListAudit(t.Context(), &registryv1.ListAuditRequest{})
			if tt.code == 0 && err != nil || tt.code != 0 && connect.CodeOf(err) != tt.code {
				t.Errorf("ListAudit over gRPC: %v (%v), want %v", err, connect.CodeOf(err), tt.code)
			}
			// REST.
			body := fmt.Sprintf(`{"name": "rest-%d", "description": "via REST", "actor": "alice"}`, i)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tt.url+"/v1/admin/environments", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.httpCode {
				t.Errorf("POST /v1/admin/environments: %d %s, want %d", resp.StatusCode, b, tt.httpCode)
			}
			if tt.code == 0 && !strings.Contains(string(b), fmt.Sprintf(`"rest-%d"`, i)) {
				t.Errorf("POST /v1/admin/environments answered %s, want the environment", b)
			}
		})
	}

	// The read API stays open, and REST maps store errors to HTTP codes.
	for _, tt := range []struct {
		path string
		code int
		want string
	}{
		{"/v1/environments/rest-2", http.StatusOK, `"description":"via REST"`},
		{"/v1/environments", http.StatusOK, `"name":"connect-2"`},
		{"/v1/environments/nowhere", http.StatusNotFound, `environment \"nowhere\" does not exist`},
	} {
		resp, err := http.Get(closed + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(strings.ReplaceAll(string(b), " ", ""), strings.ReplaceAll(tt.want, " ", "")) {
			t.Errorf("GET %s: %d %s, want %d with %s", tt.path, resp.StatusCode, b, tt.code, tt.want)
		}
	}

	// REST errors of the admin API keep their codes.
	client := &http.Client{Transport: adminTransport{"t0ken"}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, open+"/v1/admin/events/2001/versions/9/lifecycle",
		strings.NewReader(`{"status": "LIFECYCLE_STATUS_RETIRED", "actor": "alice"}`))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "event 2001 has no version 9") {
		t.Errorf("PUT lifecycle of an unknown version: %d %s, want 404 naming it", resp.StatusCode, b)
	}
}

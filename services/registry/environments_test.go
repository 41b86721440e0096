package registry_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// allowedRefs renders what an environment may send: "2001v1:PhotoStatusChangedV1 ...".
func allowedRefs(env *registryv1.Environment) string {
	var refs []string
	for _, r := range env.GetAllowed() {
		refs = append(refs, fmt.Sprintf("%dv%d:%s", r.GetEventId(), r.GetVersion(), strings.TrimPrefix(r.GetMessageName(), "clickstream.events.v1.")))
	}
	return strings.Join(refs, " ")
}

// catalogueRevision returns the current catalogue revision.
func catalogueRevision(t *testing.T, store *registry.PostgresStore) uint64 {
	t.Helper()
	rev, err := store.CurrentRevision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// wantConnectError fails the test unless err has code and its message says want.
func wantConnectError(t *testing.T, what string, err error, code connect.Code, want string) {
	t.Helper()
	if connect.CodeOf(err) != code || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %v (%v), want %v saying %q", what, err, connect.CodeOf(err), code, want)
	}
}

func TestEnvironments(t *testing.T) {
	store, _ := registeredStore(t)
	svc, admin := registry.New(store), registry.NewAdmin(store)
	ctx := t.Context()

	created, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Description: "The website", Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if e := created.GetEnvironment(); e.GetName() != "web" || e.GetDescription() != "The website" || e.GetCreatedAt().AsTime().IsZero() || len(e.GetAllowed()) != 0 {
		t.Errorf("created %v, want web, its description, a creation time and nothing allowed", e)
	}
	if _, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "partner-tickets_2", Actor: "alice"}); err != nil {
		t.Fatal(err)
	}

	// web may send both versions of 2001 (version 0) and v2 of 1001.
	steps := []struct {
		req  *registryv1.SetEventAccessRequest
		want string
	}{
		{&registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Allowed: true, Actor: "alice"},
			"2001v1:PhotoStatusChangedV1 2001v2:PhotoStatusChangedV2"},
		{&registryv1.SetEventAccessRequest{Environment: "web", EventId: 1001, Version: 2, Allowed: true, Actor: "alice"},
			"1001v2:ItemViewV2 2001v1:PhotoStatusChangedV1 2001v2:PhotoStatusChangedV2"},
		{&registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Version: 1, Allowed: false, Actor: "alice"},
			"1001v2:ItemViewV2 2001v2:PhotoStatusChangedV2"},
		{&registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Version: 1, Allowed: true, Actor: "alice"},
			"1001v2:ItemViewV2 2001v1:PhotoStatusChangedV1 2001v2:PhotoStatusChangedV2"},
		// Denying version 0 removes every version of the event.
		{&registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Allowed: false, Actor: "alice"},
			"1001v2:ItemViewV2"},
		{&registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Allowed: true, Actor: "alice"},
			"1001v2:ItemViewV2 2001v1:PhotoStatusChangedV1 2001v2:PhotoStatusChangedV2"},
	}
	for _, s := range steps {
		resp, err := admin.SetEventAccess(ctx, s.req)
		if err != nil {
			t.Fatalf("SetEventAccess(%v): %v", s.req, err)
		}
		if got := allowedRefs(resp.GetEnvironment()); got != s.want {
			t.Errorf("after SetEventAccess(%v): web allows %q, want %q", s.req, got, s.want)
		}
	}

	got, err := svc.GetEnvironment(ctx, &registryv1.GetEnvironmentRequest{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if a := allowedRefs(got.GetEnvironment()); a != steps[len(steps)-1].want || got.GetEnvironment().GetDescription() != "The website" {
		t.Errorf("GetEnvironment(web) = %v, want %q allowed", got.GetEnvironment(), steps[len(steps)-1].want)
	}
	for _, r := range got.GetEnvironment().GetAllowed() {
		if !strings.HasPrefix(r.GetMessageName(), "clickstream.events.v1.") {
			t.Errorf("allowed %v: message name is not the full name", r)
		}
	}

	list, err := svc.ListEnvironments(ctx, &registryv1.ListEnvironmentsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list.GetEnvironments() {
		names = append(names, e.GetName()+"="+allowedRefs(e))
	}
	want := []string{"partner-tickets_2=", "web=" + steps[len(steps)-1].want}
	if !slices.Equal(names, want) {
		t.Errorf("ListEnvironments = %q, want %q", names, want)
	}
}

func TestEnvironmentsRefused(t *testing.T) {
	store, _ := registeredStore(t)
	svc, admin := registry.New(store), registry.NewAdmin(store)
	ctx := t.Context()
	if _, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	before := catalogueRevision(t, store)

	for _, name := range []string{"", "Web", "-web", "_web", "web app", "web.app", "wéb", strings.Repeat("a", 64)} {
		_, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: name, Actor: "alice"})
		wantConnectError(t, fmt.Sprintf("CreateEnvironment(%q)", name), err, connect.CodeInvalidArgument, "breaks the naming rule: use 1 to 63 characters of a-z, 0-9")
	}
	if _, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: strings.Repeat("a", 63), Actor: "alice"}); err != nil {
		t.Errorf("CreateEnvironment(63 characters): %v", err)
	}
	before++

	refusals := []struct {
		what string
		err  error
		code connect.Code
		want string
	}{
		{what: "create a taken name", code: connect.CodeAlreadyExists, want: `environment "web" already exists`,
			err: errOf(admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Actor: "bob"}))},
		{what: "create without actor", code: connect.CodeInvalidArgument, want: "actor is required",
			err: errOf(admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "ios"}))},
		{what: "access in an unknown environment", code: connect.CodeNotFound, want: `environment "ios" does not exist`,
			err: errOf(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "ios", EventId: 2001, Allowed: true, Actor: "alice"}))},
		{what: "access to an unknown event", code: connect.CodeNotFound, want: "event 4242 is not registered",
			err: errOf(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 4242, Allowed: true, Actor: "alice"}))},
		{what: "access to an event beyond int32", code: connect.CodeNotFound, want: "event 4294967295 is not registered",
			err: errOf(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 4294967295, Allowed: true, Actor: "alice"}))},
		{what: "access to an unknown version", code: connect.CodeNotFound, want: "event 2001 has no version 3: its versions are 1 to 2 (latest PhotoStatusChangedV2)",
			err: errOf(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Version: 3, Allowed: true, Actor: "alice"}))},
		{what: "access without actor", code: connect.CodeInvalidArgument, want: "actor is required",
			err: errOf(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: 2001, Allowed: true}))},
		{what: "access without event", code: connect.CodeInvalidArgument, want: "event_id is required",
			err: errOf(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", Allowed: true, Actor: "alice"}))},
		{what: "access without environment", code: connect.CodeInvalidArgument, want: "environment is required",
			err: errOf(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{EventId: 2001, Allowed: true, Actor: "alice"}))},
		{what: "describe an unknown environment", code: connect.CodeNotFound, want: `environment "ios" does not exist`,
			err: errOf(svc.GetEnvironment(ctx, &registryv1.GetEnvironmentRequest{Name: "ios"}))},
		{what: "describe without a name", code: connect.CodeInvalidArgument, want: "name is required",
			err: errOf(svc.GetEnvironment(ctx, &registryv1.GetEnvironmentRequest{}))},
	}
	for _, r := range refusals {
		wantConnectError(t, r.what, r.err, r.code, r.want)
	}
	if got := catalogueRevision(t, store); got != before {
		t.Errorf("refused changes moved the revision from %d to %d", before, got)
	}
}

// errOf keeps the error of a call.
func errOf[T any](_ T, err error) error { return err }

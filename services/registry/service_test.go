package registry_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/services/registry"
)

func TestServiceListEvents(t *testing.T) {
	store, _ := registeredStore(t)
	svc := registry.New(store)

	resp, err := svc.ListEvents(t.Context(), &registryv1.ListEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRevision() != 1 {
		t.Errorf("revision = %d, want 1", resp.GetRevision())
	}
	locked := map[string]string{}
	for _, e := range catalogueLock(t).Entries {
		locked[e.MessageName] = e.Fingerprint
	}
	versions := 0
	for _, e := range resp.GetEvents() {
		if e.GetId() == 0 || e.GetName() == "" || e.GetDescription() == "" {
			t.Errorf("event %v lacks an id, a name or a description", e)
		}
		for _, v := range e.GetVersions() {
			versions++
			if v.GetEventId() != e.GetId() || !strings.HasPrefix(v.GetMessageName(), "clickstream.events.v1."+e.GetName()+"V") {
				t.Errorf("version %s (event %d) listed under event %d %s", v.GetMessageName(), v.GetEventId(), e.GetId(), e.GetName())
			}
			if want, ok := locked[v.GetMessageName()]; !ok || v.GetFingerprint() != want {
				t.Errorf("%s: fingerprint %q, want %q from events.lock", v.GetMessageName(), v.GetFingerprint(), want)
			}
			if v.GetStatus() != registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE {
				t.Errorf("%s: status %v, want ACTIVE", v.GetMessageName(), v.GetStatus())
			}
			if v.GetRevision() != 1 || v.GetDescription() == "" || !v.GetCreatedAt().IsValid() || v.GetCreatedAt().AsTime().IsZero() {
				t.Errorf("%s: revision %d, description %q, created_at %v; want 1, set, set",
					v.GetMessageName(), v.GetRevision(), v.GetDescription(), v.GetCreatedAt())
			}
		}
	}
	if len(resp.GetEvents()) != 11 || versions != len(locked) {
		t.Errorf("%d events with %d versions, want 11 with %d", len(resp.GetEvents()), versions, len(locked))
	}

	filtered, err := svc.ListEvents(t.Context(), &registryv1.ListEventsRequest{Text: "Photo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(filtered.GetEvents()) != 1 || filtered.GetEvents()[0].GetId() != 2001 || filtered.GetRevision() != 1 {
		t.Errorf("ListEvents(Photo) = %v, want event 2001 at revision 1", filtered)
	}
}

func TestServiceLifecycle(t *testing.T) {
	store, pool := registeredStore(t)
	if _, err := pool.Exec(t.Context(), `UPDATE registry.event_versions SET status = 'deprecated' WHERE event_id = 2001 AND version = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `UPDATE registry.event_versions SET status = 'retired' WHERE event_id = 2001 AND version = 2`); err != nil {
		t.Fatal(err)
	}
	resp, err := registry.New(store).GetEvent(t.Context(), &registryv1.GetEventRequest{EventId: 2001})
	if err != nil {
		t.Fatal(err)
	}
	var got []registryv1.LifecycleStatus
	for _, v := range resp.GetEvent().GetVersions() {
		got = append(got, v.GetStatus())
	}
	want := []registryv1.LifecycleStatus{
		registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED,
		registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED,
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("statuses = %v, want %v", got, want)
	}
}

func TestServiceGetEvent(t *testing.T) {
	store, _ := registeredStore(t)
	svc := registry.New(store)
	tests := []struct {
		id       uint32
		code     connect.Code // 0 for success
		message  string       // in the error
		versions []string
	}{
		{id: 2001, versions: []string{"clickstream.events.v1.PhotoStatusChangedV1", "clickstream.events.v1.PhotoStatusChangedV2"}},
		{id: 3001, versions: []string{"clickstream.events.v1.ExternalProjectEventV1"}},
		{id: 0, code: connect.CodeInvalidArgument, message: "event_id is required"},
		{id: 4242, code: connect.CodeNotFound, message: "event 4242 is not registered"},
		{id: 4294967295, code: connect.CodeNotFound, message: "event 4294967295 is not registered"},
	}
	for _, tt := range tests {
		resp, err := svc.GetEvent(t.Context(), &registryv1.GetEventRequest{EventId: tt.id})
		if tt.code != 0 {
			if connect.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("GetEvent(%d) error = %v (%v), want %v saying %q", tt.id, err, connect.CodeOf(err), tt.code, tt.message)
			}
			continue
		}
		if err != nil {
			t.Errorf("GetEvent(%d): %v", tt.id, err)
			continue
		}
		var names []string
		for _, v := range resp.GetEvent().GetVersions() {
			names = append(names, v.GetMessageName())
		}
		if resp.GetEvent().GetId() != tt.id || strings.Join(names, " ") != strings.Join(tt.versions, " ") {
			t.Errorf("GetEvent(%d) = event %d with %v, want %v", tt.id, resp.GetEvent().GetId(), names, tt.versions)
		}
	}
}

func TestServiceStoreFailure(t *testing.T) {
	store, pool := registeredStore(t)
	svc := registry.New(store)
	pool.Close()
	if _, err := svc.ListEvents(t.Context(), &registryv1.ListEventsRequest{}); connect.CodeOf(err) != connect.CodeInternal {
		t.Errorf("ListEvents on a closed pool: %v (%v), want Internal", err, connect.CodeOf(err))
	}
	if _, err := svc.GetEvent(t.Context(), &registryv1.GetEventRequest{EventId: 2001}); connect.CodeOf(err) != connect.CodeInternal {
		t.Errorf("GetEvent on a closed pool: %v (%v), want Internal", err, connect.CodeOf(err))
	}
}

// TestServiceConnect calls the service through its Connect handler, the way
// apps and partners do.
func TestServiceConnect(t *testing.T) {
	store, _ := registeredStore(t)
	mux := http.NewServeMux()
	registry.Routes(registry.Config{}, registry.New(store), registry.NewAdmin(store)).Connect(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := registryv1connect.NewRegistryServiceClient(srv.Client(), srv.URL)

	resp, err := client.GetEvent(t.Context(), &registryv1.GetEventRequest{EventId: 1001})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(resp.GetEvent().GetVersions()); got != 2 {
		t.Errorf("event 1001 has %d versions over Connect, want 2", got)
	}
	_, err = client.GetEvent(t.Context(), &registryv1.GetEventRequest{EventId: 4242})
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("GetEvent(4242) over Connect: %v (%v), want NotFound", err, connect.CodeOf(err))
	}
}

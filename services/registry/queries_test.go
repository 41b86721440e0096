package registry_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// exec runs SQL statements that set up a test.
func exec(t *testing.T, pool *pgxpool.Pool, statements ...string) {
	t.Helper()
	for _, s := range statements {
		if _, err := pool.Exec(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// webAndIOS adds the environments web (ItemViewV1, PhotoStatusChangedV2)
// and ios (SearchQueryV1, PhotoStatusChangedV2).
func webAndIOS(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	exec(t, pool,
		`INSERT INTO registry.environments (name) VALUES ('web'), ('ios'), ('backend')`,
		`INSERT INTO registry.environment_access (environment, event_id, version)
		 VALUES ('web', 1001, 1), ('web', 2001, 2), ('ios', 1002, 1), ('ios', 2001, 2)`)
}

func TestGetEventFields(t *testing.T) {
	store, pool := registeredStore(t)
	webAndIOS(t, pool)
	svc := registry.New(store)

	resp, err := svc.GetEvent(t.Context(), &registryv1.GetEventRequest{EventId: 2001})
	if err != nil {
		t.Fatal(err)
	}
	versions := resp.GetEvent().GetVersions()
	if len(versions) != 2 {
		t.Fatalf("%d versions, want 2", len(versions))
	}
	const file = "clickstream/events/v1/photo_status_changed.proto"
	if versions[0].GetFile() != file || versions[1].GetFile() != file {
		t.Errorf("files %q, %q; want %s", versions[0].GetFile(), versions[1].GetFile(), file)
	}
	if len(versions[0].GetEnvironments()) != 0 || !slices.Equal(versions[1].GetEnvironments(), []string{"ios", "web"}) {
		t.Errorf("environments %v, %v; want none, [ios web]", versions[0].GetEnvironments(), versions[1].GetEnvironments())
	}
	want := []string{
		`1 context context clickstream.events.v1.Context "optional" required="must be set" pii=false oneof="" example="" description=""`,
		`2 photo_id photoId string "" required="must not be the zero value" pii=false oneof="" example="" description="Content id of the photo; awards count each photo once."`,
		`3 object_id objectId string "" required="must not be the zero value" pii=false oneof="" example="" description="The map object (organisation, place) the photo belongs to."`,
		`4 status status clickstream.events.v1.ContentStatus "" required="must not be the zero value" pii=false oneof="" example="" description=""`,
		`5 rubric rubric string "" required="" pii=false oneof="" example="cafe" description="Rubric of the object, e.g. \"cafe\"."`,
	}
	if got := fieldLines(versions[0].GetFields()); !slices.Equal(got, want) {
		t.Errorf("PhotoStatusChangedV1 fields:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := fieldLines(versions[1].GetFields()); len(got) != 7 || !strings.HasPrefix(got[5], "6 previous_status previousStatus clickstream.events.v1.ContentStatus") {
		t.Errorf("PhotoStatusChangedV2 fields:\n%s", strings.Join(got, "\n"))
	}

	search, err := svc.GetEvent(t.Context(), &registryv1.GetEventRequest{EventId: 1002})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		`1 context context clickstream.events.v1.Context "optional" required="must be set" pii=false oneof="" example="" description=""`,
		`2 query query string "" required="must not be the zero value" pii=true oneof="" example="red bicycle" description="Query text as typed; may contain personal data."`,
		`3 category_id categoryId int32 "" required="" pii=false oneof="" example="" description="Category the search was narrowed to, 0 for all."`,
		`4 results_count resultsCount int32 "" required="" pii=false oneof="" example="120" description="Number of results found."`,
		`5 item_ids itemIds int64 "repeated" required="" pii=false oneof="" example="" description="Ids of the items on the first page."`,
		`6 filters filters map<string, string> "" required="" pii=false oneof="" example="" description="Filters applied, by name."`,
	}
	if got := fieldLines(search.GetEvent().GetVersions()[0].GetFields()); !slices.Equal(got, want) {
		t.Errorf("SearchQueryV1 fields:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// fieldLines renders fields one a line, for comparing.
func fieldLines(fields []*registryv1.Field) []string {
	var lines []string
	for _, f := range fields {
		if f.GetRequired() != (f.GetRequiredMeans() != "") {
			lines = append(lines, "required and required_means disagree: "+f.String())
		}
		lines = append(lines, fmt.Sprintf("%d %s %s %s %q required=%q pii=%v oneof=%q example=%q description=%q",
			f.GetNumber(), f.GetName(), f.GetJsonName(), f.GetType(), f.GetLabel(),
			f.GetRequiredMeans(), f.GetPii(), f.GetOneof(), f.GetExample(), f.GetDescription()))
	}
	return lines
}

func TestListEventsFilters(t *testing.T) {
	store, pool := registeredStore(t)
	webAndIOS(t, pool)
	exec(t, pool,
		`INSERT INTO registry.owners (event_id, team, contact) VALUES (2001, 'ugc', '#ugc'), (1002, 'search', '')`,
		`UPDATE registry.event_versions SET status = 'deprecated' WHERE event_id = 1001 AND version = 1`)
	svc := registry.New(store)
	tests := []struct {
		name string
		req  *registryv1.ListEventsRequest
		want []uint32
	}{
		{"environment", &registryv1.ListEventsRequest{Environment: "web"}, []uint32{1001, 2001}},
		{"environment and text", &registryv1.ListEventsRequest{Environment: "web", Text: "photo"}, []uint32{2001}},
		{"environment that may send nothing", &registryv1.ListEventsRequest{Environment: "backend"}, nil},
		{"owner, any case", &registryv1.ListEventsRequest{OwnerTeam: "UGC"}, []uint32{2001}},
		{"owner and environment", &registryv1.ListEventsRequest{OwnerTeam: "search", Environment: "ios"}, []uint32{1002}},
		{"status", &registryv1.ListEventsRequest{Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED}, []uint32{1001}},
		{"status nobody has", &registryv1.ListEventsRequest{Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := svc.ListEvents(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var ids []uint32
			for _, e := range resp.GetEvents() {
				ids = append(ids, e.GetId())
			}
			if !slices.Equal(ids, tt.want) || resp.GetRevision() != 1 {
				t.Errorf("events %v at revision %d, want %v at 1", ids, resp.GetRevision(), tt.want)
			}
		})
	}

	resp, err := svc.ListEvents(t.Context(), &registryv1.ListEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range resp.GetEvents() {
		switch e.GetId() {
		case 2001:
			if e.GetOwner().GetTeam() != "ugc" || e.GetOwner().GetContact() != "#ugc" {
				t.Errorf("event 2001 owner %v, want ugc #ugc", e.GetOwner())
			}
			if got := e.GetVersions()[1].GetEnvironments(); !slices.Equal(got, []string{"ios", "web"}) {
				t.Errorf("PhotoStatusChangedV2 environments %v, want [ios web]", got)
			}
		case 1001:
			if e.GetOwner() != nil {
				t.Errorf("event 1001 owner %v, want none", e.GetOwner())
			}
			if got := e.GetVersions()[0].GetStatus(); got != registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED {
				t.Errorf("ItemViewV1 status %v, want DEPRECATED", got)
			}
		}
	}

	_, err = svc.ListEvents(t.Context(), &registryv1.ListEventsRequest{Environment: "nowhere"})
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), `environment "nowhere" does not exist`) {
		t.Errorf("ListEvents(nowhere): %v, want NotFound naming the environment", err)
	}
	_, err = svc.ListEvents(t.Context(), &registryv1.ListEventsRequest{Status: registryv1.LifecycleStatus(42)})
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("ListEvents(status 42): %v, want InvalidArgument", err)
	}
}

func TestGetEventVersion(t *testing.T) {
	store, pool := registeredStore(t)
	exec(t, pool, `INSERT INTO registry.owners (event_id, team, contact) VALUES (1004, 'payments', 'payments@example.com')`)
	svc := registry.New(store)

	resp, err := svc.GetEventVersion(t.Context(), &registryv1.GetEventVersionRequest{EventId: 1004, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := resp.GetVersion()
	if v.GetMessageName() != "clickstream.events.v1.PaymentV1" || v.GetFile() != "clickstream/events/v1/payment.proto" || len(v.GetFields()) != 7 {
		t.Errorf("version %s in %s with %d fields, want PaymentV1 in payment.proto with 7", v.GetMessageName(), v.GetFile(), len(v.GetFields()))
	}
	if email := v.GetFields()[6]; email.GetName() != "payer_email" || !email.GetPii() {
		t.Errorf("field 7 = %v, want payer_email marked pii", email)
	}
	if resp.GetOwner().GetTeam() != "payments" {
		t.Errorf("owner %v, want payments", resp.GetOwner())
	}

	tests := []struct {
		id, version uint32
		code        connect.Code
		want        string
	}{
		{1004, 2, connect.CodeNotFound, "event 1004 Payment has no version 2; its versions are 1"},
		{1004, 0, connect.CodeInvalidArgument, "version is required"},
		{4242, 1, connect.CodeNotFound, "event 4242 is not registered"},
		{0, 1, connect.CodeInvalidArgument, "event_id is required"},
	}
	for _, tt := range tests {
		_, err := svc.GetEventVersion(t.Context(), &registryv1.GetEventVersionRequest{EventId: tt.id, Version: tt.version})
		if connect.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("GetEventVersion(%d, %d): %v, want %v saying %q", tt.id, tt.version, err, tt.code, tt.want)
		}
	}
}

func TestDiffVersions(t *testing.T) {
	store, _ := registeredStore(t)
	svc := registry.New(store)
	tests := []struct {
		id, from, to uint32
		want         []string
		code         connect.Code
		err          string
	}{
		{id: 1001, from: 1, to: 2, want: []string{
			`field 4 "referrer" added (string)`,
			`field 5 "price" added (message clickstream.events.v1.Money)`,
		}},
		{id: 1001, from: 2, to: 1, want: []string{`field 4 "referrer" removed`, `field 5 "price" removed`}},
		{id: 1001, from: 2, to: 2},
		{id: 2001, from: 1, to: 2, want: []string{
			`field 6 "previous_status" added (enum clickstream.events.v1.ContentStatus)`,
			`field 7 "reason" added (string)`,
		}},
		{id: 1001, from: 1, to: 3, code: connect.CodeNotFound, err: "to_version: event 1001 ItemView has no version 3; its versions are 1, 2"},
		{id: 1001, from: 0, to: 2, code: connect.CodeInvalidArgument, err: "from_version is required"},
		{id: 4242, from: 1, to: 2, code: connect.CodeNotFound, err: "event 4242 is not registered"},
	}
	for _, tt := range tests {
		resp, err := svc.DiffVersions(t.Context(), &registryv1.DiffVersionsRequest{EventId: tt.id, FromVersion: tt.from, ToVersion: tt.to})
		if tt.code != 0 {
			if connect.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("DiffVersions(%d, %d→%d): %v, want %v saying %q", tt.id, tt.from, tt.to, err, tt.code, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("DiffVersions(%d, %d→%d): %v", tt.id, tt.from, tt.to, err)
			continue
		}
		if !slices.Equal(resp.GetChanges(), tt.want) {
			t.Errorf("DiffVersions(%d, %d→%d) = %q, want %q", tt.id, tt.from, tt.to, resp.GetChanges(), tt.want)
		}
	}
}

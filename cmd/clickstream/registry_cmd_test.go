package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/platform"
)

const testAdminToken = "registry-cli-test"

// startRegistry runs the registry alone in-process, with the starter
// catalogue, and returns its URL.
func startRegistry(t *testing.T) string {
	t.Helper()
	s := startStack(t, platform.Config{Services: []string{platform.Registry}, AdminToken: testAdminToken})
	return s.URL(platform.Registry)
}

// bearer adds the admin token to every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// adminClient calls the registry's admin API with the test's token.
func adminClient(url string) registryv1connect.RegistryAdminServiceClient {
	return registryv1connect.NewRegistryAdminServiceClient(&http.Client{Transport: bearer{testAdminToken}}, url)
}

// govern creates the environment "kiosk", allowed to send every version of
// PhotoStatusChanged, and makes the team "photos" its owner.
func govern(t *testing.T, url string) {
	t.Helper()
	ctx, admin := context.Background(), adminClient(url)
	if _, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{
		Name: "kiosk", Description: "In-store kiosks", Actor: "cli-test",
	}); err != nil {
		t.Fatalf("CreateEnvironment: %v", err)
	}
	if _, err := admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{
		Environment: "kiosk", EventId: 2001, Allowed: true, Actor: "cli-test",
	}); err != nil {
		t.Fatalf("SetEventAccess: %v", err)
	}
	if _, err := admin.SetOwner(ctx, &registryv1.SetOwnerRequest{
		EventId: 2001, Owner: &registryv1.Owner{Team: "photos", Contact: "#photos-oncall"}, Actor: "cli-test",
	}); err != nil {
		t.Fatalf("SetOwner: %v", err)
	}
}

// reportUsage plants, relative to now: a rejection spike of
// PhotoStatusChangedV2 from ios in the last hour, on top of a steady week,
// and a little ItemViewV1 traffic from web.
func reportUsage(t *testing.T, url string) {
	t.Helper()
	admin := adminClient(url)
	now := time.Now().Truncate(time.Minute)
	count := func(at time.Time, env string, id, version uint32, status, reason string, n int64) *registryv1.UsageCount {
		return &registryv1.UsageCount{Minute: timestamppb.New(at), Environment: env, EventId: id, Version: version,
			AppVersion: "5.2.0", Status: status, Reason: reason, Count: n}
	}
	var counts []*registryv1.UsageCount
	for d := 0; d <= 7; d++ {
		day := now.Add(-time.Duration(d) * 24 * time.Hour)
		counts = append(counts, count(day.Add(-30*time.Minute), "ios", 2001, 2, "accepted", "", 1000))
	}
	counts = append(counts,
		count(now.Add(-20*time.Minute), "ios", 2001, 2, "rejected", "REJECT_REASON_MISSING_REQUIRED_FIELD", 300),
		count(now.Add(-2*time.Hour), "web", 1001, 1, "accepted", "", 42),
	)
	resp, err := admin.ReportUsage(context.Background(), &registryv1.ReportUsageRequest{Counts: counts})
	if err != nil {
		t.Fatalf("ReportUsage: %v", err)
	}
	if int(resp.GetRecorded()) != len(counts) {
		t.Fatalf("recorded %d counts, want %d", resp.GetRecorded(), len(counts))
	}
}

func TestRegistryCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and the registry")
	}
	url := startRegistry(t)
	reportUsage(t, url)
	govern(t, url)
	// The registry's URL comes from the environment, as the flag's.
	t.Setenv("CLICKSTREAM_REGISTRY", url)

	tables := []struct {
		args []string
		want []string
	}{
		{[]string{"registry", "events"}, []string{"ID", "NAME", "VERSIONS", "2001", "PhotoStatusChanged", "v1, v2", "ItemView", "ExternalProjectEvent"}},
		{[]string{"registry", "events", "--text", "photo"}, []string{"PhotoStatusChanged"}},
		{[]string{"registry", "events", "--env", "kiosk"}, []string{"PhotoStatusChanged", "photos"}},
		{[]string{"registry", "events", "--owner", "photos", "--status", "active"}, []string{"PhotoStatusChanged"}},
		{[]string{"registry", "owners"}, []string{"TEAM", "CONTACT", "PhotoStatusChanged", "photos", "#photos-oncall", "NavigationTripFinished"}},
		{[]string{"registry", "envs"}, []string{"NAME", "VERSIONS", "DESCRIPTION", "kiosk", "In-store kiosks"}},
		{[]string{"registry", "envs", "kiosk"}, []string{"Name:", "kiosk", "May send:", "2 event versions", "clickstream.events.v1.PhotoStatusChangedV2"}},
		{[]string{"registry", "usage", "2001", "--hours", "3"}, []string{
			"event 2001, last 3 hours: 1,000 accepted, 300 rejected (23.1%)",
			"REJECT_REASON_MISSING_REQUIRED_FIELD", "300", "ios", "5.2.0", "LAST SEEN",
		}},
		{[]string{"registry", "usage", "PhotoStatusChanged", "--env", "web"}, []string{"PhotoStatusChanged (2001) from web, last 24 hours: 0 accepted, 0 rejected", "never"}},
		{[]string{"registry", "deviations"}, []string{"rejections", "PhotoStatusChangedV2", "ios", "23% of 1,300 events rejected in the last 60 min"}},
		{[]string{"registry", "deviations", "--threshold", "0.5"}, []string{"No deviations."}},
		{[]string{"registry", "unused"}, []string{"LAST SEEN", "PaymentV1", "never"}},
	}
	for _, tt := range tables {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			out, errOut, err := runCLI(t, tt.args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, errOut)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("%v prints no %q:\n%s", tt.args, want, out)
				}
			}
		})
	}
	if out, _, _ := runCLI(t, "registry", "events", "--text", "photo"); strings.Contains(out, "ItemView") {
		t.Errorf("events --text photo lists ItemView:\n%s", out)
	}
	for _, args := range [][]string{{"registry", "events", "--env", "kiosk"}, {"registry", "events", "--owner", "photos"}, {"registry", "events", "--status", "retired"}} {
		if out, _, _ := runCLI(t, args...); strings.Contains(out, "ItemView") {
			t.Errorf("%v lists ItemView:\n%s", args, out)
		}
	}
	if out, _, _ := runCLI(t, "registry", "unused"); strings.Contains(out, "PhotoStatusChangedV2") || strings.Contains(out, "ItemViewV1") {
		t.Errorf("unused lists a version with traffic:\n%s", out)
	}

	jsons := []struct {
		args  []string
		into  proto.Message
		check func(proto.Message) bool
	}{
		{[]string{"registry", "events"}, &registryv1.ListEventsResponse{}, func(m proto.Message) bool {
			return len(m.(*registryv1.ListEventsResponse).GetEvents()) == 11
		}},
		{[]string{"registry", "owners", "--output", "json"}, &registryv1.ListEventsResponse{}, func(m proto.Message) bool {
			return len(m.(*registryv1.ListEventsResponse).GetEvents()) == 11
		}},
		{[]string{"registry", "envs"}, &registryv1.ListEnvironmentsResponse{}, func(m proto.Message) bool {
			for _, e := range m.(*registryv1.ListEnvironmentsResponse).GetEnvironments() {
				if e.GetName() == "kiosk" {
					return true
				}
			}
			return false
		}},
		{[]string{"registry", "envs", "kiosk"}, &registryv1.GetEnvironmentResponse{}, func(m proto.Message) bool {
			return len(m.(*registryv1.GetEnvironmentResponse).GetEnvironment().GetAllowed()) == 2
		}},
		{[]string{"registry", "usage", "2001", "--version", "2"}, &registryv1.GetEventStatsResponse{}, func(m proto.Message) bool {
			s := m.(*registryv1.GetEventStatsResponse)
			return s.GetAccepted() == 1000 && s.GetRejected() == 300 && len(s.GetSeries()) >= 24 && len(s.GetLastSeen()) == 1
		}},
		{[]string{"registry", "deviations", "--window", "120"}, &registryv1.ListDeviationsResponse{}, func(m proto.Message) bool {
			d := m.(*registryv1.ListDeviationsResponse).GetDeviations()
			return len(d) == 1 && d[0].GetKind() == registryv1.DeviationKind_DEVIATION_KIND_REJECTION_RATE && d[0].GetEventId() == 2001
		}},
		{[]string{"registry", "unused", "--days", "1"}, &registryv1.ListUnusedResponse{}, func(m proto.Message) bool {
			return len(m.(*registryv1.ListUnusedResponse).GetVersions()) == 11
		}},
	}
	for _, tt := range jsons {
		args := append(tt.args, "-o", "json")
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			out, errOut, err := runCLI(t, args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", args, err, errOut)
			}
			if err := protojson.Unmarshal([]byte(out), tt.into); err != nil {
				t.Fatalf("%v prints no %T: %v\n%s", args, tt.into, err, out)
			}
			if !tt.check(tt.into) {
				t.Errorf("%v: unexpected answer:\n%s", args, out)
			}
		})
	}

	failures := []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"registry", "usage", "4242"}, "event 4242 is not registered", false},
		{[]string{"registry", "usage", "NoSuchEvent"}, `no event is named "NoSuchEvent"`, true},
		{[]string{"registry", "events", "-o", "yaml"}, `--output "yaml"`, true},
		{[]string{"registry", "events", "--status", "gone"}, `--status "gone"`, true},
		{[]string{"registry", "deviations", "--window", "-5"}, "window_minutes", false},
		{[]string{"registry", "events", "--registry", "http://127.0.0.1:1"}, "does not answer", false},
	}
	for _, tt := range failures {
		_, _, err := runCLI(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error saying %q", tt.args, err, tt.want)
			continue
		}
		if got := exitCode(err) == 2; got != tt.usage {
			t.Errorf("%v: exit code %d for %v", tt.args, exitCode(err), err)
		}
	}
}

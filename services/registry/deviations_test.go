package registry_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry"
)

var defaultRules = registry.DeviationRules{
	Window:             time.Hour,
	RejectionThreshold: 0.05,
	MinRejectionVolume: 20,
	BaselineDays:       7,
	VolumeTolerance:    0.5,
	MinBaseline:        10,
}

func TestFindDeviations(t *testing.T) {
	photo := registry.VersionVolume{EventID: 2001, Version: 2, MessageName: "clickstream.events.v1.PhotoStatusChangedV2",
		Status: registry.LifecycleActive, Environment: "ios"}
	with := func(accepted, rejected, baselineTotal int64, edit ...func(*registry.VersionVolume)) registry.VersionVolume {
		v := photo
		v.Accepted, v.Rejected, v.BaselineTotal = accepted, rejected, baselineTotal
		for _, e := range edit {
			e(&v)
		}
		return v
	}
	tests := []struct {
		name   string
		volume registry.VersionVolume
		rules  func(*registry.DeviationRules)
		want   []string // "kind observed expected: message"
	}{
		{name: "steady", volume: with(1000, 0, 7000)},
		{name: "within tolerance below", volume: with(501, 0, 7000)},
		{name: "within tolerance above", volume: with(1499, 0, 7000)},
		{name: "at the threshold", volume: with(95, 5, 700)},
		{
			name:   "drop",
			volume: with(1204, 0, 7*1745),
			rules:  func(r *registry.DeviationRules) { r.VolumeTolerance = 0.25 },
			want:   []string{"volume drop 1204 1745: PhotoStatusChangedV2 from ios: 1,204 events in the last 60 min, 31% below its 7-day baseline of 1,745"},
		},
		{
			name:   "spike",
			volume: with(2500, 0, 7000),
			want:   []string{"volume spike 2500 1000: PhotoStatusChangedV2 from ios: 2,500 events in the last 60 min, 150% above its 7-day baseline of 1,000"},
		},
		{
			name:   "stopped, not dropped",
			volume: with(0, 0, 7*12),
			want:   []string{"stopped 0 12: PhotoStatusChangedV2 from ios: no events in the last 60 min, against its 7-day baseline of 12; it stopped arriving"},
		},
		{name: "stopped under the minimum baseline", volume: with(0, 0, 7*9)},
		{name: "drop under the minimum baseline", volume: with(1, 0, 7*9)},
		{name: "no baseline", volume: with(5000, 0, 0)},
		{
			name:   "minimum baseline lowered",
			volume: with(0, 0, 7*9),
			rules:  func(r *registry.DeviationRules) { r.MinBaseline = 5 },
			want:   []string{"stopped 0 9: PhotoStatusChangedV2 from ios: no events in the last 60 min, against its 7-day baseline of 9; it stopped arriving"},
		},
		{
			name:   "rejection rate",
			volume: with(1377, 153, 7*1530, func(v *registry.VersionVolume) { v.TopReason = "REJECT_REASON_MISSING_REQUIRED_FIELD" }),
			want: []string{"rejection rate 0.1 0.05: PhotoStatusChangedV2 from ios: 10% of 1,530 events rejected in the last 60 min, " +
				"above the 5% threshold; most often REJECT_REASON_MISSING_REQUIRED_FIELD"},
		},
		{
			name:   "rejection rate below 10%",
			volume: with(940, 60, 7000),
			want:   []string{"rejection rate 0.06 0.05: PhotoStatusChangedV2 from ios: 6% of 1,000 events rejected in the last 60 min, above the 5% threshold"},
		},
		{
			name:   "rejection rate with one decimal",
			volume: with(947, 53, 7000),
			rules:  func(r *registry.DeviationRules) { r.RejectionThreshold = 0.025; r.Window = 15 * time.Minute },
			want:   []string{"rejection rate 0.053 0.025: PhotoStatusChangedV2 from ios: 5.3% of 1,000 events rejected in the last 15 min, above the 2.5% threshold"},
		},
		{name: "rejections under the minimum volume", volume: with(10, 9, 7*19)},
		{
			name:   "rejections and a spike",
			volume: with(0, 40, 7*20),
			want: []string{
				"rejection rate 1 0.05: PhotoStatusChangedV2 from ios: 100% of 40 events rejected in the last 60 min, above the 5% threshold",
				"volume spike 40 20: PhotoStatusChangedV2 from ios: 40 events in the last 60 min, 100% above its 7-day baseline of 20",
			},
		},
		{
			name:   "retired versions may stop",
			volume: with(0, 0, 7000, func(v *registry.VersionVolume) { v.Status = registry.LifecycleRetired }),
		},
		{
			name:   "retired versions still show rejections",
			volume: with(0, 30, 7000, func(v *registry.VersionVolume) { v.Status = registry.LifecycleRetired }),
			want:   []string{"rejection rate 1 0.05: PhotoStatusChangedV2 from ios: 100% of 30 events rejected in the last 60 min, above the 5% threshold"},
		},
		{
			name:   "three-day baseline",
			volume: with(100, 0, 3*1000),
			rules:  func(r *registry.DeviationRules) { r.BaselineDays = 3 },
			want:   []string{"volume drop 100 1000: PhotoStatusChangedV2 from ios: 100 events in the last 60 min, 90% below its 3-day baseline of 1,000"},
		},
		{
			name:   "fractional baseline",
			volume: with(1, 0, 100),
			want:   []string{"volume drop 1 14.285714285714286: PhotoStatusChangedV2 from ios: 1 event in the last 60 min, 93% below its 7-day baseline of 14"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := defaultRules
			if tt.rules != nil {
				tt.rules(&rules)
			}
			var got []string
			for _, d := range registry.FindDeviations([]registry.VersionVolume{tt.volume}, rules) {
				if d.EventID != 2001 || d.Version != 2 || d.Environment != "ios" || d.MessageName != photo.MessageName {
					t.Errorf("deviation names %d v%d %s %s, want the volume's version", d.EventID, d.Version, d.Environment, d.MessageName)
				}
				got = append(got, fmt.Sprintf("%v %v %v: %s", d.Kind, d.Observed, d.Expected, d.Message))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("FindDeviations =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestFindDeviationsOrder(t *testing.T) {
	volume := func(id, version uint32, env string) registry.VersionVolume {
		return registry.VersionVolume{EventID: id, Version: version, MessageName: fmt.Sprintf("E%dV%d", id, version),
			Environment: env, Rejected: 100, BaselineTotal: 7}
	}
	in := []registry.VersionVolume{volume(2001, 2, "web"), volume(1001, 1, "web"), volume(2001, 1, "web"), volume(2001, 2, "ios")}
	var got []string
	for _, d := range registry.FindDeviations(in, defaultRules) {
		got = append(got, fmt.Sprintf("%d v%d %s", d.EventID, d.Version, d.Environment))
	}
	if want := "1001 v1 web, 2001 v1 web, 2001 v2 ios, 2001 v2 web"; strings.Join(got, ", ") != want {
		t.Errorf("order = %s, want %s", strings.Join(got, ", "), want)
	}
}

// TestListDeviations reports a week of synthetic usage and expects each
// kind of deviation where it was planted, and nothing elsewhere.
func TestListDeviations(t *testing.T) {
	store, _ := registeredStore(t)
	svc, admin := registry.New(store), registry.NewAdmin(store)

	var counts []*registryv1.UsageCount
	// daily adds n events in the window of day d (0 is the window itself,
	// [at-60m, at)), split over two minutes.
	daily := func(d int, env string, id, version uint32, n int64) {
		day := at.Add(-time.Duration(d) * 24 * time.Hour)
		counts = append(counts,
			accepted(day.Add(-50*time.Minute), env, id, version, n/2),
			accepted(day.Add(-time.Minute), env, id, version, n-n/2))
	}
	for d := 1; d <= 7; d++ {
		daily(d, "ios", 2001, 2, 1000)    // rejection spike in the window
		daily(d, "web", 1001, 2, 1000)    // volume drop
		daily(d, "android", 1002, 1, 500) // stopped
		daily(d, "web", 1003, 1, 300)     // steady
		daily(d, "web", 1004, 1, 5)       // stopped, but too small to tell
		daily(d, "web", 1005, 1, 1000)    // spike
	}
	daily(0, "ios", 2001, 2, 940)
	counts = append(counts,
		rejected(at.Add(-30*time.Minute), "ios", 2001, 2, "REJECT_REASON_MISSING_REQUIRED_FIELD", 50),
		rejected(at.Add(-20*time.Minute), "ios", 2001, 2, "REJECT_REASON_WRONG_TYPE", 20))
	daily(0, "web", 1001, 2, 200)
	daily(0, "web", 1003, 1, 310)
	daily(0, "web", 1005, 1, 3000)
	counts = append(counts,
		// A few rejections are no rate yet.
		accepted(at.Add(-5*time.Minute), "web", 2002, 1, 5),
		rejected(at.Add(-5*time.Minute), "web", 2002, 1, "REJECT_REASON_WRONG_TYPE", 5),
		// Outside the window and the baseline windows: counts for nothing.
		accepted(at, "android", 1002, 1, 500),
		accepted(at.Add(-61*time.Minute), "android", 1002, 1, 500),
		accepted(at.Add(-24*time.Hour-2*time.Hour), "web", 1003, 1, 100_000),
		accepted(at.Add(-8*24*time.Hour-30*time.Minute), "web", 1003, 1, 100_000),
		rejected(at.Add(-25*time.Hour-time.Minute), "web", 1003, 1, "REJECT_REASON_WRONG_TYPE", 100_000),
	)
	report(t, admin, counts...)

	resp, err := svc.ListDeviations(t.Context(), &registryv1.ListDeviationsRequest{At: timestamppb.New(at)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range resp.GetDeviations() {
		got = append(got, fmt.Sprintf("%v %d v%d %s %v/%v", d.GetKind(), d.GetEventId(), d.GetVersion(), d.GetEnvironment(), d.GetObserved(), d.GetExpected()))
	}
	want := []string{
		"DEVIATION_KIND_VOLUME_DROP 1001 v2 web 200/1000",
		"DEVIATION_KIND_STOPPED 1002 v1 android 0/500",
		"DEVIATION_KIND_VOLUME_SPIKE 1005 v1 web 3000/1000",
		"DEVIATION_KIND_REJECTION_RATE 2001 v2 ios 0.06930693069306931/0.05",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("deviations:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	messages := map[registryv1.DeviationKind]string{
		registryv1.DeviationKind_DEVIATION_KIND_VOLUME_DROP:    "ItemViewV2 from web: 200 events in the last 60 min, 80% below its 7-day baseline of 1,000",
		registryv1.DeviationKind_DEVIATION_KIND_STOPPED:        "SearchQueryV1 from android: no events in the last 60 min",
		registryv1.DeviationKind_DEVIATION_KIND_REJECTION_RATE: "PhotoStatusChangedV2 from ios: 6.9% of 1,010 events rejected in the last 60 min, above the 5% threshold; most often REJECT_REASON_MISSING_REQUIRED_FIELD",
	}
	for _, d := range resp.GetDeviations() {
		if want, ok := messages[d.GetKind()]; ok && !strings.HasPrefix(d.GetMessage(), want) {
			t.Errorf("%v message = %q, want it to start with %q", d.GetKind(), d.GetMessage(), want)
		}
		if !strings.HasPrefix(d.GetMessageName(), "clickstream.events.v1.") {
			t.Errorf("%v names message %q", d.GetKind(), d.GetMessageName())
		}
	}

	// A stricter threshold and a shorter window move the picture.
	resp, err = svc.ListDeviations(t.Context(), &registryv1.ListDeviationsRequest{
		At: timestamppb.New(at), WindowMinutes: 10, RejectionThreshold: 0.5, VolumeTolerance: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, d := range resp.GetDeviations() {
		got = append(got, fmt.Sprintf("%v %d v%d %s", d.GetKind(), d.GetEventId(), d.GetVersion(), d.GetEnvironment()))
	}
	// In [13:50, 14:00) 1002 still stops; the rest stays within ten times
	// its baseline or under the threshold.
	if want := "DEVIATION_KIND_STOPPED 1002 v1 android"; strings.Join(got, "\n") != want {
		t.Errorf("deviations in 10 minutes:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), want)
	}

	bad := []*registryv1.ListDeviationsRequest{
		{WindowMinutes: -1},
		{WindowMinutes: 24*60 + 1},
		{RejectionThreshold: 1.5},
		{BaselineDays: -2},
		{VolumeTolerance: -0.5},
		{MinBaseline: -1},
		{At: &timestamppb.Timestamp{Nanos: -1}},
	}
	for _, req := range bad {
		if _, err := svc.ListDeviations(t.Context(), req); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("ListDeviations(%v): %v, want InvalidArgument", req, err)
		}
	}
	// Now, with no traffic in the last week: nothing to say.
	resp, err = svc.ListDeviations(t.Context(), &registryv1.ListDeviationsRequest{})
	if err != nil || len(resp.GetDeviations()) != 0 {
		t.Errorf("ListDeviations now = %v, %v; want none", resp, err)
	}
}

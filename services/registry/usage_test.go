package registry_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// at is the fixed "now" of the usage tests: a Monday, 14:00 UTC.
var at = time.Date(2025, 6, 2, 14, 0, 0, 0, time.UTC)

// accepted and rejected build one usage count.
func accepted(minute time.Time, env string, id, version uint32, n int64) *registryv1.UsageCount {
	return &registryv1.UsageCount{Minute: timestamppb.New(minute), Environment: env, EventId: id, Version: version,
		AppVersion: "1.0", Status: registry.UsageAccepted, Count: n}
}

func rejected(minute time.Time, env string, id, version uint32, reason string, n int64) *registryv1.UsageCount {
	c := accepted(minute, env, id, version, n)
	c.Status, c.Reason = registry.UsageRejected, reason
	return c
}

// report sends counts through the admin API and fails the test on error.
func report(t *testing.T, admin *registry.AdminService, counts ...*registryv1.UsageCount) {
	t.Helper()
	resp, err := admin.ReportUsage(t.Context(), &registryv1.ReportUsageRequest{Counts: counts})
	if err != nil {
		t.Fatalf("ReportUsage: %v", err)
	}
	if int(resp.GetRecorded()) != len(counts) {
		t.Fatalf("ReportUsage recorded %d counts, want %d", resp.GetRecorded(), len(counts))
	}
}

func TestReportUsageValidation(t *testing.T) {
	store, pool := registeredStore(t)
	admin := registry.NewAdmin(store)
	good := accepted(at, "web", 2001, 2, 10)
	tests := []struct {
		name string
		edit func(c *registryv1.UsageCount)
		want string
	}{
		{"no minute", func(c *registryv1.UsageCount) { c.Minute = nil }, "counts[1].minute: required"},
		{"bad minute", func(c *registryv1.UsageCount) { c.Minute = &timestamppb.Timestamp{Seconds: 1, Nanos: -1} }, "counts[1].minute"},
		{"no environment", func(c *registryv1.UsageCount) { c.Environment = "" }, "counts[1].environment: required"},
		{"no event", func(c *registryv1.UsageCount) { c.EventId = 0 }, "counts[1].event_id: required"},
		{"no version", func(c *registryv1.UsageCount) { c.Version = 0 }, "counts[1].version: required"},
		{"unknown status", func(c *registryv1.UsageCount) { c.Status = "ok" }, `counts[1].status: "ok" is not a status`},
		{"reason when accepted", func(c *registryv1.UsageCount) { c.Reason = "REJECT_REASON_UNKNOWN_EVENT" }, "counts[1].reason"},
		{"negative count", func(c *registryv1.UsageCount) { c.Count = -3 }, "counts[1].count: -3 is negative"},
		{"unregistered event", func(c *registryv1.UsageCount) { c.EventId = 4242 }, "counts[1].event_id: event 4242 is not registered"},
		{"unregistered version", func(c *registryv1.UsageCount) { c.Version = 9 }, "counts[1].version: event 2001 has no version 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := accepted(at, "web", 2001, 1, 5)
			tt.edit(bad)
			_, err := admin.ReportUsage(t.Context(), &registryv1.ReportUsageRequest{Counts: []*registryv1.UsageCount{good, bad}})
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReportUsage: %v (%v), want InvalidArgument saying %q", err, connect.CodeOf(err), tt.want)
			}
		})
	}
	if n := count(t, pool, `SELECT count(*) FROM registry.usage`); n != 0 {
		t.Errorf("rejected reports stored %d rows, want none", n)
	}
	// A rejected count with or without a reason is fine.
	report(t, admin, rejected(at, "web", 2001, 1, "REJECT_REASON_MISSING_REQUIRED_FIELD", 1), rejected(at, "web", 2001, 1, "", 1))
}

func TestReportUsageAccumulates(t *testing.T) {
	store, pool := registeredStore(t)
	admin := registry.NewAdmin(store)

	// Two counts of one key in one report, at different seconds of the
	// same minute, and a count of zero.
	report(t, admin,
		accepted(at.Add(37*time.Second), "ios", 2001, 2, 5),
		accepted(at.Add(5*time.Second), "ios", 2001, 2, 7),
		accepted(at, "ios", 2001, 1, 0),
		rejected(at, "ios", 2001, 2, "REJECT_REASON_MISSING_REQUIRED_FIELD", 2),
	)
	report(t, admin,
		accepted(at.Add(59*time.Second), "ios", 2001, 2, 30),
		rejected(at, "ios", 2001, 2, "REJECT_REASON_MISSING_REQUIRED_FIELD", 1),
		accepted(at.Add(time.Minute), "ios", 2001, 2, 1),
	)

	var n int64
	err := pool.QueryRow(t.Context(), `SELECT count FROM registry.usage
		WHERE event_id = 2001 AND version = 2 AND minute = $1 AND environment = 'ios' AND app_version = '1.0' AND status = 'accepted'`, at).Scan(&n)
	if err != nil || n != 42 {
		t.Errorf("accepted count of the minute = %d (%v), want 5+7+30 = 42", n, err)
	}
	err = pool.QueryRow(t.Context(), `SELECT count FROM registry.usage
		WHERE event_id = 2001 AND version = 2 AND minute = $1 AND status = 'rejected'`, at).Scan(&n)
	if err != nil || n != 3 {
		t.Errorf("rejected count of the minute = %d (%v), want 3", n, err)
	}
	if rows := count(t, pool, `SELECT count(*) FROM registry.usage`); rows != 3 {
		t.Errorf("%d usage rows, want 3 (no row for the zero count)", rows)
	}
	if rows := count(t, pool, `SELECT count(*) FROM registry.usage WHERE date_trunc('minute', minute) <> minute`); rows != 0 {
		t.Errorf("%d usage rows not at the start of a minute", rows)
	}
}

func TestGetEventStats(t *testing.T) {
	store, _ := registeredStore(t)
	svc, admin := registry.New(store), registry.NewAdmin(store)
	report(t, admin,
		// Before the period: only in last seen.
		accepted(at.Add(-5*time.Hour), "android", 2001, 1, 1000),
		// Hour 11:00-12:00.
		accepted(at.Add(-170*time.Minute), "ios", 2001, 2, 100),
		accepted(at.Add(-130*time.Minute), "web", 2001, 2, 20),
		rejected(at.Add(-125*time.Minute), "ios", 2001, 2, "REJECT_REASON_MISSING_REQUIRED_FIELD", 5),
		// Hour 12:00-13:00 is empty; hour 13:00-14:00.
		accepted(at.Add(-10*time.Minute), "ios", 2001, 2, 60),
		rejected(at.Add(-time.Minute), "ios", 2001, 2, "REJECT_REASON_WRONG_TYPE", 15),
		// At the end of the period, which is open: only in last seen.
		accepted(at, "web", 2001, 2, 500),
		// Another event.
		accepted(at.Add(-10*time.Minute), "ios", 1001, 2, 777),
	)
	// 13:00 of a newer app version of ios.
	c := accepted(at.Add(-20*time.Minute), "ios", 2001, 2, 0)
	c.AppVersion, c.Count = "1.1", 3
	report(t, admin, c)

	resp, err := svc.GetEventStats(t.Context(), &registryv1.GetEventStatsRequest{
		EventId: 2001, From: timestamppb.New(at.Add(-3 * time.Hour)), To: timestamppb.New(at),
	})
	if err != nil {
		t.Fatal(err)
	}
	var series []string
	for _, p := range resp.GetSeries() {
		series = append(series, p.GetStart().AsTime().Format("15:04")+" "+itoa(p.GetAccepted())+"/"+itoa(p.GetRejected()))
	}
	if got, want := strings.Join(series, ", "), "11:00 120/5, 12:00 0/0, 13:00 63/15"; got != want {
		t.Errorf("series = %s, want %s", got, want)
	}
	if resp.GetAccepted() != 183 || resp.GetRejected() != 20 {
		t.Errorf("totals = %d accepted, %d rejected; want 183, 20", resp.GetAccepted(), resp.GetRejected())
	}
	if want := 20.0 / 203; resp.GetRejectionRate() != want {
		t.Errorf("rejection rate = %v, want %v", resp.GetRejectionRate(), want)
	}
	reasons := resp.GetRejectionsByReason()
	if len(reasons) != 2 || reasons["REJECT_REASON_MISSING_REQUIRED_FIELD"] != 5 || reasons["REJECT_REASON_WRONG_TYPE"] != 15 {
		t.Errorf("rejections by reason = %v", reasons)
	}
	var seen []string
	for _, l := range resp.GetLastSeen() {
		seen = append(seen, l.GetEnvironment()+" "+l.GetAppVersion()+" v"+itoa(int64(l.GetVersion()))+" "+l.GetAt().AsTime().Format("15:04"))
	}
	if got, want := strings.Join(seen, ", "), "web 1.0 v2 14:00, ios 1.0 v2 13:59, ios 1.1 v2 13:40, android 1.0 v1 09:00"; got != want {
		t.Errorf("last seen = %s\nwant        %s", got, want)
	}

	// Narrowed to a version and an environment, in 30-minute buckets.
	resp, err = svc.GetEventStats(t.Context(), &registryv1.GetEventStatsRequest{
		EventId: 2001, Version: 2, Environment: "web", BucketMinutes: 30,
		From: timestamppb.New(at.Add(-3 * time.Hour)), To: timestamppb.New(at.Add(time.Minute)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetSeries()) != 7 || resp.GetAccepted() != 520 || resp.GetRejected() != 0 || resp.GetRejectionRate() != 0 ||
		len(resp.GetLastSeen()) != 1 || len(resp.GetRejectionsByReason()) != 0 {
		t.Errorf("web v2 stats = %v", resp)
	}
	if s := resp.GetSeries(); len(s) == 7 && (s[1].GetAccepted() != 20 || s[6].GetAccepted() != 500 || !s[6].GetStart().AsTime().Equal(at)) {
		t.Errorf("web v2 series = %v", s)
	}

	// The default period is the last 24 hours.
	report(t, admin, accepted(time.Now().Add(-time.Hour), "web", 2002, 1, 9))
	resp, err = svc.GetEventStats(t.Context(), &registryv1.GetEventStatsRequest{EventId: 2002})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccepted() != 9 || len(resp.GetSeries()) < 24 || len(resp.GetSeries()) > 25 {
		t.Errorf("default stats: %d accepted in %d points, want 9 in 24 or 25 hourly points", resp.GetAccepted(), len(resp.GetSeries()))
	}

	errs := []struct {
		req  *registryv1.GetEventStatsRequest
		code connect.Code
		want string
	}{
		{&registryv1.GetEventStatsRequest{EventId: 4242}, connect.CodeNotFound, "event 4242 is not registered"},
		{&registryv1.GetEventStatsRequest{EventId: 2001, Version: 9}, connect.CodeNotFound, "event 2001 has no version 9"},
		{&registryv1.GetEventStatsRequest{}, connect.CodeInvalidArgument, "event_id is required"},
		{&registryv1.GetEventStatsRequest{EventId: 2001, BucketMinutes: -5}, connect.CodeInvalidArgument, "bucket_minutes"},
		{&registryv1.GetEventStatsRequest{EventId: 2001, BucketMinutes: 1, From: timestamppb.New(at.AddDate(-1, 0, 0)), To: timestamppb.New(at)},
			connect.CodeInvalidArgument, "use wider buckets"},
		{&registryv1.GetEventStatsRequest{EventId: 2001, From: timestamppb.New(at), To: timestamppb.New(at)}, connect.CodeInvalidArgument, "must be before"},
	}
	for _, tt := range errs {
		_, err := svc.GetEventStats(t.Context(), tt.req)
		if connect.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("GetEventStats(%v): %v (%v), want %v saying %q", tt.req, err, connect.CodeOf(err), tt.code, tt.want)
		}
	}
}

func TestListUnused(t *testing.T) {
	store, pool := registeredStore(t)
	svc, admin := registry.New(store), registry.NewAdmin(store)
	now := time.Now().UTC()
	longAgo := now.AddDate(0, 0, -40).Truncate(time.Minute)
	report(t, admin,
		accepted(now.Add(-2*time.Hour), "web", 1001, 1, 10),     // recent traffic
		accepted(longAgo, "web", 1001, 2, 10),                   // seen, but not lately
		rejected(now.AddDate(0, 0, -3), "web", 1002, 1, "", 1),  // rejected traffic is traffic
		accepted(now.AddDate(0, 0, -10), "android", 1003, 1, 4), // recent for 30 days, not for 7
	)
	// Deprecated versions are not candidates: they are on their way already.
	if _, err := pool.Exec(t.Context(), `UPDATE registry.event_versions SET status = 'deprecated' WHERE event_id = 2001 AND version = 1`); err != nil {
		t.Fatal(err)
	}

	listed := func(days int32) map[string]*registryv1.UnusedVersion {
		t.Helper()
		resp, err := svc.ListUnused(t.Context(), &registryv1.ListUnusedRequest{Days: days})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*registryv1.UnusedVersion{}
		for _, u := range resp.GetVersions() {
			out[strings.TrimPrefix(u.GetVersion().GetMessageName(), "clickstream.events.v1.")] = u
		}
		return out
	}
	unused := listed(0)
	for _, name := range []string{"ItemViewV1", "SearchQueryV1", "MessengerMessageSentV1", "PhotoStatusChangedV1"} {
		if _, ok := unused[name]; ok {
			t.Errorf("%s is listed as unused for 30 days", name)
		}
	}
	if u, ok := unused["ItemViewV2"]; !ok || !u.GetLastSeen().AsTime().Equal(longAgo) || u.GetVersion().GetEventId() != 1001 || u.GetVersion().GetVersion() != 2 {
		t.Errorf("ItemViewV2, last seen 40 days ago: %v, want listed with last_seen %v", u, longAgo)
	}
	if u, ok := unused["PaymentV1"]; !ok || u.GetLastSeen() != nil {
		t.Errorf("PaymentV1, never seen: %v, want listed without last_seen", u)
	}
	if want := len(catalogueLock(t).Entries) - 4; len(unused) != want {
		t.Errorf("%d unused versions, want %d", len(unused), want)
	}
	if _, ok := listed(7)["MessengerMessageSentV1"]; !ok {
		t.Errorf("MessengerMessageSentV1, last sent 10 days ago, is not unused for 7 days")
	}
	if _, err := svc.ListUnused(t.Context(), &registryv1.ListUnusedRequest{Days: -1}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("ListUnused(-1): %v, want InvalidArgument", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestReportUsageConcurrent sends overlapping reports at once, each in its
// own order: none may fail (no deadlock, no lost update) and every count
// adds up.
func TestReportUsageConcurrent(t *testing.T) {
	store, pool := registeredStore(t)
	admin := registry.NewAdmin(store)
	const reporters, minutes = 8, 60
	errs := make(chan error, reporters)
	for r := range reporters {
		go func() {
			counts := make([]*registryv1.UsageCount, 0, minutes)
			for m := range minutes {
				// Reporter r walks the minutes from its own starting point.
				minute := at.Add(time.Duration((m+r*7)%minutes) * time.Minute)
				counts = append(counts, accepted(minute, "web", 1001, 2, int64(r+1)))
			}
			_, err := admin.ReportUsage(t.Context(), &registryv1.ReportUsageRequest{Counts: counts})
			errs <- err
		}()
	}
	for range reporters {
		if err := <-errs; err != nil {
			t.Errorf("ReportUsage: %v", err)
		}
	}
	want := minutes * reporters * (reporters + 1) / 2
	if got := count(t, pool, `SELECT sum(count) FROM registry.usage`); got != want {
		t.Errorf("sum of counts = %d, want %d", got, want)
	}
	if got := count(t, pool, `SELECT count(*) FROM registry.usage`); got != minutes {
		t.Errorf("%d usage rows, want %d", got, minutes)
	}
}

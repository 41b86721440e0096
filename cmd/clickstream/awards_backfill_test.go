package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	"github.com/clickstream-dev/clickstream/platform"
)

const backfillToken = "backfill-test-token"

// fakeBackfills is an awards admin API serving StartBackfill and
// GetBackfill: each GetBackfill answers the next scripted state.
type fakeBackfills struct {
	awardsv1connect.UnimplementedAwardsAdminServiceHandler
	mu      sync.Mutex
	start   *awardsv1.StartBackfillRequest
	script  []*awardsv1.Backfill
	gets    int
	refuse  error
	started *awardsv1.Backfill
}

func (f *fakeBackfills) StartBackfill(_ context.Context, req *awardsv1.StartBackfillRequest) (*awardsv1.StartBackfillResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	f.start = req
	f.started = &awardsv1.Backfill{Id: 7, AchievementId: req.GetAchievementId(), From: req.GetFrom(), State: "running",
		Notify: req.GetNotify(), Actor: req.GetActor(), StartedAt: timestamppb.Now()}
	return &awardsv1.StartBackfillResponse{Backfill: f.started}, nil
}

func (f *fakeBackfills) GetBackfill(_ context.Context, req *awardsv1.GetBackfillRequest) (*awardsv1.GetBackfillResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetId() != 7 {
		return nil, connect.NewError(connect.CodeNotFound, nil)
	}
	step := f.script[min(f.gets, len(f.script)-1)]
	f.gets++
	b := proto.Clone(f.started).(*awardsv1.Backfill)
	b.State, b.Total, b.Done, b.Skipped, b.Error = step.GetState(), step.GetTotal(), step.GetDone(), step.GetSkipped(), step.GetError()
	return &awardsv1.GetBackfillResponse{Backfill: b}, nil
}

// serveBackfills serves f behind the admin token and returns its URL.
func serveBackfills(t *testing.T, f *fakeBackfills) string {
	t.Helper()
	path, handler := awardsv1connect.NewAwardsAdminServiceHandler(f)
	mux := http.NewServeMux()
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+backfillToken {
			http.Error(w, `{"code":"unauthenticated","message":"the admin API needs the admin token"}`, http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// runBackfillCLI runs `clickstream awards backfill` with args.
func runBackfillCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"awards", "backfill", "--interval", "5ms"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func running(total, done, skipped uint64) *awardsv1.Backfill {
	return &awardsv1.Backfill{State: "running", Total: total, Done: done, Skipped: skipped}
}

func TestAwardsBackfillCommand(t *testing.T) {
	t.Setenv("CLICKSTREAM_ADMIN_TOKEN", "")
	f := &fakeBackfills{script: []*awardsv1.Backfill{
		running(0, 0, 0), running(10, 4, 1), running(10, 4, 1), running(10, 8, 2),
		{State: "done", Total: 10, Done: 10, Skipped: 3},
	}}
	url := serveBackfills(t, f)

	out, err := runBackfillCLI(t, "--awards", url, "--admin-token", backfillToken, "--progress", "lines",
		"--from", "2026-11-01T00:00:00Z", "--achievement", "shutterbug", "--actor", "ops")
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, out)
	}
	want := `Backfill 7 started: achievement shutterbug, events from 2026-11-01T00:00:00Z, notifications of its grants suppressed.
backfill 7 running: 0 events, 0 skipped
backfill 7 running: 4 of 10 events (40%), 1 skipped
backfill 7 running: 8 of 10 events (80%), 2 skipped
backfill 7 done: 10 of 10 events (100%), 3 skipped
Backfill 7 done: 10 of 10 events replayed, 3 skipped (already applied).
`
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if got := f.start; got.GetAchievementId() != "shutterbug" || got.GetNotify() || got.GetActor() != "ops" ||
		!got.GetFrom().AsTime().Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("StartBackfill got %v", got)
	}

	// A bar when asked (what a terminal gets), every achievement, notify.
	f.gets = 0
	out, err = runBackfillCLI(t, "--awards", url, "--admin-token", backfillToken, "--progress", "bar", "--from", "2026-11-01", "--notify")
	if err != nil {
		t.Fatalf("backfill with a bar: %v\n%s", err, out)
	}
	for _, w := range []string{"every running achievement", "notifications of its grants delivered", "backfill 7", "100%", "10/10", "Backfill 7 done"} {
		if !strings.Contains(out, w) {
			t.Errorf("bar output lacks %q:\n%q", w, out)
		}
	}
	if !f.start.GetNotify() || f.start.GetAchievementId() != "" || f.start.GetActor() == "" {
		t.Errorf("StartBackfill got %v, want notify for every achievement, by the login name", f.start)
	}
}

func TestAwardsBackfillCommandFails(t *testing.T) {
	t.Setenv("CLICKSTREAM_ADMIN_TOKEN", "")
	f := &fakeBackfills{script: []*awardsv1.Backfill{
		running(10, 5, 0), {State: "failed", Total: 10, Done: 5, Error: "apply 5 events: the database is gone"},
	}}
	url := serveBackfills(t, f)
	out, err := runBackfillCLI(t, "--awards", url, "--admin-token", backfillToken, "--from", "2026-11-01T00:00:00Z")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "backfill 7 failed after 5 of 10 events") ||
		!strings.Contains(err.Error(), "the database is gone") {
		t.Errorf("a failed backfill: %v (exit %d), want exit 1 naming the backfill and the reason\n%s", err, exitCode(err), out)
	}

	tests := []struct {
		name string
		args []string
		want string
		code int
	}{
		{"no --from", []string{"--admin-token", backfillToken}, "--from is required", 2},
		{"bad --from", []string{"--admin-token", backfillToken, "--from", "yesterday"}, `--from "yesterday"`, 2},
		{"bad --progress", []string{"--admin-token", backfillToken, "--from", "2026-11-01", "--progress", "dots"}, "use auto, bar or lines", 2},
		{"no token", []string{"--from", "2026-11-01"}, "admin token", 1},
		{"refused", []string{"--admin-token", backfillToken, "--from", "2026-11-01", "--achievement", "nope"}, `start the backfill: no achievement "nope"`, 1},
	}
	f.refuse = nil
	for _, tt := range tests {
		if tt.name == "refused" {
			f.mu.Lock()
			f.refuse = connect.NewError(connect.CodeInvalidArgument, errString(`no achievement "nope"; save it first`))
			f.mu.Unlock()
		}
		_, err := runBackfillCLI(t, append([]string{"--awards", url}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || exitCode(err) != tt.code {
			t.Errorf("%s: %v, want exit %d saying %q", tt.name, err, tt.code, tt.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestAwardsBackfillOnThePlatform: trips sent through ingest before any
// achievement exists count for navigator-10km once `awards backfill` ran
// against the real awards service; running it again skips every event.
func TestAwardsBackfillOnThePlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	s := startPlatform(t)
	from := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	var lines strings.Builder
	for i, metres := range []int{4000, 5000, 3000} {
		fmt.Fprintf(&lines, `{"eventId":2004,"version":1,"data":{"context":{"userId":"u-bf"},"tripId":"bf-%d","distanceM":"%d"},"idempotencyKey":"bf-trip-%d"}`+"\n", i, metres, i)
	}
	if _, errOut, err := runCLIIn(t, lines.String(), "send", "--ingest", s.URL(platform.Ingest), "--api-key", s.IngestKey()); err != nil {
		t.Fatalf("send: %v\n%s", err, errOut)
	}
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, err := runCLI(t, append(append([]string{"awards"}, args...), "--awards", s.URL(platform.Awards), "--admin-token", awardsTestToken)...)
		if err != nil {
			t.Fatalf("clickstream awards %v: %v\n%s\n%s", args, err, out, errOut)
		}
		return out
	}
	// The achievement comes after the trips: its live consumer starts with
	// the events published from now on.
	cli("apply", "-f", "../../services/awards/starter_achievements.yaml", "--actor", "ci")

	out := cli("backfill", "--from", from, "--achievement", "navigator-10km", "--interval", "20ms", "--actor", "ci")
	if !strings.Contains(out, "Backfill 1 started: achievement navigator-10km") || !strings.Contains(out, "Backfill 1 done: 3 of 3 events replayed, 0 skipped") {
		t.Errorf("first backfill:\n%s", out)
	}
	// The achievements worker grants it within its interval.
	var explain string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		explain = cli("explain", "--user", "u-bf", "--achievement", "navigator-10km")
		if strings.Contains(explain, "10 of 10, completed") || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{"10 of 10, completed", "objective navi = 12", "(event bf-trip-0)", "(event bf-trip-1)", "(event bf-trip-2)"} {
		if !strings.Contains(explain, want) {
			t.Errorf("explain after the backfill lacks %q:\n%s", want, explain)
		}
	}
	out = cli("backfill", "--from", from, "--achievement", "navigator-10km", "--interval", "20ms", "--actor", "ci")
	if !strings.Contains(out, "Backfill 2 done: 3 of 3 events replayed, 3 skipped") {
		t.Errorf("second backfill:\n%s", out)
	}
	if again := cli("explain", "--user", "u-bf", "--achievement", "navigator-10km"); again != explain {
		t.Errorf("the second backfill changed the explanation:\n%s\nwas:\n%s", again, explain)
	}
}

package faults_test

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// TestSIGKILLLosesNothing sends 20,000 events with unique keys through
// `clickstream dev`, SIGKILLs the process twice mid-load and restarts it on
// the same data; every event ends on EVENTS or in DEADLETTER exactly once.
// Then awards, whose navigation source was paused meanwhile, is SIGKILLed
// while it consumes those events; after the restart its counters equal the
// sums a clean run computes and reconcile reports no drift.
func TestSIGKILLLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clickstream dev as a child process several times")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	d, apiKey, awards := startDev(t)

	// Awards counts nothing while ingest is under fire: its kill comes
	// later, during consumption.
	if _, err := awards.admin.PauseSource(ctx, &awardsv1.PauseSourceRequest{Source: "navigation", Actor: "faults test"}); err != nil {
		t.Fatalf("pause the navigation source: %v", err)
	}

	w := harness.Workload{N: 20000, Users: 41, UserPrefix: "fault-user", Prefix: "sigkill", InvalidPercent: 10}
	const batch, workers = 100, 4
	killAt := []int64{5000, 12000}
	v := harness.NewSender(apiKey, harness.UntilAnswered(), d.IngestURL())
	killed := make(chan error, 1)
	go func() {
		killed <- func() error {
			for _, at := range killAt {
				for v.Answered.Load() < at {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					time.Sleep(time.Millisecond)
				}
				if err := d.Kill(); err != nil {
					return err
				}
				t.Logf("SIGKILL after %d answered events (%d batches sent so far)", v.Answered.Load(), v.Attempts.Load())
				if err := d.TryStart(); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	if err := v.SendAll(ctx, w, batch, workers); err != nil {
		t.Fatalf("a batch was never answered: %v", err)
	}
	if err := <-killed; err != nil {
		t.Fatalf("kill and restart: %v", err)
	}

	accepted, duplicate, rejected := v.Count()
	t.Logf("sent %d events in %d batch attempts (%d retries): %d ACCEPTED, %d DUPLICATE (accepted before a kill, answered after), %d REJECTED",
		w.N, v.Attempts.Load(), v.Retries.Load(), accepted, duplicate, rejected)
	if v.Retries.Load() == 0 {
		t.Errorf("no batch was retried: the kills did not hit the load")
	}
	if got := accepted + duplicate + rejected; got != w.N {
		t.Errorf("%d events have a verdict, want %d", got, w.N)
	}

	events := harness.StreamKeys(ctx, t, d.NATSURL(), "EVENTS", "")
	dead := harness.StreamKeys(ctx, t, d.NATSURL(), "DEADLETTER", "dl-")
	onEvents, onDead := harness.Total(events), harness.Total(dead)
	t.Logf("EVENTS holds %d messages (%d keys), DEADLETTER %d (%d keys): %d in all, %d sent", onEvents, len(events), onDead, len(dead), onEvents+onDead, w.N)
	if onEvents+onDead != w.N {
		t.Errorf("EVENTS + DEADLETTER = %d, want %d", onEvents+onDead, w.N)
	}
	harness.CheckOnce(t, "EVENTS", events)
	harness.CheckOnce(t, "DEADLETTER", dead)
	var lost []string
	for i := range w.N {
		key := w.Key(i)
		status := v.Status(key)
		switch {
		case w.Valid(i) && (events[key] != 1 || dead[key] != 0):
			lost = append(lost, fmt.Sprintf("%s (valid, %s): %d on EVENTS, %d in DEADLETTER", key, status, events[key], dead[key]))
		case !w.Valid(i) && (dead[key] != 1 || events[key] != 0):
			lost = append(lost, fmt.Sprintf("%s (invalid, %s): %d on EVENTS, %d in DEADLETTER", key, status, events[key], dead[key]))
		case w.Valid(i) == (status == ingestv1.EventStatus_EVENT_STATUS_REJECTED):
			lost = append(lost, fmt.Sprintf("%s: answered %s", key, status))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d events not where they belong, e.g.:\n%s", len(lost), strings.Join(lost[:min(len(lost), 10)], "\n"))
	}

	// Awards: resume, kill while it consumes, restart, and compare.
	want := w.Distances()
	if _, err := awards.admin.ResumeSource(ctx, &awardsv1.ResumeSourceRequest{Source: "navigation", Actor: "faults test"}); err != nil {
		t.Fatalf("resume the navigation source: %v", err)
	}
	valid := uint64(accepted + duplicate)
	var pendingAtKill uint64
	for {
		pending, err := awards.navigationPending(ctx)
		if err != nil {
			t.Fatalf("pending navigation events: %v", err)
		}
		if pending < valid-valid/10 {
			pendingAtKill = pending
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILL while awards consumed: %d of %d navigation events were still pending", pendingAtKill, valid)
	if pendingAtKill == 0 {
		t.Errorf("awards had applied everything before the kill; the test did not hit consumption")
	}
	d.Start()
	sums := awards.waitApplied(ctx, t, want)
	_, progress, err := awards.navigationSums(ctx, sortedUsers(want))
	if err != nil {
		t.Fatal(err)
	}
	for u, sum := range sums {
		// navigator-10km: a point per kilometre, up to 10.
		if wantProgress := math.Min(sum*0.001, 10); math.Abs(progress[u]-wantProgress) > 1e-9 {
			t.Errorf("%s: navigator-10km progress %v, want %v from %v m", u, progress[u], wantProgress, sum)
		}
	}
	drifts, err := awards.admin.Reconcile(ctx, &awardsv1.ReconcileRequest{})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	t.Logf("after the restart: %d users' navigation counters equal a clean run's sums (%v m for %s); reconcile reports %d drifts",
		len(sums), sums[sortedUsers(want)[0]], sortedUsers(want)[0], len(drifts.GetDrifts()))
	for _, dr := range drifts.GetDrifts() {
		t.Errorf("drift: %s %s/%s stored %v, recomputed %v", dr.GetUserId(), dr.GetAchievementId(), dr.GetObjectiveKey(), dr.GetStored(), dr.GetRecomputed())
	}
}

func sortedUsers(m map[string]float64) []string {
	users := make([]string, 0, len(m))
	for u := range m {
		users = append(users, u)
	}
	sort.Strings(users)
	return users
}

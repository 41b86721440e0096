package awards_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"

	"github.com/clickstream-dev/clickstream/services/awards"
)

// lockedBuffer is a log destination safe for the engine's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// driftMetric reads clickstream_awards_drift_total per level from reg.
func driftMetric(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "clickstream_awards_drift_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "level" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// TestAuditCountsDriftNotLag: the audit counts a planted drift in
// clickstream_awards_drift_total and logs it as an error, and does not
// count a user caught between an objective's commit and the cycle that
// folds it.
func TestAuditCountsDriftNotLag(t *testing.T) {
	var logs lockedBuffer
	store, pool := newStore(t)
	e := awards.NewEngine(awards.EngineConfig{Store: store, Schemas: schemas, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, err := e.ApplyFile(t.Context(), awards.StarterAchievements(), "test"); err != nil {
		t.Fatal(err)
	}
	env := &engineEnv{engine: e, worker: awards.NewAchievementsWorker(e, awards.AchievementsWorkerConfig{}), store: store, pool: pool}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Metrics().Collectors()...)
	audit := awards.NewAudit(e, awards.AuditConfig{Interval: time.Hour, Sample: 1})
	round := func() awards.AuditRound {
		t.Helper()
		r, err := audit.Round(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	zero := map[string]float64{"counters": 0, "objective_progress": 0, "achievement_progress": 0, "completion": 0}
	wantMetric := func(want map[string]float64) {
		t.Helper()
		got := driftMetric(t, reg)
		for l, v := range want {
			if got[l] != v {
				t.Errorf("clickstream_awards_drift_total{level=%q} = %v, want %v (all: %v)", l, got[l], v, got)
			}
		}
	}
	wantMetric(zero) // every level is exported from the start

	env.apply(t, photoRecord("u1", "p1", active), photoRecord("u2", "p2", active))

	// Lag: u1's objectives commit, the cycle has not run. The user
	// achievements are behind their objectives (the state the audit must
	// not count).
	if _, err := e.ApplyBatch(t.Context(), photoOf("u1", "p3")); err != nil {
		t.Fatal(err)
	}
	env.wantAchievement(t, "u1", "photos-and-reviews", 1, false) // the objective says 2
	r := round()                                                 // sample 1: u1
	t.Logf("lag round: %d users, found %+v, %d pending", r.Users, r.Found, r.Pending)
	if r.Users != 1 || r.Found.Total() != 0 || r.Pending == 0 {
		t.Errorf("lag round: %+v, want u1's achievements pending and no drift", r)
	}
	wantMetric(zero)
	env.cycle(t)
	r = round() // u2
	if r.Found.Total() != 0 || r.Pending != 0 {
		t.Errorf("round over u2: %+v", r)
	}

	// A planted drift on u2: the next rounds visit u1 (none), then u2.
	exec(t, env, `UPDATE awards.user_achievements SET progress = 0.25 WHERE user_id = 'u2' AND achievement_id = 'local-guide'`)
	if r := round(); r.Found.Total() != 0 {
		t.Errorf("round over u1: %+v", r)
	}
	r = round()
	t.Logf("drift round: %d users, found %+v", r.Users, r.Found)
	if r.Found != (awards.DriftCounts{AchievementProgress: 1}) {
		t.Errorf("drift round found %+v, want the planted achievement progress", r.Found)
	}
	wantMetric(map[string]float64{"counters": 0, "objective_progress": 0, "achievement_progress": 1, "completion": 0})
	out := logs.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, `msg="awards drift" worker=audit drift=achievement_progress user=u2 achievement=local-guide stored=0.25 expected=1`) {
		t.Errorf("the drift is not logged as an error with its fields:\n%s", out)
	}
	// The audit reports, it does not repair.
	env.wantAchievement(t, "u2", "local-guide", 0.25, false)
}

// photoOf is an active photo of user.
func photoOf(user, photo string) []*busv1.EventRecord {
	return []*busv1.EventRecord{photoRecord(user, photo, active)}
}

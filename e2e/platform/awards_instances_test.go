package platform_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// awardsWorkload is what TestAwardsOnSeveralInstances sends: photo status
// changes going forward and back and navigator trips of users, each event
// a millisecond after the previous one (so every order of delivery ends in
// the same state), with what the rules must make of them.
type awardsWorkload struct {
	events []*ingestv1.Event
	photos int // photo status changes; the others are trips
	// activePhotos and metres are, by user, the photos whose last status
	// is active and the metres driven: the photo and navi objectives'
	// progress.
	activePhotos map[string]int
	metres       map[string]int64
}

func newAwardsWorkload(t *testing.T, users, n int) awardsWorkload {
	t.Helper()
	r := rand.New(rand.NewPCG(16, 2))
	statuses := []eventsv1.ContentStatus{eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE, eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE,
		eventsv1.ContentStatus_CONTENT_STATUS_BLOCKED, eventsv1.ContentStatus_CONTENT_STATUS_DELETED}
	w := awardsWorkload{activePhotos: map[string]int{}, metres: map[string]int64{}}
	last := map[[2]string]eventsv1.ContentStatus{}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range n {
		user := fmt.Sprintf("inst-u%02d", r.IntN(users))
		ctx := &eventsv1.Context{UserId: user, OccurredAt: timestamppb.New(start.Add(time.Duration(i) * time.Millisecond))}
		key := fmt.Sprintf("inst-%05d", i)
		if r.IntN(5) < 3 {
			photo := "p" + strconv.Itoa(r.IntN(6))
			status := statuses[r.IntN(len(statuses))]
			last[[2]string{user, photo}] = status
			w.photos++
			w.events = append(w.events, harness.TypedEvent(key, &eventsv1.PhotoStatusChangedV1{Context: ctx, PhotoId: user + "-" + photo, ObjectId: "place-" + photo, Status: status}))
			continue
		}
		metres := int64(r.IntN(2_000))
		w.metres[user] += metres
		w.events = append(w.events, harness.TypedEvent(key, &eventsv1.NavigationTripFinishedV1{Context: ctx, TripId: key, DistanceM: metres}))
	}
	for k, status := range last {
		if status == eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE {
			w.activePhotos[k[0]]++
		}
	}
	return w
}

// quietLog keeps the stacks' request logs out of the test's output.
var quietLog = slog.New(slog.DiscardHandler)

// The starter objectives the workload feeds: three count photos, two sum
// trips.
const (
	photoObjectives = 3
	tripObjectives  = 2
)

// pairs is how many (event, objective) pairs the workload makes: the
// processing log rows it leaves.
func (w awardsWorkload) pairs() int {
	return photoObjectives*w.photos + tripObjectives*(len(w.events)-w.photos)
}

// send sends the workload through ingest in batches of 250.
func (w awardsWorkload) send(t *testing.T, url, key string) {
	t.Helper()
	client := ingestClient(url, key)
	for i := 0; i < len(w.events); i += 250 {
		batch := w.events[i:min(i+250, len(w.events))]
		resp, err := client.SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: batch})
		if err != nil {
			t.Fatalf("send events %d-%d: %v", i, i+len(batch), err)
		}
		if int(resp.GetAccepted()) != len(batch) {
			t.Fatalf("ingest accepted %d of %d: %v", resp.GetAccepted(), len(batch), resp.GetResults()[0])
		}
	}
}

// adminClient is the awards admin API of the awards at url.
func adminClient(url string) awardsv1connect.AwardsAdminServiceClient {
	return awardsv1connect.NewAwardsAdminServiceClient(harness.BearerClient(testAdminToken), url)
}

// waitSettled waits until the awards at url have applied every event on
// the bus (no source has events pending) and the achievements worker has
// recomputed every changed user objective.
func waitSettled(t *testing.T, url string, db *pgxpool.Pool, pairs int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := adminClient(url).ListSources(context.Background(), &awardsv1.ListSourcesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		pending := uint64(0)
		for _, s := range resp.GetSources() {
			pending += s.GetPending()
		}
		var logged int
		var caughtUp bool
		err = db.QueryRow(context.Background(), `
			SELECT (SELECT count(*) FROM awards.processing_log),
			       coalesce((SELECT position FROM awards.worker_cursors WHERE name = 'achievements'), 0)
			         >= (SELECT coalesce(max(version), 0) FROM awards.user_objectives)`).Scan(&logged, &caughtUp)
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 && logged >= pairs && caughtUp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %d events pending, %d of %d (event, objective) pairs logged, achievements caught up %v", pending, logged, pairs, caughtUp)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awardsState is every user objective's counters and progress and every
// user achievement's progress and completion, one line each, sorted. The
// completion of a sticky achievement below its goal is left out: whether
// it was granted depends on whether an achievements cycle saw the progress
// at the goal on its way up and down, which timing decides, with one
// instance as with two.
func awardsState(t *testing.T, db *pgxpool.Pool) string {
	t.Helper()
	var out string
	err := db.QueryRow(context.Background(), `
		SELECT coalesce(string_agg(line, E'\n' ORDER BY line), '') FROM (
			SELECT 'objective ' || uo.user_id || ' ' || o.achievement_id || '/' || o.key || ' ' || uo.counters::text || ' ' || uo.progress AS line
			FROM awards.user_objectives uo JOIN awards.objectives o ON o.id = uo.objective_id
			UNION ALL
			SELECT 'achievement ' || ua.user_id || ' ' || ua.achievement_id || ' ' || round(ua.progress::numeric, 6) || ' ' ||
			       CASE WHEN a.policy = 'revocable' OR ua.progress >= ua.goal THEN (ua.completed_at IS NOT NULL)::text ELSE 'sticky' END
			FROM awards.user_achievements ua JOIN awards.achievements a ON a.id = ua.achievement_id) s`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// appliedMetric is the awards at url's count of (event, objective) pairs
// it applied, from its metrics.
func appliedMetric(t *testing.T, url string) int {
	t.Helper()
	v, _, err := harness.Metric(context.Background(), url, `clickstream_awards_events_total{outcome="applied"}`)
	if err != nil {
		t.Fatal(err)
	}
	return int(v)
}

func openDB(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// TestAwardsOnSeveralInstances: two awards instances (`clickstream serve
// awards` against the NATS and PostgreSQL of a stack running registry and
// ingest) share the durable consumers and split the work. The result is
// what one instance makes of the same workload: the same counters and
// achievements, each (event, objective) pair applied once, no drift from
// the ledger.
func TestAwardsOnSeveralInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three stacks and a fourth to compare with")
	}
	const users, events = 50, 5_000
	w := newAwardsWorkload(t, users, events)

	// One instance, on a stack of its own: what the workload must make.
	singleCfg := harness.DevConfig(harness.DataDir(t), testAdminToken, testPIISecret)
	singleCfg.Logger = quietLog
	single := harness.StartStack(t, singleCfg)
	singleDB, err := postgres.Open(context.Background(), single.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	waitConsumers(t, single.Bus(), 1)
	start := time.Now()
	w.send(t, single.URL(platform.Ingest), single.IngestKey())
	waitSettled(t, single.URL(platform.Awards), singleDB, w.pairs())
	t.Logf("one instance: %d events, %d (event, objective) pairs applied in %s", events, appliedMetric(t, single.URL(platform.Awards)), time.Since(start).Round(time.Millisecond))
	want := awardsState(t, singleDB)
	singleDB.Close()
	single.Shutdown()

	// Registry and ingest with NATS listening; two awards-only instances.
	first := harness.StartStack(t, platform.Config{
		DataDir:    harness.DataDir(t),
		NATSListen: "127.0.0.1:0",
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0", platform.Ingest: "127.0.0.1:0"},
		Services:   []string{platform.Registry, platform.Ingest},
		AdminToken: testAdminToken,
		Ingest:     ingest.Config{PIISecret: testPIISecret},
		Logger:     quietLog,
	})
	// Started at once, as an operator's deployment does: both apply the
	// starter achievements at the same moment (issue 16).
	instances := harness.StartAtOnce(t, 2, platform.Config{
		DataDir:     t.TempDir(),
		DatabaseURL: first.DatabaseURL(),
		NATSURL:     first.NATSURL(),
		RegistryURL: first.URL(platform.Registry),
		Services:    []string{platform.Awards},
		Addrs:       map[string]string{platform.Awards: "127.0.0.1:0"},
		Awards:      platform.AwardsConfig{Starter: true},
		AdminToken:  testAdminToken,
		Logger:      quietLog,
	})
	db := openDB(t, first.DatabaseURL())
	if n := harness.Scalar[int](t, db, `SELECT count(*) FROM awards.config_history`); n != harness.Scalar[int](t, db, `SELECT count(*) FROM awards.achievements`) {
		t.Errorf("%d configuration revisions of the starter achievements, want one each", n)
	}
	if n := harness.Scalar[int](t, db, `SELECT count(*) FROM awards.outbox WHERE kind = 'announced'`); n != harness.Scalar[int](t, db, `SELECT count(*) FROM awards.achievements`) {
		t.Errorf("%d announcements of the starter achievements, want one each", n)
	}
	waitConsumers(t, first.Bus(), len(instances))
	start = time.Now()
	w.send(t, first.URL(platform.Ingest), first.IngestKey())
	for _, in := range instances {
		waitSettled(t, in.URL(platform.Awards), db, w.pairs())
	}
	elapsed := time.Since(start)

	applied := make([]int, len(instances))
	total := 0
	for i, in := range instances {
		applied[i] = appliedMetric(t, in.URL(platform.Awards))
		total += applied[i]
	}
	t.Logf("two instances: %d events (%d photo status changes, %d trips) of %d users, %d (event, objective) pairs: instance 1 applied %d, instance 2 applied %d, in %s",
		events, w.photos, events-w.photos, users, w.pairs(), applied[0], applied[1], elapsed.Round(time.Millisecond))
	for i, n := range applied {
		if n == 0 {
			t.Errorf("instance %d applied nothing: the instances did not share the work", i+1)
		}
	}
	if total != w.pairs() {
		t.Errorf("the instances applied %d (event, objective) pairs between them, want %d", total, w.pairs())
	}

	ctx := context.Background()
	if n := harness.Scalar[int](t, db, `SELECT count(*) FROM awards.processing_log`); n != w.pairs() {
		t.Errorf("%d processing log rows, want %d", n, w.pairs())
	}
	if n := harness.Scalar[int](t, db, `SELECT count(*) FROM (SELECT 1 FROM awards.processing_log GROUP BY record_id, objective_id HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d (event, objective) pairs applied more than once", n)
	}
	if n := harness.Scalar[int](t, db, `SELECT count(DISTINCT record_id) FROM awards.processing_log`); n != events {
		t.Errorf("%d events in the processing log, want %d", n, events)
	}
	for i, in := range instances {
		resp, err := adminClient(in.URL(platform.Awards)).Reconcile(ctx, &awardsv1.ReconcileRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetDrifts()) != 0 {
			t.Errorf("instance %d: reconcile found %d drifts, e.g. %v", i+1, len(resp.GetDrifts()), resp.GetDrifts()[0])
		}
	}

	// Every photo and navi objective's progress is what the workload makes.
	for user := range w.metres {
		wantObjective(t, db, user, "navigator-10km", "navi", float64(w.metres[user]))
	}
	for user, active := range w.activePhotos {
		wantObjective(t, db, user, "photos-and-reviews", "photo", float64(active))
	}
	if n := harness.Scalar[int](t, db, `SELECT count(*) FROM awards.user_achievements WHERE progress >= goal AND completed_at IS NULL`); n != 0 {
		t.Errorf("%d user achievements at their goal are not granted", n)
	}
	got := awardsState(t, db)
	if got != want {
		gotLines, wantLines := strings.Split(got, "\n"), strings.Split(want, "\n")
		t.Errorf("two instances made %d lines of state, one instance %d; they differ", len(gotLines), len(wantLines))
		for i := range min(len(gotLines), len(wantLines)) {
			if gotLines[i] != wantLines[i] {
				t.Fatalf("first difference: two instances %q, one instance %q", gotLines[i], wantLines[i])
			}
		}
	}
	t.Logf("state compared: %d lines (user objectives and user achievements) equal to one instance's", strings.Count(got, "\n")+1)
}

// wantObjective checks a user objective's progress.
func wantObjective(t *testing.T, db *pgxpool.Pool, user, achievement, key string, want float64) {
	t.Helper()
	var got float64
	err := db.QueryRow(context.Background(), `
		SELECT coalesce(max(uo.progress), 0) FROM awards.user_objectives uo
		JOIN awards.objectives o ON o.id = uo.objective_id
		WHERE uo.user_id = $1 AND o.achievement_id = $2 AND o.key = $3`, user, achievement, key).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%s %s/%s progress %v, want %v", user, achievement, key, got, want)
	}
}

// waitConsumers waits until the awards consumers of the workload's sources
// exist (they start at events published from then on) and, as far as can
// be seen, instances workers pull from each.
func waitConsumers(t *testing.T, b *bus.Bus, instances int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, name := range []string{"awards-photostatuschanged", "awards-navigationtripfinished"} {
		for {
			c, err := b.JetStream().Consumer(context.Background(), bus.StreamEvents, name)
			var info *jetstream.ConsumerInfo
			if err == nil {
				info, err = c.Info(context.Background())
			}
			if err == nil && info.NumWaiting >= instances {
				break
			}
			if time.Now().After(deadline) {
				if err != nil {
					t.Fatalf("consumer %s: %v", name, err)
				}
				t.Logf("consumer %s: %d pull requests waiting, expected %d", name, info.NumWaiting, instances)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

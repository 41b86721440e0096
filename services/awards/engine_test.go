package awards_test

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// schemas are the event messages compiled into this binary, standing in for
// the registry's (the stack test fetches them from a running registry).
var schemas = awards.NewFileSchemas(protoregistry.GlobalFiles, 1)

// engineEnv is an engine on a fresh database with the starter achievements.
type engineEnv struct {
	engine *awards.Engine
	worker *awards.AchievementsWorker
	store  *awards.PostgresStore
	pool   *pgxpool.Pool
}

func newEngineEnv(t testing.TB) *engineEnv {
	t.Helper()
	store, pool := newStore(t)
	e := awards.NewEngine(awards.EngineConfig{Store: store, Schemas: schemas, Logger: quiet})
	if _, err := e.ApplyFile(t.Context(), awards.StarterAchievements(), "test"); err != nil {
		t.Fatal(err)
	}
	return &engineEnv{engine: e, worker: awards.NewAchievementsWorker(e, awards.AchievementsWorkerConfig{}), store: store, pool: pool}
}

// apply applies records as one batch and runs the achievements worker.
func (env *engineEnv) apply(t *testing.T, recs ...*busv1.EventRecord) awards.BatchResult {
	t.Helper()
	res, err := env.engine.ApplyBatch(t.Context(), recs)
	if err != nil {
		t.Fatal(err)
	}
	env.cycle(t)
	return res
}

// cycle runs the achievements worker until it has caught up.
func (env *engineEnv) cycle(t testing.TB) awards.CycleResult {
	t.Helper()
	var total awards.CycleResult
	for {
		res, err := env.worker.Cycle(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		total.Changed += res.Changed
		total.Recomputed += res.Recomputed
		total.Granted += res.Granted
		total.Revoked += res.Revoked
		total.Held += res.Held
		if res.Changed == 0 {
			return total
		}
	}
}

// achievement returns a user's progress in an achievement and whether it
// is completed (0, false when the user has no row).
func (env *engineEnv) achievement(t *testing.T, user, id string) (float64, bool) {
	t.Helper()
	var (
		progress  float64
		completed bool
	)
	err := env.pool.QueryRow(t.Context(), `
		SELECT coalesce(max(progress), 0), coalesce(bool_or(completed_at IS NOT NULL), false)
		FROM awards.user_achievements WHERE user_id = $1 AND achievement_id = $2`, user, id).Scan(&progress, &completed)
	if err != nil {
		t.Fatal(err)
	}
	return progress, completed
}

// wantAchievement fails unless the user's progress and completion are as given.
func (env *engineEnv) wantAchievement(t *testing.T, user, id string, progress float64, completed bool) {
	t.Helper()
	got, done := env.achievement(t, user, id)
	if math.Abs(got-progress) > 1e-9 || done != completed {
		t.Errorf("%s %s: progress %v completed %v, want %v completed %v", user, id, got, done, progress, completed)
	}
}

// outbox lists the outbox rows of users as "kind user achievement".
func (env *engineEnv) outbox(t *testing.T) []string {
	t.Helper()
	rows, err := env.pool.Query(t.Context(), `SELECT kind || ' ' || user_id || ' ' || achievement_id FROM awards.outbox WHERE kind <> 'announced' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

var recordSeq atomic.Int64

// baseTime is when test events happen; each record is a second later.
var baseTime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// record wraps a typed event in an EventRecord as ingest publishes it.
func record(user string, msg proto.Message) *busv1.EventRecord {
	n := recordSeq.Add(1)
	payload, err := proto.Marshal(msg)
	if err != nil {
		panic(err)
	}
	md := msg.ProtoReflect().Descriptor()
	return &busv1.EventRecord{
		Id:           fmt.Sprintf("rec-%06d", n),
		EventName:    string(md.FullName()),
		Environment:  "test",
		UserId:       user,
		OccurredAt:   timestamppb.New(baseTime.Add(time.Duration(n) * time.Second)),
		ReceivedAt:   timestamppb.New(baseTime.Add(time.Duration(n) * time.Second)),
		Payload:      payload,
		EventVersion: 1,
	}
}

func photoRecord(user, photoID string, status eventsv1.ContentStatus) *busv1.EventRecord {
	return record(user, &eventsv1.PhotoStatusChangedV2{PhotoId: photoID, ObjectId: "place-" + photoID, Status: status})
}

func reviewRecord(user, reviewID, objectID string, status eventsv1.ContentStatus, length int32) *busv1.EventRecord {
	return record(user, &eventsv1.ReviewStatusChangedV1{ReviewId: reviewID, ObjectId: objectID, Status: status, TextLength: length})
}

func tripRecord(user, tripID string, metres int64) *busv1.EventRecord {
	return record(user, &eventsv1.NavigationTripFinishedV1{TripId: tripID, DistanceM: metres})
}

func TestStrategyExampleFromEvents(t *testing.T) {
	env := newEngineEnv(t)
	env.apply(t,
		reviewRecord("u1", "r1", "theatre-1", active, 40),
		photoRecord("u1", "p1", active),
		photoRecord("u1", "p2", active),
		tripRecord("u1", "t1", 2500),
		tripRecord("u1", "t2", 1500),
	)
	// Inner group: 1 review + 2 photos = 3 (cap 5); navi 4,000 m × 0.001 = 4 (cap 10).
	env.wantAchievement(t, "u1", "local-guide", 7, false)
	// "3 reviews or 3 photos": 1 + 2 = 3 of 3.
	env.wantAchievement(t, "u1", "reviews-or-photos", 3, true)
	env.wantAchievement(t, "u1", "navigator-10km", 4, false)
	env.wantAchievement(t, "u1", "photos-and-reviews", 3, false)

	env.apply(t, tripRecord("u1", "t3", 6000))
	env.wantAchievement(t, "u1", "navigator-10km", 10, true)
	env.wantAchievement(t, "u1", "local-guide", 13, false)
	if got, want := fmt.Sprint(env.outbox(t)), "[granted u1 reviews-or-photos granted u1 navigator-10km]"; got != want {
		t.Errorf("outbox = %s, want %s", got, want)
	}
}

func TestPhotoStatusMovesProgressBothWays(t *testing.T) {
	env := newEngineEnv(t)
	// Two photos and two reviews already count for u1.
	env.apply(t,
		photoRecord("u1", "p0", active),
		reviewRecord("u1", "r1", "o1", active, 10),
		reviewRecord("u1", "r2", "o2", active, 10),
	)
	env.wantAchievement(t, "u1", "reviews-or-photos", 3, true)

	mod := photoRecord("u1", "p1", moderation)
	act := photoRecord("u1", "p1", active)
	env.apply(t, mod)
	env.wantAchievement(t, "u1", "photos-and-reviews", 3, false)
	env.apply(t, act)
	env.wantAchievement(t, "u1", "photos-and-reviews", 4, false)
	env.wantAchievement(t, "u1", "local-guide", 4, false)

	// Redelivering any event, or a second "active" for the photo, changes nothing.
	again := photoRecord("u1", "p1", active)
	res := env.apply(t, mod, act, again)
	if res.Duplicates != 2*countObjectives(env, "PhotoStatusChanged") {
		t.Errorf("duplicates = %d, want every (event, objective) pair of the two redelivered events", res.Duplicates)
	}
	env.wantAchievement(t, "u1", "photos-and-reviews", 4, false)
	env.wantAchievement(t, "u1", "local-guide", 4, false)

	// Make both achievements complete, then block photos: the revocable
	// one is revoked, the sticky one kept.
	env.apply(t, photoRecord("u1", "p2", active), photoRecord("u1", "p3", active),
		reviewRecord("u1", "r3", "o3", active, 10), reviewRecord("u1", "r4", "o4", active, 10), reviewRecord("u1", "r5", "o5", active, 10))
	env.wantAchievement(t, "u1", "photos-and-reviews", 9, false)
	env.apply(t, photoRecord("u1", "p4", active))
	env.wantAchievement(t, "u1", "photos-and-reviews", 10, true)

	blk := photoRecord("u1", "p1", blocked)
	env.apply(t, blk)
	env.wantAchievement(t, "u1", "photos-and-reviews", 9, false) // revocable: revoked
	env.wantAchievement(t, "u1", "reviews-or-photos", 3, true)   // sticky: kept
	env.apply(t, blk, photoRecord("u1", "p1", blocked))
	env.wantAchievement(t, "u1", "photos-and-reviews", 9, false)

	// An old "active" arriving after "blocked" does not resurrect it.
	env.apply(t, act)
	env.wantAchievement(t, "u1", "photos-and-reviews", 9, false)

	want := "[granted u1 reviews-or-photos granted u1 photos-and-reviews revoked u1 photos-and-reviews]"
	if got := fmt.Sprint(env.outbox(t)); got != want {
		t.Errorf("outbox = %s, want %s", got, want)
	}
	var counters string
	if err := env.pool.QueryRow(t.Context(), `
		SELECT uo.counters::text FROM awards.user_objectives uo JOIN awards.objectives o ON o.id = uo.objective_id
		WHERE uo.user_id = 'u1' AND o.achievement_id = 'photos-and-reviews' AND o.key = 'photo'`).Scan(&counters); err != nil {
		t.Fatal(err)
	}
	if counters != `{"active": 4, "blocked": 1}` {
		t.Errorf("photo counters = %s, want 4 active and 1 blocked", counters)
	}
}

// countObjectives counts the running objectives consuming subject.
func countObjectives(env *engineEnv, subject string) int {
	return len(env.engine.Snapshot().Objectives(subject))
}

func TestOneReviewPerPlaceLongerThan100(t *testing.T) {
	env := newEngineEnv(t)
	env.apply(t,
		reviewRecord("u1", "r1", "theatre-1", active, 240),
		reviewRecord("u1", "r2", "theatre-1", active, 300), // same place: counts once
		reviewRecord("u1", "r3", "theatre-2", active, 99),  // too short
		reviewRecord("u1", "r4", "theatre-3", active, 101),
	)
	env.wantAchievement(t, "u1", "thoughtful-reviewer", 2, false)

	var filtered string
	if err := env.pool.QueryRow(t.Context(), `
		SELECT l.filter FROM awards.processing_log l JOIN awards.objectives o ON o.id = l.objective_id
		WHERE o.achievement_id = 'thoughtful-reviewer' AND l.outcome = 'filtered'`).Scan(&filtered); err != nil {
		t.Fatal(err)
	}
	if filtered != "ReviewsLengthFilter" {
		t.Errorf("the 99-character review was filtered by %q, want ReviewsLengthFilter", filtered)
	}
}

func TestAnonymousEventsMoveNothing(t *testing.T) {
	env := newEngineEnv(t)
	res := env.apply(t,
		photoRecord("", "p3", active),
		tripRecord("", "t1", 10000),
	)
	if res.NoUser != 2 || res.Applied != 0 {
		t.Errorf("result = %+v, want 2 without user, nothing applied", res)
	}
	for _, table := range []string{"user_objectives", "contributions", "processing_log", "user_achievements"} {
		if n := count(t, env.pool, "SELECT count(*) FROM awards."+table); n != 0 {
			t.Errorf("%d rows in %s, want none", n, table)
		}
	}
}

// TestBannedUsersEventsCountOnReturn: while a user is banned or deleted
// their events update the ledger and counters, but nothing is granted or
// revoked; on their return their achievements are what the events say.
func TestBannedUsersEventsCountOnReturn(t *testing.T) {
	for _, status := range []string{"banned", "deleted"} {
		t.Run(status, func(t *testing.T) {
			env := newEngineEnv(t)
			ctx := t.Context()
			// Before the ban: 5 photos and 10 km make local-guide (15,
			// revocable) and navigator-10km.
			recs := []*busv1.EventRecord{tripRecord("u1", "t1", 10000)}
			for i := range 5 {
				recs = append(recs, photoRecord("u1", fmt.Sprintf("p%d", i), active))
			}
			env.apply(t, recs...)
			env.wantAchievement(t, "u1", "local-guide", 15, true)
			before := env.outbox(t)
			if _, err := env.store.SetUserStatus(ctx, "u1", status); err != nil {
				t.Fatal(err)
			}

			// During the ban: a photo is blocked by moderation, and the
			// user sends three reviews.
			res, err := env.engine.ApplyBatch(ctx, []*busv1.EventRecord{
				photoRecord("u1", "p0", blocked),
				reviewRecord("u1", "r1", "place-1", active, 150),
				reviewRecord("u1", "r2", "place-2", active, 150),
				reviewRecord("u1", "r3", "place-3", active, 150),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Inactive != 4 || res.Applied == 0 {
				t.Errorf("batch during the ban = %+v, want 4 events of an inactive user, applied to the ledger", res)
			}
			if cyc := env.cycle(t); cyc.Held == 0 || cyc.Recomputed != 0 {
				t.Errorf("cycle during the ban = %+v, want the changes held and nothing recomputed", cyc)
			}
			var photos float64
			if err := env.pool.QueryRow(ctx, `
				SELECT uo.progress FROM awards.user_objectives uo JOIN awards.objectives o ON o.id = uo.objective_id
				WHERE uo.user_id = 'u1' AND o.achievement_id = 'local-guide' AND o.key = 'photo'`).Scan(&photos); err != nil {
				t.Fatal(err)
			}
			if photos != 4 {
				t.Errorf("photo objective during the ban = %v, want 4 (the blocked photo no longer counts)", photos)
			}
			// Nothing shown or granted meanwhile: the stored achievements
			// are as before the ban.
			env.wantAchievement(t, "u1", "local-guide", 15, true)
			env.wantAchievement(t, "u1", "photos-and-reviews", 5, false)
			if got := env.outbox(t); !slices.Equal(got, before) {
				t.Errorf("outbox during the ban = %v, want only the grants from before it %v", got, before)
			}

			// Back: local-guide is 4+3 capped at 5, plus 10 = 15, still
			// met; photos-and-reviews (5 photos and 5 reviews) is 4 + 3 = 7.
			if _, err := env.store.SetUserStatus(ctx, "u1", "active"); err != nil {
				t.Fatal(err)
			}
			res2 := env.cycle(t)
			env.wantAchievement(t, "u1", "local-guide", 15, true)
			env.wantAchievement(t, "u1", "photos-and-reviews", 7, false)
			if res2.Recomputed == 0 {
				t.Errorf("cycle after the return = %+v, want the user's achievements recomputed", res2)
			}
			t.Logf("%s: batch during the ban %+v; cycle after the return %+v; outbox %v", status, res, res2, env.outbox(t))
		})
	}
}

// TestRevocableAchievementRevokedAfterABan: a revocable achievement whose
// goal stopped being met during a ban is revoked when the user returns.
func TestRevocableAchievementRevokedAfterABan(t *testing.T) {
	env := newEngineEnv(t)
	ctx := t.Context()
	recs := []*busv1.EventRecord{tripRecord("u1", "t1", 10000)}
	for i := range 5 {
		recs = append(recs, photoRecord("u1", fmt.Sprintf("p%d", i), active))
	}
	env.apply(t, recs...)
	env.wantAchievement(t, "u1", "local-guide", 15, true)
	before := env.outbox(t)
	if _, err := env.store.SetUserStatus(ctx, "u1", "banned"); err != nil {
		t.Fatal(err)
	}
	env.apply(t, photoRecord("u1", "p0", blocked), photoRecord("u1", "p1", deleted))
	env.wantAchievement(t, "u1", "local-guide", 15, true) // frozen during the ban
	if _, err := env.store.SetUserStatus(ctx, "u1", "active"); err != nil {
		t.Fatal(err)
	}
	res := env.cycle(t)
	env.wantAchievement(t, "u1", "local-guide", 13, false)
	if res.Revoked != 1 {
		t.Errorf("cycle after the return = %+v, want local-guide revoked", res)
	}
	want := append(before, "revoked u1 local-guide")
	if got := env.outbox(t); !slices.Equal(got, want) {
		t.Errorf("outbox = %v, want %v", got, want)
	}
}

// quiet discards the engine's logs in tests.
var quiet = slog.New(slog.DiscardHandler)

package faults_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// The shape of one run of TestAwardsExactUnderLoad.
const (
	loadRuns    = 5
	loadUsers   = 200
	loadSenders = 4
	loadBatch   = 50
	// Events per user and source: 200 × (40 + 30 + 30) = 20,000 per run.
	loadPhotoChanges  = 40
	loadReviewChanges = 30
	loadTrips         = 30
	// maxChanges bounds the status changes of one photo or review; items
	// with 10 or more have keys "…-v9" and "…-v10" whose lexical order is
	// not their send order.
	maxChanges = 12
	// loadPlaces is how many map objects a user reviews, so that several
	// reviews of one user share a place.
	loadPlaces = 6
	loadEvents = loadUsers * (loadPhotoChanges + loadReviewChanges + loadTrips)
	// settleQuiet is how long nothing may move before a run's progress is
	// read as final: several cycles of the achievements worker (200 ms).
	settleQuiet = 1500 * time.Millisecond
)

// timing says which event times the status changes of one item carry.
type timing int

const (
	// untimed: no occurred_at; the order on the bus decides.
	untimed timing = iota
	// sameTime: every change carries the same occurred_at; the order on
	// the bus decides.
	sameTime
	// increasing: times grow with the send order.
	increasing
	// decreasing: times fall with the send order, so the first change
	// sent is the latest and wins.
	decreasing
	timings
)

func (tm timing) String() string {
	return [...]string{"untimed", "same-time", "increasing", "decreasing"}[tm]
}

// loadItem is one photo or review and every status change the test sends
// for it, in send order. One sender sends all of them, each after the
// previous one's batch was acknowledged.
type loadItem struct {
	review     bool
	id, user   string
	object     string
	textLength int32 // reviews: > 100 passes thoughtful-reviewer's filter
	photoV2    bool  // photos: PhotoStatusChangedV2 instead of V1
	timing     timing
	statuses   []eventsv1.ContentStatus
	times      []time.Time // nil for untimed items
	sender     int
}

// final is the status that counts once every change is applied: the one
// with the latest time when the changes carry differing times, otherwise
// the last one on the bus (the last sent).
func (it *loadItem) final() eventsv1.ContentStatus {
	if it.timing == decreasing {
		return it.statuses[0]
	}
	return it.statuses[len(it.statuses)-1]
}

// key is the idempotency key of change j: "-v9" sorts after "-v10".
func (it *loadItem) key(run, j int) string { return fmt.Sprintf("load%d-%s-v%d", run, it.id, j+1) }

type loadTrip struct {
	id, user string
	distance int64
	at       *time.Time
	sender   int
}

// awardsLoad is the workload of one run: every user's photos, reviews and
// trips, generated from a seed.
type awardsLoad struct {
	run   int
	users []string
	items []*loadItem
	trips []*loadTrip
	seed  uint64
}

func newAwardsLoad(run int, seed uint64) *awardsLoad {
	rng := rand.New(rand.NewPCG(seed, uint64(run)))
	w := &awardsLoad{run: run, seed: seed}
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
	at := func() time.Time { return base.Add(time.Duration(rng.IntN(12*3600*1000)) * time.Millisecond) }
	next := 0
	sender := func() int { next++; return next % loadSenders }
	for u := range loadUsers {
		user := fmt.Sprintf("load%d-user-%03d", run, u)
		w.users = append(w.users, user)
		for _, review := range []bool{false, true} {
			left, kind := loadPhotoChanges, "photo"
			if review {
				left, kind = loadReviewChanges, "review"
			}
			for n := 0; left > 0; n++ {
				k := min(1+rng.IntN(maxChanges), left)
				left -= k
				it := &loadItem{review: review, id: fmt.Sprintf("%s-%s-%02d", user, kind, n), user: user,
					object: fmt.Sprintf("place-%d", rng.IntN(loadPlaces)), photoV2: rng.IntN(2) == 0,
					timing: timing(rng.IntN(int(timings))), sender: sender()}
				if review {
					it.textLength = int32(20 + rng.IntN(200))
				}
				prev := eventsv1.ContentStatus_CONTENT_STATUS_UNSPECIFIED
				for range k {
					// Every change flips the status: active, blocked,
					// deleted (or back to moderation).
					s := prev
					for s == prev {
						s = []eventsv1.ContentStatus{
							eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE, eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE,
							eventsv1.ContentStatus_CONTENT_STATUS_BLOCKED, eventsv1.ContentStatus_CONTENT_STATUS_DELETED,
							eventsv1.ContentStatus_CONTENT_STATUS_MODERATION,
						}[rng.IntN(5)]
					}
					it.statuses = append(it.statuses, s)
					prev = s
				}
				switch t0 := at(); it.timing {
				case sameTime:
					for range k {
						it.times = append(it.times, t0)
					}
				case increasing, decreasing:
					step := time.Duration(1+rng.IntN(5000)) * time.Millisecond
					for j := range k {
						d := time.Duration(j) * step
						if it.timing == decreasing {
							d = time.Duration(k-1-j) * step
						}
						it.times = append(it.times, t0.Add(d))
					}
				}
				w.items = append(w.items, it)
			}
		}
		// Some users drive little (under 10 km in all), most drive more.
		longest := 100 + 100*(u%12)
		for n := range loadTrips {
			tr := &loadTrip{id: fmt.Sprintf("%s-trip-%02d", user, n), user: user, distance: int64(10 + rng.IntN(longest)), sender: sender()}
			if rng.IntN(2) == 0 {
				t := at()
				tr.at = &t
			}
			w.trips = append(w.trips, tr)
		}
	}
	return w
}

// itemEvent is change j of it as ingest receives it.
func (w *awardsLoad) itemEvent(it *loadItem, j int) *ingestv1.Event {
	c := &eventsv1.Context{UserId: it.user}
	if it.times != nil {
		c.OccurredAt = timestamppb.New(it.times[j])
	}
	var msg proto.Message
	switch {
	case it.review:
		msg = &eventsv1.ReviewStatusChangedV1{Context: c, ReviewId: it.id, ObjectId: it.object, Status: it.statuses[j],
			TextLength: it.textLength, Rating: 4}
	case it.photoV2:
		p := &eventsv1.PhotoStatusChangedV2{Context: c, PhotoId: it.id, ObjectId: it.object, Status: it.statuses[j], Reason: "load test"}
		if j > 0 {
			p.PreviousStatus = it.statuses[j-1]
		}
		msg = p
	default:
		msg = &eventsv1.PhotoStatusChangedV1{Context: c, PhotoId: it.id, ObjectId: it.object, Status: it.statuses[j]}
	}
	return harness.TypedEvent(it.key(w.run, j), msg)
}

func (w *awardsLoad) tripEvent(tr *loadTrip) *ingestv1.Event {
	c := &eventsv1.Context{UserId: tr.user}
	if tr.at != nil {
		c.OccurredAt = timestamppb.New(*tr.at)
	}
	return harness.TypedEvent(fmt.Sprintf("load%d-%s", w.run, tr.id),
		&eventsv1.NavigationTripFinishedV1{Context: c, TripId: tr.id, DistanceM: tr.distance, Arrived: true})
}

// batches are what sender s sends, in order. Round r holds change r of
// every item of s that has one, mixed with a share of s's trips; a round is
// cut into batches, so no batch holds two changes of one item and every
// change goes out after the batch of the previous one was acknowledged.
func (w *awardsLoad) batches(s int, rng *rand.Rand) [][]*ingestv1.Event {
	var items []*loadItem
	var trips []*loadTrip
	for _, it := range w.items {
		if it.sender == s {
			items = append(items, it)
		}
	}
	for _, tr := range w.trips {
		if tr.sender == s {
			trips = append(trips, tr)
		}
	}
	var out [][]*ingestv1.Event
	for r := range maxChanges {
		var round []*ingestv1.Event
		for _, it := range items {
			if r < len(it.statuses) {
				round = append(round, w.itemEvent(it, r))
			}
		}
		share := len(trips) / (maxChanges - r)
		for _, tr := range trips[:share] {
			round = append(round, w.tripEvent(tr))
		}
		trips = trips[share:]
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		for len(round) > 0 {
			n := min(loadBatch, len(round))
			out = append(out, round[:n])
			round = round[n:]
		}
	}
	return out
}

// sent counts what one run sent and what ingest answered.
type sent struct {
	mu                            sync.Mutex
	bySubject                     map[string]int
	accepted, duplicate, rejected int
	batches                       int
}

// send runs the four senders at once and waits for all of them.
func (w *awardsLoad) send(ctx context.Context, t *testing.T, ingestURL, apiKey string) *sent {
	t.Helper()
	client := harness.NewSender(apiKey, harness.UntilAnswered(), ingestURL)
	out := &sent{bySubject: map[string]int{}}
	var wg sync.WaitGroup
	errs := make(chan error, loadSenders)
	for s := range loadSenders {
		batches := w.batches(s, rand.New(rand.NewPCG(w.seed, uint64(100*w.run+s))))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, events := range batches {
				results, err := client.Send(ctx, 0, events)
				if err != nil {
					errs <- fmt.Errorf("sender %d: %w", s, err)
					return
				}
				out.mu.Lock()
				out.batches++
				for i, r := range results {
					out.bySubject[subjectOf(events[i])]++
					switch r.Status {
					case ingestv1.EventStatus_EVENT_STATUS_ACCEPTED:
						out.accepted++
					case ingestv1.EventStatus_EVENT_STATUS_DUPLICATE:
						out.duplicate++
					default:
						out.rejected++
						if out.rejected <= 5 {
							t.Errorf("%s: %s %v", events[i].GetIdempotencyKey(), r.Status, r.Rejection)
						}
					}
				}
				out.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a batch was never answered: %v", err)
	}
	return out
}

func subjectOf(ev *ingestv1.Event) string {
	name := ev.GetTyped().GetTypeUrl()
	name = name[strings.LastIndexByte(name, '.')+1:]
	return strings.TrimSuffix(strings.TrimRight(name, "0123456789"), "V")
}

// expected is what one user's progress must be, computed from what the
// test sent.
type expected struct {
	photo, reviews, navi float64 // active photos, active reviews, metres
	places               float64 // places with an active review longer than 100 characters
	progress             map[string]float64
}

func (w *awardsLoad) expected() map[string]*expected {
	out := map[string]*expected{}
	places := map[string]map[string]bool{}
	for _, u := range w.users {
		out[u] = &expected{}
		places[u] = map[string]bool{}
	}
	for _, it := range w.items {
		if it.final() != eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE {
			continue
		}
		e := out[it.user]
		switch {
		case !it.review:
			e.photo++
		default:
			e.reviews++
			if it.textLength > 100 {
				places[it.user][it.object] = true
			}
		}
	}
	for _, tr := range w.trips {
		out[tr.user].navi += float64(tr.distance)
	}
	for u, e := range out {
		e.places = float64(len(places[u]))
		e.progress = starterProgress(e)
	}
	return out
}

// starterProgress is each starter achievement's progress, with the
// strategy arithmetic of services/awards/starter_achievements.yaml written
// out in the order the engine evaluates it, rounded to 1e-9 as it does.
func starterProgress(e *expected) map[string]float64 {
	round := func(v float64) float64 { return math.Round(v*1e9) / 1e9 }
	km := e.navi * 0.001 // normalization_factor 0.001 on the navi leaf
	return map[string]float64{
		// goal 15 = min(photo + reviews, 5) + min(navi × 0.001, 10)
		"local-guide": round(min(min(e.photo+e.reviews, 5)+min(km, 10), 15)),
		// goal 10 = min(navi × 0.001, 10)
		"navigator-10km": round(min(km, 10)),
		// goal 10 = min(photo, 5) + min(reviews, 5)
		"photos-and-reviews": round(min(min(e.photo, 5)+min(e.reviews, 5), 10)),
		// goal 3 = min(reviews + photo, 3)
		"reviews-or-photos": round(min(e.reviews+e.photo, 3)),
		// goal 5 = min(places with a counted long review, 5)
		"thoughtful-reviewer": round(min(e.places, 5)),
	}
}

// starterObjectives is the progress each objective of a starter
// achievement must show.
func starterObjectives(e *expected) map[string]map[string]float64 {
	return map[string]map[string]float64{
		"local-guide":         {"photo": e.photo, "reviews": e.reviews, "navi": e.navi},
		"navigator-10km":      {"navi": e.navi},
		"photos-and-reviews":  {"photo": e.photo, "reviews": e.reviews},
		"reviews-or-photos":   {"photo": e.photo, "reviews": e.reviews},
		"thoughtful-reviewer": {"reviews": e.places},
	}
}

// starterGoals are the goals of the starter achievements and whether
// completion is exactly "progress reached the goal": so for revocable
// achievements, and for navigator-10km, whose progress only grows. A
// sticky achievement whose progress fell back below its goal may be
// completed or not, depending on what a cycle saw in between; it must be
// completed when its progress reaches the goal.
var starterGoals = map[string]struct {
	goal  float64
	exact bool
}{
	"local-guide":         {15, true},
	"navigator-10km":      {10, true},
	"photos-and-reviews":  {10, true},
	"reviews-or-photos":   {3, false},
	"thoughtful-reviewer": {5, false},
}

// publicProgress reads every user's public profile (the public API, no
// token): user → achievement → the user achievement.
func publicProgress(ctx context.Context, a adminClient, users []string) (map[string]map[string]*awardsv1.UserAchievement, error) {
	out := make(map[string]map[string]*awardsv1.UserAchievement, len(users))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(users))
	sem := make(chan struct{}, 8)
	for _, u := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := a.public.ListUserAchievements(ctx, &awardsv1.ListUserAchievementsRequest{UserId: u, PageSize: 200})
			if err != nil {
				errs <- fmt.Errorf("achievements of %s: %w", u, err)
				return
			}
			m := map[string]*awardsv1.UserAchievement{}
			for _, ua := range resp.GetAchievements() {
				m[ua.GetAchievement().GetId()] = ua
			}
			mu.Lock()
			out[u] = m
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	return out, nil
}

// fingerprint is a snapshot's progress and completion, to tell when it
// stops changing.
func fingerprint(p map[string]map[string]*awardsv1.UserAchievement) string {
	var lines []string
	for u, m := range p {
		for id, ua := range m {
			line := fmt.Sprintf("%s %s %v %v", u, id, ua.GetProgress(), ua.GetCompleted())
			for _, o := range ua.GetObjectives() {
				line += fmt.Sprintf(" %s=%v", o.GetKey(), o.GetProgress())
			}
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// allPending is the events the awards consumers have not applied yet, over
// every source.
func (a adminClient) allPending(ctx context.Context) (uint64, error) {
	resp, err := a.admin.ListSources(ctx, &awardsv1.ListSourcesRequest{})
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, s := range resp.GetSources() {
		n += s.GetPending()
	}
	return n, nil
}

// settle waits until awards has applied every event on the bus and the
// achievements worker has stopped changing anything: no pending events,
// and neither the recompute counter nor any user's public progress moved
// for settleQuiet, within two minutes. It returns the last snapshot and
// how long the consumers took to apply everything.
func settle(ctx context.Context, t *testing.T, a adminClient, awardsURL string, users []string) (snap map[string]map[string]*awardsv1.UserAchievement, drained time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var (
		begin      = time.Now()
		lastPrint  string
		lastMetric = -1.0
		since      time.Time
		last       string
	)
	for {
		pending, err := a.allPending(ctx)
		switch {
		case err != nil:
			last = err.Error()
		case pending > 0:
			last = fmt.Sprintf("%d events pending", pending)
			lastPrint, lastMetric = "", -1
		default:
			if drained == 0 {
				drained = time.Since(begin)
			}
			m, _, err := harness.Metric(ctx, awardsURL, "clickstream_awards_achievements_recomputed_total")
			if err != nil {
				last = err.Error()
				break
			}
			snap, err = publicProgress(ctx, a, users)
			if err != nil {
				last = err.Error()
				break
			}
			fp := fingerprint(snap)
			if fp != lastPrint || m != lastMetric {
				lastPrint, lastMetric, since = fp, m, time.Now()
				last = "progress still moving"
				break
			}
			if time.Since(since) >= settleQuiet {
				return snap, drained
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("awards did not settle: %v (last: %s)", ctx.Err(), last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// assertNoDrift fails the test for every drift reconcile reports and
// returns what it found, for the run's summary. It is the one place that
// reads a ReconcileResponse, so that a response reporting more (drifts per
// level, users checked, achievements not yet folded) is checked by changing
// this function alone.
func assertNoDrift(t *testing.T, resp *awardsv1.ReconcileResponse) string {
	t.Helper()
	drifts := resp.GetDrifts()
	for i, dr := range drifts {
		if i == 10 {
			t.Errorf("… and %d more drifts", len(drifts)-i)
			break
		}
		t.Errorf("drift at %s: %s %s/%s counters stored %v expected %v; progress stored %v expected %v; completed stored %v expected %v; missing %v",
			dr.GetLevel(), dr.GetUserId(), dr.GetAchievementId(), dr.GetObjectiveKey(), dr.GetStored(), dr.GetRecomputed(),
			dr.GetStoredProgress(), dr.GetExpectedProgress(), dr.GetStoredCompleted(), dr.GetExpectedCompleted(), dr.GetMissing())
	}
	f := resp.GetFound()
	if n := f.GetCounters() + f.GetObjectiveProgress() + f.GetAchievementProgress() + f.GetCompletion(); n > 0 && len(drifts) == 0 {
		t.Errorf("reconcile counts %d drifts (%v) but lists none", n, f)
	}
	if resp.GetPending() > 0 {
		t.Errorf("reconcile left %d user achievements pending after awards settled", resp.GetPending())
	}
	if resp.GetUsers() == 0 {
		t.Error("reconcile checked no user")
	}
	return fmt.Sprintf("%d drifts (counters %d, objective progress %d, achievement progress %d, completion %d) over %d users, %d pending",
		len(drifts), f.GetCounters(), f.GetObjectiveProgress(), f.GetAchievementProgress(), f.GetCompletion(), resp.GetUsers(), resp.GetPending())
}

// TestAwardsExactUnderLoad: one `clickstream dev` with the starter
// achievements; five runs, each of 200 fresh users and 20,000 events (per
// user 40 photo status changes, 30 review status changes, 30 trips) sent by
// 4 concurrent senders. The changes of one photo or review go through one
// sender in order, each after the previous one's batch was acknowledged;
// an item's changes carry no time, one shared time, increasing times or
// decreasing times, and items with 10 or more changes have keys ("-v9",
// "-v10") that sort against their send order. After each run, once awards
// has settled: reconcile reports no drift, and every user's public
// progress in every starter achievement (and in each of its objectives)
// equals what the test computes from what it sent: the latest status of
// each item (by time where times differ, by send order otherwise), the sum
// of the trips, and the strategy arithmetic of each achievement.
func TestAwardsExactUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clickstream dev as a child process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	d, apiKey, awards := startDev(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	for run := 1; run <= loadRuns; run++ {
		begin := time.Now()
		w := newAwardsLoad(run, seed)
		s := w.send(ctx, t, d.IngestURL(), apiKey)
		sendTime := time.Since(begin)
		total := s.accepted + s.duplicate + s.rejected
		if s.rejected > 0 || total != loadEvents {
			t.Fatalf("run %d: %d events answered (%d accepted, %d duplicate, %d rejected), want %d accepted", run, total, s.accepted, s.duplicate, s.rejected, loadEvents)
		}
		for subject, n := range map[string]int{"PhotoStatusChanged": loadUsers * loadPhotoChanges,
			"ReviewStatusChanged": loadUsers * loadReviewChanges, "NavigationTripFinished": loadUsers * loadTrips} {
			if s.bySubject[subject] != n {
				t.Fatalf("run %d: %d %s events answered, want %d", run, s.bySubject[subject], subject, n)
			}
		}

		snap, drained := settle(ctx, t, awards, d.AwardsURL(), w.users)
		settleTime := time.Since(begin) - sendTime

		resp, err := awards.admin.Reconcile(ctx, &awardsv1.ReconcileRequest{})
		if err != nil {
			t.Fatalf("run %d: reconcile: %v", run, err)
		}
		drifts := assertNoDrift(t, resp)

		c := compareProgress(w.users, w.expected(), snap)
		var byTiming [timings]int
		longKeys := 0
		for _, it := range w.items {
			byTiming[it.timing]++
			if len(it.statuses) >= 10 && it.timing < increasing {
				longKeys++
			}
		}
		t.Logf("run %d: sent %d PhotoStatusChanged, %d ReviewStatusChanged, %d NavigationTripFinished in %d batches by %d senders in %v: %d accepted, %d duplicate; "+
			"%d photos and reviews (untimed %d, same-time %d, increasing %d, decreasing %d times; %d ordered by the bus with 10+ changes)",
			run, s.bySubject["PhotoStatusChanged"], s.bySubject["ReviewStatusChanged"], s.bySubject["NavigationTripFinished"], s.batches, loadSenders,
			sendTime.Round(time.Millisecond), s.accepted, s.duplicate,
			len(w.items), byTiming[untimed], byTiming[sameTime], byTiming[increasing], byTiming[decreasing], longKeys)
		t.Logf("run %d: every event applied %v after the last send, nothing moved for %v after %v; %d users checked, %d user achievements and %d user objectives compared, %d wrong; reconcile: %s; %v in all",
			run, drained.Round(time.Millisecond), settleQuiet, settleTime.Round(time.Millisecond),
			len(snap), c.achievements, c.objectives, sumCounts(c.wrong), drifts, time.Since(begin).Round(time.Millisecond))
		if len(c.wrong) > 0 {
			t.Errorf("run %d: public progress differs from what was sent: %v, e.g.:\n%s", run, c.wrong, strings.Join(c.examples, "\n"))
		}
		wantObjectives := 0
		for _, o := range starterObjectives(&expected{}) {
			wantObjectives += loadUsers * len(o)
		}
		if c.achievements != loadUsers*len(starterGoals) || c.objectives != wantObjectives {
			t.Errorf("run %d: compared %d user achievements and %d user objectives, want %d and %d",
				run, c.achievements, c.objectives, loadUsers*len(starterGoals), wantObjectives)
		}
	}
}

// comparison is what compareProgress found: how many user achievements
// and user objectives it compared, and the wrong ones by achievement (or
// achievement/objective), with a few examples.
type comparison struct {
	achievements, objectives int
	wrong                    map[string]int
	examples                 []string
}

// compareProgress compares every user's public progress with want, exactly
// (to 1e-9): each objective's progress, each achievement's progress and its
// completion. An achievement whose progress is wrong while each of its
// objectives is right is counted as "stale" (the achievements worker folded
// old objective values and never again).
func compareProgress(users []string, want map[string]*expected, snap map[string]map[string]*awardsv1.UserAchievement) comparison {
	c := comparison{wrong: map[string]int{}}
	report := func(what, format string, args ...any) {
		c.wrong[what]++
		if len(c.examples) < 15 {
			c.examples = append(c.examples, fmt.Sprintf(format, args...))
		}
	}
	ids := make([]string, 0, len(starterGoals))
	for id := range starterGoals {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, u := range users {
		e := want[u]
		objectives := starterObjectives(e)
		for _, id := range ids {
			g := starterGoals[id]
			ua := snap[u][id]
			if ua == nil {
				report(id+" missing", "%s: %s missing from the public profile", u, id)
				continue
			}
			c.achievements++
			objectivesRight := true
			for _, o := range ua.GetObjectives() {
				wo, ok := objectives[id][o.GetKey()]
				if !ok {
					continue
				}
				c.objectives++
				if math.Abs(o.GetProgress()-wo) > 1e-9 {
					objectivesRight = false
					report(id+"/"+o.GetKey(), "%s %s/%s: objective progress %v, want %v", u, id, o.GetKey(), o.GetProgress(), wo)
				}
			}
			if got := ua.GetProgress(); math.Abs(got-e.progress[id]) > 1e-9 {
				what := id
				if objectivesRight {
					what += " stale"
				}
				report(what, "%s %s: progress %v, want %v (photo %v, reviews %v, navi %v m, places %v)",
					u, id, got, e.progress[id], e.photo, e.reviews, e.navi, e.places)
			}
			reached := e.progress[id] >= g.goal
			if ua.GetCompleted() != reached && (g.exact || reached) {
				report(id+" completion", "%s %s: completed %v with progress %v of %v", u, id, ua.GetCompleted(), e.progress[id], g.goal)
			}
		}
	}
	return c
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

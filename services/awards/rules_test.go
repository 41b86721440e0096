package awards_test

import (
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// ledger applies events through a rule as the consuming worker does: the
// previous entry by content id, the new entry stored, deltas added.
type ledger struct {
	rule     awards.Rule
	entries  map[string]awards.Contribution
	counters map[string]float64
}

func newLedger(t *testing.T, config string) *ledger {
	t.Helper()
	rule, err := awards.NewComponents().ParseRule([]byte(config), nil)
	if err != nil {
		t.Fatalf("ParseRule(%s): %v", config, err)
	}
	return &ledger{rule: rule, entries: map[string]awards.Contribution{}, counters: map[string]float64{}}
}

// apply returns the deltas of one event.
func (l *ledger) apply(ev awards.Event) awards.Deltas {
	id, ok := l.rule.ContentID(ev)
	var prev *awards.Contribution
	if e, found := l.entries[id]; ok && found {
		prev = &e
	}
	next, deltas, ok := l.rule.Apply(prev, ev)
	if !ok {
		return nil
	}
	if next.ContentID != id {
		panic("rule returned entry " + next.ContentID + " for content " + id)
	}
	l.entries[id] = next
	for k, v := range deltas {
		l.counters[k] += v
		if l.counters[k] == 0 {
			delete(l.counters, k)
		}
	}
	return deltas
}

func (l *ledger) progress() float64 { return l.counters[l.rule.ProgressCounter()] }

func TestRules(t *testing.T) {
	navi := func(m int64) proto.Message { return &eventsv1.NavigationTripFinishedV1{TripId: "t", DistanceM: m} }
	card := func(object string) proto.Message {
		return &eventsv1.PlaceCardOpenedV1{ObjectId: object, Rubric: "cafe"}
	}
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	type step struct {
		ev       awards.Event
		want     awards.Deltas
		progress float64
	}
	tests := []struct {
		name   string
		config string
		steps  []step
	}{
		{
			name:   "status counter: moderation, active, blocked raises then lowers",
			config: `{"name":"StatusCounterRule","config":{"content_id":"photo_id"}}`,
			steps: []step{
				{event("e1", at(1), photo("p1", moderation)), awards.Deltas{"moderation": 1}, 0},
				{event("e2", at(2), photo("p1", active)), awards.Deltas{"moderation": -1, "active": 1}, 1},
				{event("e3", at(3), photo("p1", blocked)), awards.Deltas{"active": -1, "blocked": 1}, 0},
			},
		},
		{
			name:   "status counter: active twice changes nothing",
			config: `{"name":"StatusCounterRule","config":{"content_id":"photo_id"}}`,
			steps: []step{
				{event("e1", at(1), photo("p1", active)), awards.Deltas{"active": 1}, 1},
				{event("e2", at(2), photo("p1", active)), nil, 1},
				{event("e1", at(1), photo("p1", active)), nil, 1}, // redelivery
				{event("e3", at(3), photo("p2", active)), awards.Deltas{"active": 1}, 2},
			},
		},
		{
			name:   "status counter: an older event after a newer one changes nothing",
			config: `{"name":"StatusCounterRule","config":{"content_id":"photo_id","progress":"moderation"}}`,
			steps: []step{
				{event("e3", at(3), photo("p1", blocked)), awards.Deltas{"blocked": 1}, 0},
				{event("e2", at(2), photo("p1", active)), nil, 0},
				{event("e1", at(1), photo("p1", moderation)), nil, 0},
				{event("e4", at(4), photo("p1", moderation)), awards.Deltas{"blocked": -1, "moderation": 1}, 1},
			},
		},
		{
			name:   "status counter: event without content id moves nothing",
			config: `{"name":"StatusCounterRule","config":{"content_id":"photo_id"}}`,
			steps: []step{
				{event("e1", at(1), photo("", active)), nil, 0},
			},
		},
		{
			name:   "unique by object: two reviews of the same place count once",
			config: `{"name":"ReviewUniqueByObjectRule","config":{}}`,
			steps: []step{
				{event("e1", at(1), review("r1", "place-1", active, 150)), awards.Deltas{"count": 1}, 1},
				{event("e2", at(2), review("r2", "place-1", active, 150)), nil, 1},
				{event("e3", at(3), review("r3", "place-2", active, 150)), awards.Deltas{"count": 1}, 2},
			},
		},
		{
			name:   "unique by object: a place counts while one of its reviews is counted",
			config: `{"name":"ReviewUniqueByObjectRule","config":{}}`,
			steps: []step{
				{event("e1", at(1), review("r1", "place-1", moderation, 150)), nil, 0},
				{event("e2", at(2), review("r1", "place-1", active, 150)), awards.Deltas{"count": 1}, 1},
				{event("e3", at(3), review("r2", "place-1", active, 150)), nil, 1},
				{event("e4", at(4), review("r1", "place-1", blocked, 150)), nil, 1}, // r2 holds the place now
				{event("e5", at(5), review("r1", "place-1", deleted, 150)), nil, 1},
				{event("e6", at(6), review("r2", "place-1", deleted, 150)), awards.Deltas{"count": -1}, 0},
				{event("e7", at(7), review("r1", "place-1", active, 150)), awards.Deltas{"count": 1}, 1}, // restored
				{event("e4", at(4), review("r1", "place-1", blocked, 150)), nil, 1},                      // redelivered, older
				{event("e8", at(8), review("r1", "place-1", deleted, 150)), awards.Deltas{"count": -1}, 0},
			},
		},
		{
			name:   "unique by object: a review rejected by moderation and rewritten counts",
			config: `{"name":"ReviewUniqueByObjectRule","config":{}}`,
			steps: []step{
				{event("e1", at(1), review("r1", "place-1", moderation, 150)), nil, 0},
				{event("e2", at(2), review("r1", "place-1", blocked, 150)), nil, 0}, // rejected
				{event("e3", at(3), review("r2", "place-1", moderation, 150)), nil, 0},
				{event("e4", at(4), review("r2", "place-1", active, 150)), awards.Deltas{"count": 1}, 1},
			},
		},
		{
			name:   "unique by object: deleting the counted review hands the place to another active one",
			config: `{"name":"ReviewUniqueByObjectRule","config":{}}`,
			steps: []step{
				{event("e1", at(1), review("r1", "place-1", active, 150)), awards.Deltas{"count": 1}, 1},
				{event("e2", at(2), review("r2", "place-1", active, 150)), nil, 1},
				{event("e3", at(3), review("r1", "place-1", deleted, 150)), nil, 1},
				{event("e4", at(4), review("r3", "place-2", active, 150)), awards.Deltas{"count": 1}, 2},
			},
		},
		{
			name:   "unique by object: generic, photos per place, moderation counts",
			config: `{"name":"UniqueByObjectRule","config":{"item":"photo_id","counted":["active","moderation"]}}`,
			steps: []step{
				{event("e1", at(1), photo("p1", moderation)), awards.Deltas{"count": 1}, 1},
				{event("e2", at(2), photo("p2", active)), nil, 1},
				{event("e3", at(3), photo("p1", active)), nil, 1},
				{event("e4", at(4), photo("p1", deleted)), nil, 1}, // p2 still counts
				{event("e5", at(5), photo("p2", blocked)), awards.Deltas{"count": -1}, 0},
			},
		},
		{
			name:   "sum of navigation metres, redelivery idempotent",
			config: `{"name":"SumRule","config":{"field":"distance_m"}}`,
			steps: []step{
				{event("t1", at(1), navi(4000)), awards.Deltas{"sum": 4000}, 4000},
				{event("t1", at(1), navi(4000)), nil, 4000},
				{event("t2", at(2), navi(2500)), awards.Deltas{"sum": 2500}, 6500},
				{event("t3", at(3), navi(0)), nil, 6500},
			},
		},
		{
			name:   "count of analytics events by record",
			config: `{"name":"CountRule","config":{}}`,
			steps: []step{
				{event("c1", at(1), card("place-1")), awards.Deltas{"count": 1}, 1},
				{event("c2", at(2), card("place-1")), awards.Deltas{"count": 1}, 2},
				{event("c1", at(1), card("place-1")), nil, 2},
				{event("", at(3), card("place-1")), nil, 2},
			},
		},
		{
			name:   "distinct values",
			config: `{"name":"DistinctValuesRule","config":{"field":"object_id"}}`,
			steps: []step{
				{event("c1", at(1), card("place-1")), awards.Deltas{"count": 1}, 1},
				{event("c2", at(2), card("place-1")), nil, 1},
				{event("c3", at(3), card("place-2")), awards.Deltas{"count": 1}, 2},
				{event("c4", at(4), card("")), nil, 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(t, tt.config)
			for i, s := range tt.steps {
				got := l.apply(s.ev)
				if !maps.Equal(got, s.want) {
					t.Errorf("step %d (%s): deltas %v, want %v", i, s.ev.RecordID, got, s.want)
				}
				if p := l.progress(); p != s.progress {
					t.Errorf("step %d (%s): progress %v, want %v", i, s.ev.RecordID, p, s.progress)
				}
			}
		})
	}
}

// TestReviewsObjective is the issue's "5 reviews longer than 100
// characters, one per place": filters and rule together.
func TestReviewsObjective(t *testing.T) {
	reg := awards.NewComponents()
	filters, err := reg.ParseFilters([]byte(`[{"name":"SourceFilter","config":{"sources":["reviews"]}},{"name":"ReviewsLengthFilter","config":{"allowed_length":100}}]`), reviewsSchema)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := reg.ParseRule([]byte(`{"name":"ReviewUniqueByObjectRule","config":{}}`), reviewsSchema)
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{rule: rule, entries: map[string]awards.Contribution{}, counters: map[string]float64{}}
	for _, ev := range []awards.Event{
		event("e1", t0, review("r1", "place-1", active, 99)),  // too short
		event("e2", t0, review("r2", "place-2", active, 101)), // counts
		event("e3", t0, review("r3", "place-2", active, 300)), // same place
		event("e4", t0, review("r4", "place-3", active, 101)), // counts
		event("e5", t0, photo("p1", active)),                  // not a review
	} {
		if awards.MatchAll(filters, ev) {
			l.apply(ev)
		}
	}
	if p := l.progress(); p != 2 {
		t.Errorf("progress %v, want 2", p)
	}
}

// TestRulesIdempotent: for random sequences of status events with
// duplicates, delivered in any order, the counters equal those of the
// ledger built from the events in order, and equal what the final ledger
// entries add up to. Events carry times and stream sequences, or stream
// sequences only.
func TestRulesIdempotent(t *testing.T) {
	statuses := []eventsv1.ContentStatus{moderation, active, blocked, eventsv1.ContentStatus_CONTENT_STATUS_HIDDEN, deleted}
	configs := []string{
		`{"name":"StatusCounterRule","config":{"content_id":"photo_id"}}`,
		`{"name":"UniqueByObjectRule","config":{"object":"object_id","item":"photo_id"}}`,
		`{"name":"CountRule","config":{}}`,
		`{"name":"DistinctValuesRule","config":{"field":"object_id"}}`,
	}
	for _, config := range configs {
		t.Run(strings.SplitN(config, `"`, 5)[3], func(t *testing.T) {
			for seed := range uint64(200) {
				rng := rand.New(rand.NewPCG(seed, 1))
				var events []awards.Event
				// Half the sequences carry event times; the other half only
				// their position on the bus, which then orders them.
				timed := seed%2 == 0
				for i := range 2 + rng.IntN(12) {
					p := photo([]string{"p1", "p2", "p3"}[rng.IntN(3)], statuses[rng.IntN(len(statuses))])
					p.ObjectId = []string{"o1", "o2"}[rng.IntN(2)]
					ev := event(string(rune('a'+i)), t0.Add(time.Duration(i)*time.Second), p)
					ev.Sequence = uint64(100 + i)
					if !timed {
						ev.OccurredAt = time.Time{}
					}
					events = append(events, ev)
				}
				// The same object's photos keep one object: make object_id a
				// function of photo_id so every event of a photo agrees.
				for _, ev := range events {
					m := ev.Payload.Interface().(*eventsv1.PhotoStatusChangedV2)
					m.ObjectId = map[string]string{"p1": "o1", "p2": "o1", "p3": "o2"}[m.PhotoId]
				}
				inOrder := newLedger(t, config)
				for _, ev := range events {
					inOrder.apply(ev)
				}
				// Redeliver and shuffle.
				delivered := slices.Clone(events)
				for range rng.IntN(len(events) + 1) {
					delivered = append(delivered, events[rng.IntN(len(events))])
				}
				rng.Shuffle(len(delivered), func(i, j int) { delivered[i], delivered[j] = delivered[j], delivered[i] })
				shuffled := newLedger(t, config)
				for _, ev := range delivered {
					shuffled.apply(ev)
				}
				if !maps.Equal(inOrder.counters, shuffled.counters) {
					t.Fatalf("seed %d: in order %v, shuffled with duplicates %v", seed, inOrder.counters, shuffled.counters)
				}
				for _, l := range []*ledger{inOrder, shuffled} {
					if !maps.Equal(l.counters, recompute(l)) {
						t.Fatalf("seed %d: incremental counters %v, recomputed from the ledger %v", seed, l.counters, recompute(l))
					}
					// Applying everything again changes nothing.
					for _, ev := range delivered {
						if d := l.apply(ev); d != nil {
							t.Fatalf("seed %d: redelivered %s moved %v", seed, ev.RecordID, d)
						}
					}
				}
			}
		})
	}
}

// recompute adds up what each ledger entry contributes, as a full
// recomputation from the ledger would.
func recompute(l *ledger) map[string]float64 {
	total := map[string]float64{}
	for _, e := range l.entries {
		for k, v := range l.rule.Counters(e) {
			total[k] += v
		}
	}
	for k, v := range total {
		if v == 0 {
			delete(total, k)
		}
	}
	return total
}

func TestRuleConfigValid(t *testing.T) {
	reg := awards.NewComponents()
	tests := []struct {
		config string
		schema []protoreflect.MessageDescriptor
	}{
		{`{"name":"ReviewUniqueByObjectRule","config":{}}`, reviewsSchema},
		{`{"name":"ReviewUniqueByObjectRule"}`, reviewsSchema},
		{`{"name":"StatusCounterRule","config":{"content_id":"photo_id","status":"status","progress":"active"}}`, photosSchema},
		{`{"name":"StatusCounterRule","config":{"content_id":"object_id"}}`, slices.Concat(photosSchema, reviewsSchema)},
		{`{"name":"SumRule","config":{"field":"distance_m"}}`, naviSchema},
		{`{"name":"CountRule","config":null}`, naviSchema},
		{`{"name":"DistinctValuesRule","config":{"field":"context.geo.city"}}`, naviSchema},
	}
	for _, tt := range tests {
		if _, err := reg.ParseRule([]byte(tt.config), tt.schema); err != nil {
			t.Errorf("ParseRule(%s): %v", tt.config, err)
		}
	}
}

func TestRuleConfigErrors(t *testing.T) {
	reg := awards.NewComponents()
	tests := []struct {
		name    string
		config  string
		schema  []protoreflect.MessageDescriptor
		setting string
		want    string
	}{
		{"unknown name", `{"name":"ReviewUniqueRule","config":{}}`, nil, "",
			`rule (ReviewUniqueRule): unknown rule "ReviewUniqueRule"; use one of CountRule, DistinctValuesRule, ReviewUniqueByObjectRule, StatusCounterRule, SumRule, UniqueByObjectRule`},
		{"unknown top-level key", `{"name":"CountRule","settings":{}}`, nil, "",
			`rule: the rule is not valid: json: unknown field "settings"`},
		{"unknown key", `{"name":"CountRule","config":{"field":"x"}}`, nil, "field",
			`rule (CountRule), setting "field": unknown setting; remove it; the settings are none`},
		{"wrong type", `{"name":"SumRule","config":{"field":7}}`, nil, "field",
			`rule (SumRule), setting "field": want a string, got JSON number`},
		{"missing required", `{"name":"SumRule","config":{}}`, nil, "field",
			`rule (SumRule), setting "field": required`},
		{"field missing from schema", `{"name":"SumRule","config":{"field":"distance_km"}}`, naviSchema, "field",
			`rule (SumRule), setting "field": event clickstream.events.v1.NavigationTripFinishedV1 has no field "distance_km"; use a field every source event has, or narrow the objective's sources`},
		{"field missing from one source", `{"name":"StatusCounterRule","config":{"content_id":"photo_id"}}`, slices.Concat(photosSchema, reviewsSchema), "content_id",
			`event clickstream.events.v1.ReviewStatusChangedV1 has no field "photo_id"`},
		{"review rule on photos", `{"name":"ReviewUniqueByObjectRule","config":{}}`, photosSchema, "item",
			`event clickstream.events.v1.PhotoStatusChangedV1 has no field "review_id"`},
		{"sum of a string", `{"name":"SumRule","config":{"field":"trip_id"}}`, naviSchema, "field",
			`field "trip_id" of event clickstream.events.v1.NavigationTripFinishedV1 is string, not a number`},
		{"status not an enum or string", `{"name":"StatusCounterRule","config":{"content_id":"trip_id","status":"arrived"}}`, naviSchema, "status",
			`is bool, neither an enum nor a string`},
		{"unknown progress status", `{"name":"StatusCounterRule","config":{"content_id":"photo_id","progress":"approved"}}`, photosSchema, "progress",
			`"approved" is not a status of clickstream.events.v1.ContentStatus; use one of unspecified, moderation, active, blocked, hidden, deleted`},
		{"unknown counted status", `{"name":"ReviewUniqueByObjectRule","config":{"counted":["ACTIVE"]}}`, reviewsSchema, "counted",
			`"ACTIVE" is not a status of clickstream.events.v1.ContentStatus`},
		{"generic unique needs item", `{"name":"UniqueByObjectRule","config":{}}`, nil, "item", `required`},
		{"not an object", `[]`, nil, "", `rule: the rule is not valid`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.ParseRule([]byte(tt.config), tt.schema)
			if err == nil {
				t.Fatalf("ParseRule(%s) succeeded, want error %q", tt.config, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
			ce, ok := errors.AsType[*awards.ConfigError](err)
			if !ok {
				t.Fatalf("error %T is not a *ConfigError", err)
			}
			if ce.Setting != tt.setting {
				t.Errorf("setting %q, want %q", ce.Setting, tt.setting)
			}
		})
	}
}

func FuzzRuleConfig(f *testing.F) {
	for _, seed := range []string{
		`{"name":"ReviewUniqueByObjectRule","config":{}}`,
		`{"name":"StatusCounterRule","config":{"content_id":"photo_id","progress":"blocked"}}`,
		`{"name":"UniqueByObjectRule","config":{"item":"photo_id","counted":["active",""]}}`,
		`{"name":"SumRule","config":{"field":"distance_m"}}`,
		`{"name":"DistinctValuesRule","config":{"field":"context.geo"}}`,
		`{"name":"CountRule","config":"x"}`,
		`null`, `{`, ``, `{"name":null}`,
	} {
		f.Add([]byte(seed))
	}
	reg := awards.NewComponents()
	schema := slices.Concat(reviewsSchema, photosSchema)
	events := []awards.Event{
		event("e1", t0, review("r1", "o1", active, 101)),
		event("e2", t0, photo("p1", blocked)),
		event("e3", t0, &eventsv1.NavigationTripFinishedV1{TripId: "t", DistanceM: 5}),
		{},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range [][]protoreflect.MessageDescriptor{nil, schema, naviSchema} {
			rule, err := reg.ParseRule(data, s)
			if err != nil {
				if err.Error() == "" {
					t.Error("empty error message")
				}
				continue
			}
			l := &ledger{rule: rule, entries: map[string]awards.Contribution{}, counters: map[string]float64{}}
			for _, ev := range events {
				l.apply(ev)
				if d := l.apply(ev); d != nil {
					t.Errorf("redelivery of %s moved %v", ev.RecordID, d)
				}
			}
		}
	})
}

// TestStatusOrder: the status changes of one item are ordered by event
// time when both carry one and they differ, otherwise by their position
// on the bus, never by idempotency key.
func TestStatusOrder(t *testing.T) {
	noTime := time.Time{}
	ev := func(key string, at time.Time, seq uint64, status eventsv1.ContentStatus) awards.Event {
		e := event(key, at, photo("p1", status))
		e.Sequence = seq
		return e
	}
	tests := []struct {
		name   string
		events []awards.Event
		want   float64 // active photos at the end
	}{
		{"no times: bus order, although key v9 sorts after v10",
			[]awards.Event{ev("photo-1-v9", noTime, 9, active), ev("photo-1-v10", noTime, 10, blocked)}, 0},
		{"no times: the reverse, blocked then active",
			[]awards.Event{ev("photo-1-v9", noTime, 9, blocked), ev("photo-1-v10", noTime, 10, active)}, 1},
		{"no times: an older one redelivered after changes nothing",
			[]awards.Event{ev("k-b", noTime, 9, active), ev("k-a", noTime, 10, blocked), ev("k-b", noTime, 9, active)}, 0},
		{"equal times: bus order, not the larger key",
			[]awards.Event{ev("k-a", t0, 20, active), ev("k-b", t0, 21, blocked)}, 0},
		{"equal times, larger key first: still bus order",
			[]awards.Event{ev("k-b", t0, 20, active), ev("k-a", t0, 21, blocked)}, 0},
		{"differing times arriving in reverse: the later time wins",
			[]awards.Event{ev("k-1", t0.Add(time.Minute), 30, blocked), ev("k-2", t0, 31, active)}, 0},
		{"times differing by a millisecond decide",
			[]awards.Event{ev("k-1", t0.Add(time.Millisecond), 40, active), ev("k-2", t0, 41, blocked)}, 1},
		{"one event without a time: bus order",
			[]awards.Event{ev("k-1", t0.Add(time.Hour), 50, active), ev("k-2", noTime, 51, blocked)}, 0},
		{"bus position unknown: the order of application",
			[]awards.Event{ev("k-b", noTime, 0, active), ev("k-a", noTime, 0, blocked)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, config := range []string{
				`{"name":"StatusCounterRule","config":{"content_id":"photo_id"}}`,
				`{"name":"UniqueByObjectRule","config":{"object":"object_id","item":"photo_id"}}`,
			} {
				l := newLedger(t, config)
				for _, e := range tt.events {
					l.apply(e)
				}
				if got := l.progress(); got != tt.want {
					t.Errorf("%s: progress %v, want %v", config, got, tt.want)
				}
			}
		})
	}
}

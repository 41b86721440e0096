package harness

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// Workload is the events a run sends: N NavigationTripFinishedV1 spread
// round-robin over Users users, InvalidPercent of them without their
// required trip id (so ingest rejects and dead-letters them), evenly spread
// (see Valid). The key of event i,
// Prefix-000042, is unique in the run.
type Workload struct {
	N              int
	Prefix         string // of the idempotency keys
	Users          int
	UserPrefix     string // of the user ids: UserPrefix-07
	InvalidPercent int
}

// Key is the idempotency key of event i.
func (w Workload) Key(i int) string { return fmt.Sprintf("%s-%06d", w.Prefix, i) }

// User is the user of event i.
func (w Workload) User(i int) string { return fmt.Sprintf("%s-%02d", w.UserPrefix, i%max(w.Users, 1)) }

// Valid reports whether event i carries its trip id. The invalid events
// are spread evenly, InvalidPercent of every hundred consecutive ones; with
// 10, those whose index ends in 7 (the workload the fault and cluster tests
// have always sent, so their figures compare across runs).
func (w Workload) Valid(i int) bool {
	const phase = 3 // the first invalid event of 10% is event 7
	return (i+phase)*w.InvalidPercent/100 == (i+phase-1)*w.InvalidPercent/100
}

// Distance is the distance of trip i in metres.
func (w Workload) Distance(i int) int64 { return int64(100 + i%900) }

// Event is event i in the typed form.
func (w Workload) Event(i int) *ingestv1.Event {
	trip := &eventsv1.NavigationTripFinishedV1{
		Context:   &eventsv1.Context{UserId: w.User(i)},
		DistanceM: w.Distance(i),
		Arrived:   true,
	}
	if w.Valid(i) {
		trip.TripId = fmt.Sprintf("trip-%d", i)
	}
	return TypedEvent(w.Key(i), trip)
}

// TypedEvent is msg, a registered event message, in the typed form with
// the idempotency key key.
func TypedEvent(key string, msg proto.Message) *ingestv1.Event {
	ev, err := ingestclient.Typed(msg)
	if err != nil {
		panic(err)
	}
	ev.IdempotencyKey = key
	return ev
}

// Events are events [start, start+size) that exist.
func (w Workload) Events(start, size int) []*ingestv1.Event {
	var events []*ingestv1.Event
	for i := start; i < min(start+size, w.N); i++ {
		events = append(events, w.Event(i))
	}
	return events
}

// Invalid is how many of the N events lack their trip id.
func (w Workload) Invalid() int {
	n := 0
	for i := range w.N {
		if !w.Valid(i) {
			n++
		}
	}
	return n
}

// Distances is what the navigation objective of every user sums to once
// the valid events are counted.
func (w Workload) Distances() map[string]float64 {
	sum := map[string]float64{}
	for i := range w.N {
		if w.Valid(i) {
			sum[w.User(i)] += float64(w.Distance(i))
		}
	}
	return sum
}

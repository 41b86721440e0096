package platform_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// protocol is one of the three ways a batch reaches ingest.
type protocol int

const (
	viaGRPC protocol = iota
	viaConnect
	viaREST
)

func (p protocol) String() string { return [...]string{"grpc", "connect", "rest"}[p] }

var protocols = []protocol{viaGRPC, viaConnect, viaREST}

// sender sends batches to one ingest with one API key over any protocol.
type sender struct {
	url, key string
	grpc     ingestv1.IngestServiceClient
}

func newSender(t *testing.T, url, key string) sender {
	return sender{url: url, key: key, grpc: ingestv1.NewIngestServiceClient(grpcConn(t, url))}
}

// send sends req over p and fails the test unless the whole batch is
// answered.
func (s sender) send(t *testing.T, p protocol, req *ingestv1.SendBatchRequest) *ingestv1.SendBatchResponse {
	t.Helper()
	ctx := context.Background()
	switch p {
	case viaGRPC:
		resp, err := s.grpc.SendBatch(withKey(ctx, s.key), req)
		if err != nil {
			t.Fatalf("grpc SendBatch: %v", err)
		}
		return resp
	case viaConnect:
		resp, err := ingestClient(s.url, s.key).SendBatch(ctx, req)
		if err != nil {
			t.Fatalf("connect SendBatch: %v", err)
		}
		return resp
	}
	body, err := protojson.Marshal(req)
	if err != nil {
		t.Fatalf("the batch cannot be sent as REST JSON: %v", err)
	}
	var resp ingestv1.SendBatchResponse
	restJSONAuth(t, s.key, "POST", s.url+"/v1/events:batch", string(body), http.StatusOK, &resp)
	return &resp
}

// unknownFieldBytes is m in protobuf binary with field 99 appended, which
// no event version defines.
func unknownFieldBytes(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 99, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

func jsonData(t *testing.T, key string, j *ingestv1.JsonEvent, data map[string]any) *ingestv1.Event {
	t.Helper()
	s, err := structpb.NewStruct(data)
	if err != nil {
		t.Fatal(err)
	}
	j.Data = s
	return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Json{Json: j}}
}

func mobileEvent(key string, id, version uint32, params map[string]string) *ingestv1.Event {
	return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Mobile{Mobile: &eventsv1.MobileAppEvent{
		EventId: id, Version: version, Params: params,
	}}}
}

// eventKind makes events of one kind: valid or not, and whether REST JSON
// can carry them (a typed Any of an unregistered Go type, or with unknown
// field bytes, has no protobuf JSON form).
type eventKind struct {
	name  string
	valid bool
	rest  bool
	make  func(t *testing.T, key string, n int) *ingestv1.Event
}

func conservationKinds() []eventKind {
	ctx := func(n int) *eventsv1.Context { return &eventsv1.Context{UserId: "u-" + strconv.Itoa(n%97)} }
	return []eventKind{
		{"typed ItemViewV2", true, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return harness.TypedEvent(key, &eventsv1.ItemViewV2{Context: ctx(n), ItemId: int64(n + 1), Referrer: "search"})
		}},
		{"typed PlaceCardOpenedV1", true, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return harness.TypedEvent(key, &eventsv1.PlaceCardOpenedV1{Context: ctx(n), ObjectId: "o-" + strconv.Itoa(n), Rubric: "cafe"})
		}},
		{"json ItemViewV2", true, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return jsonData(t, key, &ingestv1.JsonEvent{Name: "clickstream.events.v1.ItemViewV2"},
				map[string]any{"context": map[string]any{"userId": "u-1"}, "itemId": strconv.Itoa(n + 1)})
		}},
		{"mobile ItemViewV2", true, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return mobileEvent(key, 1001, 2, map[string]string{"context.user_id": "u-2", "item_id": strconv.Itoa(n + 1), "category_id": "24"})
		}},
		{"typed unknown event", false, false, func(t *testing.T, key string, n int) *ingestv1.Event {
			return typedRaw(key, "clickstream.events.v1.NoSuchEventV1", nil)
		}},
		{"typed unknown field", false, false, func(t *testing.T, key string, n int) *ingestv1.Event {
			b := unknownFieldBytes(t, &eventsv1.ItemViewV2{Context: ctx(n), ItemId: int64(n + 1)})
			return typedRaw(key, "clickstream.events.v1.ItemViewV2", b)
		}},
		{"typed missing item_id", false, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return harness.TypedEvent(key, &eventsv1.ItemViewV2{Context: ctx(n)})
		}},
		{"json wrong type", false, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return jsonData(t, key, &ingestv1.JsonEvent{EventId: 1001, Version: 2},
				map[string]any{"context": map[string]any{}, "itemId": fmt.Sprintf("%dx", n)})
		}},
		{"json unknown field", false, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return jsonData(t, key, &ingestv1.JsonEvent{Name: "clickstream.events.v1.PlaceCardOpenedV1"},
				map[string]any{"context": map[string]any{}, "objectId": "o", "colour": "red"})
		}},
		{"mobile unknown version", false, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return mobileEvent(key, 1001, 7, map[string]string{"item_id": "1"})
		}},
		{"mobile wrong type", false, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return mobileEvent(key, 1001, 2, map[string]string{"context.user_id": "u", "item_id": "many"})
		}},
		{"empty", false, true, func(t *testing.T, key string, n int) *ingestv1.Event {
			return &ingestv1.Event{IdempotencyKey: key}
		}},
	}
}

// storedIDs reads every message of a stream with an ordered consumer and
// counts them by Nats-Msg-Id, with the value of header (if any) of each.
func storedIDs(t *testing.T, b *bus.Bus, stream, header string) (map[string]int, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	counts, headers := map[string]int{}, map[string]string{}
	err := harness.ReadStream(ctx, b.JetStream(), stream, "", func(msg jetstream.Msg) {
		id := msg.Headers().Get(jetstream.MsgIDHeader)
		counts[id]++
		if header != "" {
			headers[id] = msg.Headers().Get(header)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts, headers
}

func streamMsgs(t *testing.T, b *bus.Bus, stream string) int {
	t.Helper()
	st, err := b.JetStream().Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Msgs)
}

// TestConservation sends 10,000 valid and invalid events through gRPC,
// Connect and REST, every batch twice: every event is exactly once on
// EVENTS when valid or exactly once in DEADLETTER when not, and the second
// time every valid event is answered DUPLICATE.
func TestConservation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS and sends 20,000 events")
	}
	s := start(t, harness.DataDir(t))
	snd := newSender(t, s.URL(platform.Ingest), s.IngestKey())
	eventsBefore, deadBefore := streamMsgs(t, s.Bus(), bus.StreamEvents), streamMsgs(t, s.Bus(), bus.StreamDeadLetter)

	const total = 10_000
	rng := rand.New(rand.NewPCG(10_000, 2))
	kinds := conservationKinds()
	var restKinds []eventKind
	for _, k := range kinds {
		if k.rest {
			restKinds = append(restKinds, k)
		}
	}
	type batch struct {
		via  protocol
		req  *ingestv1.SendBatchRequest
		kind []eventKind
	}
	var batches []batch
	for n := 0; n < total; {
		b := batch{via: protocols[len(batches)%len(protocols)], req: &ingestv1.SendBatchRequest{}}
		choose := kinds
		if b.via == viaREST {
			choose = restKinds
		}
		for size := 80 + rng.IntN(41); len(b.req.Events) < size && n < total; n++ {
			k := choose[rng.IntN(len(choose))]
			b.req.Events = append(b.req.Events, k.make(t, fmt.Sprintf("cons-%05d", n), n))
			b.kind = append(b.kind, k)
		}
		batches = append(batches, b)
	}

	valid := map[string]bool{}
	reasons := map[string]string{}
	for round := range 2 {
		for i, b := range batches {
			via := b.via
			if round == 1 {
				// The retry goes over another protocol where it can.
				via = protocols[(int(via)+1)%len(protocols)]
				for _, k := range b.kind {
					if via == viaREST && !k.rest {
						via = viaGRPC
					}
				}
			}
			resp := snd.send(t, via, b.req)
			if len(resp.GetResults()) != len(b.req.Events) {
				t.Fatalf("round %d batch %d over %s: %d results for %d events", round, i, via, len(resp.GetResults()), len(b.req.Events))
			}
			for j, r := range resp.GetResults() {
				ev, k := b.req.Events[j], b.kind[j]
				want := ingestv1.EventStatus_EVENT_STATUS_REJECTED
				switch {
				case k.valid && round == 0:
					want = ingestv1.EventStatus_EVENT_STATUS_ACCEPTED
				case k.valid:
					want = ingestv1.EventStatus_EVENT_STATUS_DUPLICATE
				}
				if int(r.GetIndex()) != j || r.GetId() != ev.GetIdempotencyKey() || r.GetStatus() != want {
					t.Errorf("round %d over %s: %s (%s) answered %v; want index %d, its key and %s", round, via, ev.GetIdempotencyKey(), k.name, r, j, want)
					continue
				}
				if round == 0 {
					valid[ev.GetIdempotencyKey()] = k.valid
					reasons[ev.GetIdempotencyKey()] = r.GetRejection().GetReason().String()
				} else if !k.valid && r.GetRejection().GetReason().String() != reasons[ev.GetIdempotencyKey()] {
					t.Errorf("%s (%s): rejected %s over %s the second time, %s the first", ev.GetIdempotencyKey(), k.name, r.GetRejection().GetReason(), via, reasons[ev.GetIdempotencyKey()])
				}
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	onEvents, _ := storedIDs(t, s.Bus(), bus.StreamEvents, "")
	onDead, deadReasons := storedIDs(t, s.Bus(), bus.StreamDeadLetter, ingest.HeaderReason)
	var nValid int
	for key, ok := range valid {
		if ok {
			nValid++
		}
		if n, want := onEvents[key], b2i(ok); n != want {
			t.Errorf("%s (valid %v) is %d times on EVENTS, want %d", key, ok, n, want)
		}
		if n, want := onDead["dl-"+key], b2i(!ok); n != want {
			t.Errorf("%s (valid %v) is %d times in DEADLETTER, want %d", key, ok, n, want)
		}
		if !ok && deadReasons["dl-"+key] != reasons[key] {
			t.Errorf("dead letter of %s has reason %q, the answer said %s", key, deadReasons["dl-"+key], reasons[key])
		}
	}
	eventsAdded := streamMsgs(t, s.Bus(), bus.StreamEvents) - eventsBefore
	deadAdded := streamMsgs(t, s.Bus(), bus.StreamDeadLetter) - deadBefore
	if len(valid) != total || eventsAdded+deadAdded != total || eventsAdded != nValid {
		t.Errorf("%d events sent twice (%d distinct keys, %d valid): EVENTS grew by %d and DEADLETTER by %d; want %d in all, %d on EVENTS",
			total, len(valid), nValid, eventsAdded, deadAdded, total, nValid)
	}
	t.Logf("%d events in %d batches, each sent twice: %d on EVENTS, %d in DEADLETTER", total, len(batches), eventsAdded, deadAdded)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

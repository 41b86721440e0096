package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

const env = "test"

func newService(t *testing.T, cfg ingest.Config) (*ingest.Service, *bus.Bus) {
	t.Helper()
	b := bustest.New(t)
	cfg.Environment = env
	return ingest.New(cfg, realCatalogue(t), b), b
}

// storedMsgs reads every message of a stream, oldest first.
func storedMsgs(t *testing.T, b *bus.Bus, name string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := b.JetStream().Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s info: %v", name, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream %s message %d: %v", name, seq, err)
		}
		out = append(out, m)
	}
	return out
}

// byMsgID indexes stored messages by Nats-Msg-Id, failing on a repeat.
func byMsgID(t *testing.T, msgs []*jetstream.RawStreamMsg) map[string]*jetstream.RawStreamMsg {
	t.Helper()
	out := map[string]*jetstream.RawStreamMsg{}
	for _, m := range msgs {
		id := m.Header.Get(jetstream.MsgIDHeader)
		if _, dup := out[id]; dup {
			t.Errorf("message id %q is stored twice", id)
		}
		out[id] = m
	}
	return out
}

func send(t *testing.T, svc *ingest.Service, events ...*ingestv1.Event) *ingestv1.SendBatchResponse {
	t.Helper()
	resp, err := svc.SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: events})
	if err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	if len(resp.GetResults()) != len(events) {
		t.Fatalf("%d results for %d events", len(resp.GetResults()), len(events))
	}
	if int(resp.GetAccepted()+resp.GetDuplicates()+resp.GetRejected()) != len(events) {
		t.Errorf("accepted %d + duplicates %d + rejected %d != %d events", resp.GetAccepted(), resp.GetDuplicates(), resp.GetRejected(), len(events))
	}
	for i, r := range resp.GetResults() {
		if int(r.GetIndex()) != i {
			t.Errorf("result %d has index %d", i, r.GetIndex())
		}
		if (r.GetStatus() == ingestv1.EventStatus_EVENT_STATUS_REJECTED) != (r.GetRejection() != nil) {
			t.Errorf("result %d: status %s with rejection %v", i, r.GetStatus(), r.GetRejection())
		}
	}
	return resp
}

func statuses(resp *ingestv1.SendBatchResponse) []ingestv1.EventStatus {
	var out []ingestv1.EventStatus
	for _, r := range resp.GetResults() {
		out = append(out, r.GetStatus())
	}
	return out
}

const (
	accepted  = ingestv1.EventStatus_EVENT_STATUS_ACCEPTED
	duplicate = ingestv1.EventStatus_EVENT_STATUS_DUPLICATE
	rejected  = ingestv1.EventStatus_EVENT_STATUS_REJECTED
)

func TestSendBatch(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	mobileItemView := mobile("k-mobile", 1001, 2, itemViewParams())
	events := []*ingestv1.Event{
		typed(t, "k-typed", itemView()),
		jsonOf(t, "k-json", photoStatus()),
		mobileItemView,
		typedBytes("k-unknown-field", "clickstream.events.v1.ItemViewV2", itemViewUnknownInContext(t)),
		jsonEvent(t, "k-wrong-type", &ingestv1.JsonEvent{Name: "clickstream.events.v1.ItemViewV2"}, `{"context":{}, "itemId":"abc"}`),
		mobile("k-unknown-event", 4242, 1, itemViewParams()),
		{IdempotencyKey: "k-empty"},
		typed(t, "", itemView()),
	}
	before := time.Now()
	resp := send(t, svc, events...)
	after := time.Now()

	wantStatuses := []ingestv1.EventStatus{accepted, accepted, accepted, rejected, rejected, rejected, rejected, accepted}
	if got := statuses(resp); fmt.Sprint(got) != fmt.Sprint(wantStatuses) {
		t.Fatalf("statuses %v, want %v", got, wantStatuses)
	}
	if resp.GetAccepted() != 4 || resp.GetDuplicates() != 0 || resp.GetRejected() != 4 {
		t.Errorf("counts %d/%d/%d, want 4/0/4", resp.GetAccepted(), resp.GetDuplicates(), resp.GetRejected())
	}
	generated := resp.GetResults()[7].GetId()
	if _, err := uuid.Parse(generated); err != nil {
		t.Errorf("generated id %q is not a UUID: %v", generated, err)
	}

	t.Run("accepted events are on EVENTS", func(t *testing.T) {
		stored := byMsgID(t, storedMsgs(t, b, bus.StreamEvents))
		if len(stored) != 4 {
			t.Errorf("%d records on EVENTS, want 4", len(stored))
		}
		wants := []struct {
			id      string
			subject string
			sent    proto.Message
		}{
			{"k-typed", "events.test.item_view.v2", itemView()},
			{"k-json", "events.test.photo_status_changed.v2", photoStatus()},
			{"k-mobile", "events.test.item_view.v2", itemView()},
			{generated, "events.test.item_view.v2", itemView()},
		}
		for _, w := range wants {
			m, ok := stored[w.id]
			if !ok {
				t.Errorf("no record %s on EVENTS", w.id)
				continue
			}
			if m.Subject != w.subject {
				t.Errorf("%s: subject %s, want %s", w.id, m.Subject, w.subject)
			}
			rec := &busv1.EventRecord{}
			if err := proto.Unmarshal(m.Data, rec); err != nil {
				t.Fatalf("%s: not an EventRecord: %v", w.id, err)
			}
			et := w.sent.ProtoReflect().Descriptor()
			ref, _ := realCatalogue(t).ByName(string(et.FullName()))
			if rec.GetId() != w.id || rec.GetEventId() != ref.ID || rec.GetEventVersion() != ref.Version ||
				rec.GetEventName() != string(et.FullName()) || rec.GetEnvironment() != env || rec.GetCatalogueRevision() != 7 {
				t.Errorf("%s: record {id %s, event %d v%d %s, env %s, revision %d}; want {%s, %d v%d %s, %s, 7}", w.id,
					rec.GetId(), rec.GetEventId(), rec.GetEventVersion(), rec.GetEventName(), rec.GetEnvironment(), rec.GetCatalogueRevision(),
					w.id, ref.ID, ref.Version, et.FullName(), env)
			}
			if rec.GetUserId() != "u-42" || !rec.GetOccurredAt().AsTime().Equal(occurred) || !proto.Equal(rec.GetContext(), testContext()) {
				t.Errorf("%s: user %q, occurred %v, context %v; want u-42, %v, the sent context", w.id, rec.GetUserId(), rec.GetOccurredAt().AsTime(), rec.GetContext(), occurred)
			}
			if r := rec.GetReceivedAt().AsTime(); r.Before(before.Truncate(time.Microsecond)) || r.After(after) {
				t.Errorf("%s: received_at %v is not within the call [%v, %v]", w.id, r, before, after)
			}
			payload := w.sent.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(rec.GetPayload(), payload); err != nil {
				t.Fatalf("%s: payload is not a %s: %v", w.id, et.FullName(), err)
			}
			if !proto.Equal(payload, w.sent) {
				t.Errorf("%s: payload\n%v\nwant\n%v", w.id, payload, w.sent)
			}
		}
	})

	t.Run("rejected events are on DEADLETTER as received", func(t *testing.T) {
		stored := byMsgID(t, storedMsgs(t, b, bus.StreamDeadLetter))
		if len(stored) != 4 {
			t.Errorf("%d dead letters, want 4", len(stored))
		}
		wants := []struct {
			index int
			form  string
			event string
		}{
			{3, "typed", "clickstream.events.v1.ItemViewV2"},
			{4, "json", "clickstream.events.v1.ItemViewV2"},
			{5, "mobile", ""},
			{6, "none", ""},
		}
		for _, w := range wants {
			ev, res := events[w.index], resp.GetResults()[w.index]
			m, ok := stored["dl-"+res.GetId()]
			if !ok {
				t.Errorf("no dead letter for %s", res.GetId())
				continue
			}
			rej := res.GetRejection()
			if want := "deadletter.test." + rej.GetReason().String(); m.Subject != want {
				t.Errorf("%s: subject %s, want %s", res.GetId(), m.Subject, want)
			}
			headers := map[string]string{
				ingest.HeaderReason:      rej.GetReason().String(),
				ingest.HeaderFieldPath:   rej.GetFieldPath(),
				ingest.HeaderMessage:     rej.GetMessage(),
				ingest.HeaderEnvironment: env,
				ingest.HeaderPayloadForm: w.form,
				ingest.HeaderEvent:       w.event,
			}
			for h, want := range headers {
				if got := m.Header.Get(h); got != want {
					t.Errorf("%s: header %s = %q, want %q", res.GetId(), h, got, want)
				}
			}
			if r, err := time.Parse(time.RFC3339Nano, m.Header.Get(ingest.HeaderReceivedAt)); err != nil || r.Before(before.Truncate(time.Microsecond)) || r.After(after) {
				t.Errorf("%s: header %s = %q (%v), not within the call", res.GetId(), ingest.HeaderReceivedAt, m.Header.Get(ingest.HeaderReceivedAt), err)
			}
			switch w.form {
			case "typed":
				if !bytes.Equal(m.Data, ev.GetTyped().GetValue()) {
					t.Errorf("%s: data is not the payload bytes as received", res.GetId())
				}
			case "json":
				got := &structpb.Struct{}
				if err := got.UnmarshalJSON(m.Data); err != nil || !proto.Equal(got, ev.GetJson().GetData()) {
					t.Errorf("%s: data %s is not the JSON as received (%v)", res.GetId(), m.Data, err)
				}
			case "mobile":
				got := &eventsv1.MobileAppEvent{}
				if err := proto.Unmarshal(m.Data, got); err != nil || !proto.Equal(got, ev.GetMobile()) {
					t.Errorf("%s: data is not the MobileAppEvent as received (%v)", res.GetId(), err)
				}
			case "none":
				if len(m.Data) != 0 {
					t.Errorf("%s: data %q for an event without payload", res.GetId(), m.Data)
				}
			}
		}
	})
}

func TestSendBatchDuplicates(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	bad := mobile("d-bad", 4242, 1, nil)
	first := typed(t, "d-1", itemView())
	second := typed(t, "d-2", photoStatus())

	// A dead letter before them shifts the records of accepted events in
	// the bus batch: verdicts must still land on the right events.
	resp := send(t, svc, bad, first, first)
	if got, want := statuses(resp), []ingestv1.EventStatus{rejected, accepted, duplicate}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("first batch: %v, want %v", got, want)
	}
	resp = send(t, svc, bad, first, first, second)
	if got, want := statuses(resp), []ingestv1.EventStatus{rejected, duplicate, duplicate, accepted}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("second batch: %v, want %v", got, want)
	}
	if resp.GetAccepted() != 1 || resp.GetDuplicates() != 2 || resp.GetRejected() != 1 {
		t.Errorf("second batch counts %d/%d/%d, want 1/2/1", resp.GetAccepted(), resp.GetDuplicates(), resp.GetRejected())
	}
	if r := resp.GetResults()[1]; r.GetId() != "d-1" {
		t.Errorf("duplicate answered with id %q, want d-1", r.GetId())
	}

	events := byMsgID(t, storedMsgs(t, b, bus.StreamEvents))
	if len(events) != 2 || events["d-1"] == nil || events["d-2"] == nil {
		t.Errorf("EVENTS holds %v, want d-1 and d-2 once each", keys(events))
	}
	dead := byMsgID(t, storedMsgs(t, b, bus.StreamDeadLetter))
	if len(dead) != 1 || dead["dl-d-bad"] == nil {
		t.Errorf("DEADLETTER holds %v, want dl-d-bad once", keys(dead))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSendBatchGeneratesUniqueIDs(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	const n = 50
	events := make([]*ingestv1.Event, n)
	for i := range events {
		m := itemView()
		m.ItemId = int64(i + 1)
		events[i] = typed(t, "", m)
	}
	resp := send(t, svc, events...)
	ids := map[string]bool{}
	for _, r := range resp.GetResults() {
		if r.GetStatus() != accepted {
			t.Fatalf("event %d: %s %v", r.GetIndex(), r.GetStatus(), r.GetRejection())
		}
		if _, err := uuid.Parse(r.GetId()); err != nil {
			t.Errorf("id %q is not a UUID", r.GetId())
		}
		ids[r.GetId()] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct ids for %d events", len(ids), n)
	}
	stored := byMsgID(t, storedMsgs(t, b, bus.StreamEvents))
	for id := range ids {
		if stored[id] == nil {
			t.Errorf("no record %s on EVENTS", id)
		}
	}
}

func TestSendBatchInvalidBatch(t *testing.T) {
	svc, b := newService(t, ingest.Config{MaxBatchEvents: 3})
	one := typed(t, "", itemView())
	tests := []struct {
		name   string
		events []*ingestv1.Event
		want   string
	}{
		{"empty", nil, "the batch is empty"},
		{"too many events", []*ingestv1.Event{one, one, one, one}, "the batch has 4 events; the limit is 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := svc.SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: tt.events})
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SendBatch: %v (%v); want InvalidArgument %q", err, connect.CodeOf(err), tt.want)
			}
			if resp != nil {
				t.Errorf("response %v with an error", resp)
			}
		})
	}
	if n := len(storedMsgs(t, b, bus.StreamEvents)) + len(storedMsgs(t, b, bus.StreamDeadLetter)); n != 0 {
		t.Errorf("%d messages stored for invalid batches", n)
	}
}

func TestSendBatchBusUnavailable(t *testing.T) {
	tests := []struct {
		name   string
		events func(t *testing.T) []*ingestv1.Event
	}{
		{"accepted events", func(t *testing.T) []*ingestv1.Event { return []*ingestv1.Event{typed(t, "u-1", itemView())} }},
		{"only rejected events", func(t *testing.T) []*ingestv1.Event { return []*ingestv1.Event{{IdempotencyKey: "u-2"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, b := newService(t, ingest.Config{})
			b.Close()
			resp, err := svc.SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: tt.events(t)})
			if connect.CodeOf(err) != connect.CodeUnavailable {
				t.Errorf("SendBatch with the bus closed: %v (%v); want Unavailable", err, connect.CodeOf(err))
			}
			if resp != nil {
				t.Errorf("response %v with the bus closed; want none", resp)
			}
		})
	}
}

// TestSendBatchEveryEventLandsOnce sends a random mix of valid, invalid and
// retried events in random batches: every idempotency key ends up exactly
// once on EVENTS when valid or exactly once in DEADLETTER when not, never in
// both, and every answer says which.
func TestSendBatchEveryEventLandsOnce(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	rng := rand.New(rand.NewPCG(2024, 5))

	kinds := []struct {
		valid bool
		make  func(key string, n int64) *ingestv1.Event
	}{
		{true, func(key string, n int64) *ingestv1.Event { m := itemView(); m.ItemId = n; return typed(t, key, m) }},
		{true, func(key string, n int64) *ingestv1.Event {
			m := photoStatus()
			m.PhotoId = fmt.Sprint(n)
			return jsonOf(t, key, m)
		}},
		{true, func(key string, n int64) *ingestv1.Event {
			return mobile(key, 1001, 2, withParams(itemViewParams(), "item_id", strconv.FormatInt(n, 10)))
		}},
		{true, func(key string, n int64) *ingestv1.Event {
			return mobile(key, 1004, 1, map[string]string{"payment_id": fmt.Sprint(n), "status": "completed", "amount.amount_minor": "100"})
		}},
		{false, func(key string, n int64) *ingestv1.Event {
			return typedBytes(key, "clickstream.events.v1.ItemViewV2", append(marshal(t, itemView()), unknownField99()...))
		}},
		{false, func(key string, n int64) *ingestv1.Event {
			return jsonEvent(t, key, &ingestv1.JsonEvent{EventId: 1001, Version: 2}, fmt.Sprintf(`{"context":{}, "itemId":"%dx"}`, n))
		}},
		{false, func(key string, n int64) *ingestv1.Event { return mobile(key, 1001, 7, itemViewParams()) }},
		{false, func(key string, n int64) *ingestv1.Event {
			return mobile(key, 1001, 2, withParams(itemViewParams(), "context.platform", "BLACKBERRY"))
		}},
		{false, func(key string, n int64) *ingestv1.Event { m := itemView(); m.ItemId = 0; return typed(t, key, m) }},
		{false, func(key string, n int64) *ingestv1.Event { return &ingestv1.Event{IdempotencyKey: key} }},
	}

	type sent struct {
		ev    *ingestv1.Event
		valid bool
	}
	var (
		history  []sent
		verdicts = map[string][]ingestv1.EventStatus{} // by id, in order
		valid    = map[string]bool{}
	)
	const total = 300
	for n := 0; n < total; {
		size := 1 + rng.IntN(40)
		batch := make([]sent, 0, size)
		for ; len(batch) < size && n < total; n++ {
			if len(history) > 0 && rng.IntN(10) == 0 {
				batch = append(batch, history[rng.IntN(len(history))]) // a retry
				continue
			}
			kind := kinds[rng.IntN(len(kinds))]
			key := fmt.Sprintf("p-%d", n)
			if rng.IntN(10) == 0 {
				key = "" // the service makes one up; it cannot be retried
			}
			s := sent{kind.make(key, int64(n+1)), kind.valid}
			batch = append(batch, s)
			if key != "" {
				history = append(history, s)
			}
		}
		events := make([]*ingestv1.Event, len(batch))
		for i, s := range batch {
			events[i] = s.ev
		}
		resp := send(t, svc, events...)
		for i, r := range resp.GetResults() {
			verdicts[r.GetId()] = append(verdicts[r.GetId()], r.GetStatus())
			valid[r.GetId()] = batch[i].valid
		}
	}

	onEvents := byMsgID(t, storedMsgs(t, b, bus.StreamEvents))
	onDeadLetter := byMsgID(t, storedMsgs(t, b, bus.StreamDeadLetter))
	for id, vs := range verdicts {
		want := []ingestv1.EventStatus{rejected}
		if valid[id] {
			want = []ingestv1.EventStatus{accepted}
		}
		for len(want) < len(vs) {
			if valid[id] {
				want = append(want, duplicate)
			} else {
				want = append(want, rejected)
			}
		}
		if fmt.Sprint(vs) != fmt.Sprint(want) {
			t.Errorf("%s (valid %v): verdicts %v, want %v", id, valid[id], vs, want)
		}
		_, inEvents := onEvents[id]
		_, inDead := onDeadLetter["dl-"+id]
		if inEvents != valid[id] || inDead == valid[id] {
			t.Errorf("%s (valid %v): on EVENTS %v, on DEADLETTER %v", id, valid[id], inEvents, inDead)
		}
	}
	if len(onEvents)+len(onDeadLetter) != len(verdicts) {
		t.Errorf("%d records and %d dead letters for %d distinct events", len(onEvents), len(onDeadLetter), len(verdicts))
	}
}

package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// fixedCatalogue is the repo's catalogue after a "schema fix": ItemViewV2
// gained field 6, campaign, which clients already send.
func fixedCatalogue(t *testing.T) *ingest.Catalogue {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(protosrc.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(protosrc.FS, p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	const file, old = "clickstream/events/v1/item_view.proto", "  Money price = 5;\n}"
	src := string(fsys[file].Data)
	if !strings.Contains(src, old) {
		t.Fatalf("%s has no %q to extend", file, old)
	}
	fsys[file].Data = []byte(strings.Replace(src, old, "  Money price = 5;\n  string campaign = 6;\n}", 1))
	set, err := schema.Compile(t.Context(), fsys)
	if err != nil {
		t.Fatalf("compile the fixed catalogue: %v", err)
	}
	c, err := ingest.NewCatalogue(set.FileDescriptorSet(), 8)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// itemViewWithCampaign is ItemViewV2 with field 6 set, which the real
// catalogue does not know.
func itemViewWithCampaign(t *testing.T) []byte {
	t.Helper()
	b, err := proto.Marshal(itemView())
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 6, protowire.BytesType)
	return protowire.AppendString(b, "spring")
}

func TestDeadLetters(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	admin := ingest.NewAdmin(svc)
	ctx := context.Background()
	noItemID := itemView()
	noItemID.ItemId = 0
	campaignBytes := itemViewWithCampaign(t)
	resp := send(t, svc,
		typed(t, "ok", itemView()),
		typedBytes("dl-typed", "clickstream.events.v1.ItemViewV2", campaignBytes),
		jsonEvent(t, "dl-json", &ingestv1.JsonEvent{Name: "clickstream.events.v1.ItemViewV2"},
			`{"context":{"userId":"u-1"},"itemId":"7","campaign":"spring"}`),
		mobile("dl-mobile", 1001, 2, withParams(itemViewParams(), "campaign", "spring")),
		typed(t, "dl-required", noItemID),
		jsonEvent(t, "dl-unknown", &ingestv1.JsonEvent{Name: "clickstream.events.v1.NoSuchEventV1"}, `{}`),
	)
	if resp.GetAccepted() != 1 || resp.GetRejected() != 5 {
		t.Fatalf("accepted %d, rejected %d; want 1 and 5: %v", resp.GetAccepted(), resp.GetRejected(), resp.GetResults())
	}

	list := func(req *ingestv1.ListDeadLettersRequest) *ingestv1.ListDeadLettersResponse {
		t.Helper()
		resp, err := admin.ListDeadLetters(ctx, req)
		if err != nil {
			t.Fatalf("ListDeadLetters(%v): %v", req, err)
		}
		return resp
	}
	keys := func(dls []*ingestv1.DeadLetter) string {
		var out []string
		for _, dl := range dls {
			out = append(out, dl.GetEventKey())
		}
		return strings.Join(out, " ")
	}

	all := list(&ingestv1.ListDeadLettersRequest{})
	if got, want := keys(all.GetDeadLetters()), "dl-typed dl-json dl-mobile dl-required dl-unknown"; got != want {
		t.Fatalf("dead letters %q, want %q", got, want)
	}
	if all.GetNextAfterSequence() != 0 {
		t.Errorf("next_after_sequence %d on the only page, want 0", all.GetNextAfterSequence())
	}
	first := all.GetDeadLetters()[0]
	if first.GetEnvironment() != env || first.GetReason() != ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD ||
		first.GetPayloadForm() != "typed" || first.GetEventName() != "clickstream.events.v1.ItemViewV2" ||
		first.GetReceivedAt() == nil || first.GetMessage() == "" || first.GetSize() != int32(len(campaignBytes)) || first.GetPayload() != nil {
		t.Errorf("listed dead letter %v", first)
	}

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			req  *ingestv1.ListDeadLettersRequest
			want string
		}{
			{&ingestv1.ListDeadLettersRequest{Reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD}, "dl-typed dl-json dl-mobile"},
			{&ingestv1.ListDeadLettersRequest{Reason: ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, Environment: env}, "dl-required"},
			{&ingestv1.ListDeadLettersRequest{Environment: env}, "dl-typed dl-json dl-mobile dl-required dl-unknown"},
			{&ingestv1.ListDeadLettersRequest{Environment: "elsewhere"}, ""},
		}
		for _, tt := range tests {
			if got := keys(list(tt.req).GetDeadLetters()); got != tt.want {
				t.Errorf("ListDeadLetters(%v) = %q, want %q", tt.req, got, tt.want)
			}
		}
		_, err := admin.ListDeadLetters(ctx, &ingestv1.ListDeadLettersRequest{Environment: "a.b"})
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("environment a.b: %v, want InvalidArgument", err)
		}
	})

	t.Run("pages", func(t *testing.T) {
		var got []string
		var after uint64
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatal("paging does not end")
			}
			resp := list(&ingestv1.ListDeadLettersRequest{Limit: 2, AfterSequence: after})
			if len(resp.GetDeadLetters()) > 2 {
				t.Fatalf("page of %d, limit 2", len(resp.GetDeadLetters()))
			}
			got = append(got, keys(resp.GetDeadLetters()))
			if resp.GetNextAfterSequence() == 0 {
				break
			}
			after = resp.GetNextAfterSequence()
		}
		if strings.Join(got, " | ") != "dl-typed dl-json | dl-mobile dl-required | dl-unknown" {
			t.Errorf("pages %q", got)
		}
	})

	t.Run("inspect", func(t *testing.T) {
		got, err := admin.GetDeadLetter(ctx, &ingestv1.GetDeadLetterRequest{Sequence: first.GetSequence()})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.GetDeadLetter().GetPayload(), campaignBytes) {
			t.Errorf("payload %x, want the bytes as sent %x", got.GetDeadLetter().GetPayload(), campaignBytes)
		}
		if got.GetDeadLetter().GetEventKey() != "dl-typed" || !strings.Contains(got.GetDeadLetter().GetFieldPath(), "6") {
			t.Errorf("dead letter %v", got.GetDeadLetter())
		}
		_, err = admin.GetDeadLetter(ctx, &ingestv1.GetDeadLetterRequest{Sequence: 999})
		if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "999") {
			t.Errorf("GetDeadLetter(999): %v, want NotFound naming 999", err)
		}
	})

	replay := func(req *ingestv1.ReplayDeadLettersRequest) *ingestv1.ReplayDeadLettersResponse {
		t.Helper()
		if req.Actor == "" {
			req.Actor = "test"
		}
		resp, err := admin.ReplayDeadLetters(ctx, req)
		if err != nil {
			t.Fatalf("ReplayDeadLetters: %v", err)
		}
		if len(resp.GetResults()) != int(resp.GetAccepted()+resp.GetStillRejected()) {
			t.Errorf("%d results, %d accepted + %d still rejected", len(resp.GetResults()), resp.GetAccepted(), resp.GetStillRejected())
		}
		return resp
	}

	t.Run("replay before the fix changes nothing", func(t *testing.T) {
		resp := replay(&ingestv1.ReplayDeadLettersRequest{})
		if resp.GetAccepted() != 0 || resp.GetStillRejected() != 5 {
			t.Errorf("accepted %d, still rejected %d; want 0 and 5", resp.GetAccepted(), resp.GetStillRejected())
		}
		if n := len(deadLetterMsgs(t, b)); n != 5 {
			t.Errorf("%d dead letters, want 5", n)
		}
	})

	svc.SetCatalogue(fixedCatalogue(t))

	t.Run("replay one by sequence", func(t *testing.T) {
		resp := replay(&ingestv1.ReplayDeadLettersRequest{Sequences: []uint64{first.GetSequence()}})
		if resp.GetAccepted() != 1 || resp.GetResults()[0].GetSequence() != first.GetSequence() {
			t.Fatalf("replay of %d: %v", first.GetSequence(), resp)
		}
	})

	t.Run("replay after the fix", func(t *testing.T) {
		resp := replay(&ingestv1.ReplayDeadLettersRequest{Reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD})
		if resp.GetAccepted() != 2 || resp.GetStillRejected() != 0 {
			t.Errorf("accepted %d, still rejected %d; want 2 and 0", resp.GetAccepted(), resp.GetStillRejected())
		}
		resp = replay(&ingestv1.ReplayDeadLettersRequest{})
		if resp.GetAccepted() != 0 || resp.GetStillRejected() != 2 {
			t.Errorf("accepted %d, still rejected %d; want 0 and 2", resp.GetAccepted(), resp.GetStillRejected())
		}
		for _, r := range resp.GetResults() {
			if r.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_REJECTED || r.GetRejection() == nil {
				t.Errorf("result %v, want rejected with the reason", r)
			}
		}
	})

	events := byMsgID(t, storedMsgs(t, b, bus.StreamEvents))
	for _, key := range []string{"ok", "dl-typed", "dl-json", "dl-mobile"} {
		m, ok := events[key]
		if !ok {
			t.Errorf("event %s is not on EVENTS", key)
			continue
		}
		rec := &busv1.EventRecord{}
		if err := proto.Unmarshal(m.Data, rec); err != nil {
			t.Fatal(err)
		}
		if rec.GetEnvironment() != env || rec.GetEventName() != "clickstream.events.v1.ItemViewV2" || m.Subject != "events."+env+".item_view.v2" {
			t.Errorf("event %s: record %v on %s", key, rec, m.Subject)
		}
		if key != "ok" && !bytes.Contains(rec.GetPayload(), []byte("spring")) {
			t.Errorf("event %s: payload lost the campaign", key)
		}
	}
	if len(events) != 4 {
		t.Errorf("%d events on EVENTS, want 4", len(events))
	}
	left := deadLetterMsgs(t, b)
	var leftKeys []string
	for _, m := range left {
		leftKeys = append(leftKeys, m.Header.Get(jetstream.MsgIDHeader))
	}
	if strings.Join(leftKeys, " ") != "dl-dl-required dl-dl-unknown" {
		t.Errorf("dead letters left %q, want the two still invalid", leftKeys)
	}
	if got := keys(list(&ingestv1.ListDeadLettersRequest{}).GetDeadLetters()); got != "dl-required dl-unknown" {
		t.Errorf("listed after replay %q", got)
	}
}

// deadLetterMsgs reads the dead letters left in the stream, oldest first,
// skipping the deleted ones.
func deadLetterMsgs(t *testing.T, b *bus.Bus) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := b.JetStream().Stream(t.Context(), bus.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := s.GetMsg(t.Context(), seq, jetstream.WithGetMsgSubject("deadletter.>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

// A replayed event carries who replayed it and when on EVENTS; an event
// accepted when sent carries neither. A replay needs an actor that fits a
// header.
func TestReplayStampsActorAndTime(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	admin := ingest.NewAdmin(svc)
	send(t, svc, typed(t, "sent-ok", itemView()), typedBytes("sent-late", "clickstream.events.v1.ItemViewV2", itemViewWithCampaign(t)))
	svc.SetCatalogue(fixedCatalogue(t))

	for _, actor := range []string{"", "  ", "ann\r\nX-Evil: 1", strings.Repeat("a", 1000)} {
		_, err := admin.ReplayDeadLetters(t.Context(), &ingestv1.ReplayDeadLettersRequest{Actor: actor})
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "actor") || len(err.Error()) > 512 {
			t.Errorf("actor %.20q: %v, want InvalidArgument naming the actor", actor, err)
		}
	}
	if n := len(deadLetterMsgs(t, b)); n != 1 {
		t.Fatalf("%d dead letters after refused replays, want 1", n)
	}

	before := time.Now().UTC()
	resp, err := admin.ReplayDeadLetters(t.Context(), &ingestv1.ReplayDeadLettersRequest{Actor: " ops@example "})
	if err != nil || resp.GetAccepted() != 1 {
		t.Fatalf("replay: %v, %v", resp, err)
	}
	after := time.Now().UTC()
	events := byMsgID(t, storedMsgs(t, b, bus.StreamEvents))
	late, ok := events["sent-late"]
	if !ok {
		t.Fatal("the replayed event is not on EVENTS")
	}
	if by := late.Header.Get(ingest.HeaderReplayedBy); by != "ops@example" {
		t.Errorf("%s = %q, want ops@example", ingest.HeaderReplayedBy, by)
	}
	at, err := time.Parse(time.RFC3339Nano, late.Header.Get(ingest.HeaderReplayedAt))
	if err != nil || at.Before(before) || at.After(after) {
		t.Errorf("%s = %q (%v), want a time between %s and %s", ingest.HeaderReplayedAt, late.Header.Get(ingest.HeaderReplayedAt), err, before, after)
	}
	if ok := events["sent-ok"]; ok.Header.Get(ingest.HeaderReplayedBy) != "" || ok.Header.Get(ingest.HeaderReplayedAt) != "" {
		t.Errorf("an event accepted when sent carries replay headers: %v", ok.Header)
	}
}

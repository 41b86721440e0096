package ingest_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// serveIngest serves routes on a free local port until the test ends and
// returns the base URL.
func serveIngest(t testing.TB, routes server.Routes) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}, routes)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv.URL()
}

// Each rule of an idempotency key: a key breaking it rejects its event
// alone, with the rule in the message, into the dead-letter stream under
// an id derived from the key; a key keeping it is accepted as sent.
func TestIdempotencyKeyRules(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	tests := []struct {
		name   string
		key    string
		reason ingestv1.RejectReason // unspecified: accepted
		want   []string
	}{
		{name: "empty: ingest assigns one", key: ""},
		{name: "a UUID", key: "0191f7a6-0c9e-7d6b-a8b4-3c2f0e6d9a51"},
		{name: "exactly the limit", key: strings.Repeat("k", ingest.MaxIdempotencyKeyBytes)},
		{name: "printable UTF-8 and spaces", key: "заказ 42 · ✓"},
		{name: "one byte over", key: strings.Repeat("k", ingest.MaxIdempotencyKeyBytes+1),
			reason: ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, want: []string{"idempotency key: 129 bytes, over the limit of 128 bytes"}},
		{name: "100 KB", key: strings.Repeat("k", 100<<10),
			reason: ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, want: []string{"102400 bytes, over the limit of 128 bytes"}},
		{name: "CR LF", key: "k-1\r\nNats-Msg-Id: other",
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED, want: []string{"byte 3", `'\r'`, "control character"}},
		{name: "LF", key: "k-1\n",
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED, want: []string{`'\n'`, "control character"}},
		{name: "NUL", key: "k\x00",
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED, want: []string{"byte 1", `'\x00'`, "control character"}},
		{name: "tab", key: "k\t1",
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED, want: []string{`'\t'`, "control character"}},
		{name: "DEL", key: "k\x7f",
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED, want: []string{`'\x7f'`, "control character"}},
		{name: "C1 control", key: "k\u0085",
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED, want: []string{`'\u0085'`}},
		{name: "line separator", key: "k\u2028",
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED, want: []string{`'\u2028'`}},
		{name: "invalid UTF-8", key: "k\xff",
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED, want: []string{"byte 1 is not valid UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, svc, typed(t, tt.key, itemView()), typed(t, "", itemView()))
			got, other := resp.GetResults()[0], resp.GetResults()[1]
			if other.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
				t.Errorf("the other event of the batch: %v, want ACCEPTED", other)
			}
			if tt.reason == ingestv1.RejectReason_REJECT_REASON_UNSPECIFIED {
				if got.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
					t.Fatalf("key %q: %v, want ACCEPTED", tt.key, got)
				}
				if tt.key != "" && got.GetId() != tt.key {
					t.Errorf("answered id %q, want the key as sent %q", got.GetId(), tt.key)
				}
				if tt.key == "" && got.GetId() == "" {
					t.Error("no id assigned to an event sent without a key")
				}
				return
			}
			wantRejection(t, got.GetRejection(), tt.reason, "idempotency_key", tt.want...)
			if got.GetRejection().GetRetryable() {
				t.Error("a key rejection is retryable; sending the same key again cannot help")
			}
			id := got.GetId()
			if strings.Contains(id, tt.key) || len(id) > ingest.MaxIdempotencyKeyBytes || !strings.HasPrefix(id, "invalid-key-sha256-") {
				t.Errorf("answered id %q: want an id derived from the key, not the key", id)
			}
			again := send(t, svc, typed(t, tt.key, itemView())).GetResults()[0]
			if again.GetId() != id {
				t.Errorf("the same key got id %q, then %q: want one id per key", id, again.GetId())
			}
			if len(got.GetRejection().GetMessage()) > 400 {
				t.Errorf("rejection message of %d bytes: %q", len(got.GetRejection().GetMessage()), got.GetRejection().GetMessage())
			}
			dl, ok := byMsgID(t, storedMsgs(t, b, bus.StreamDeadLetter))["dl-"+id]
			if !ok {
				t.Fatalf("no dead letter dl-%s", id)
			}
			if dl.Header.Get(ingest.HeaderReason) != tt.reason.String() || dl.Header.Get(ingest.HeaderFieldPath) != "idempotency_key" {
				t.Errorf("dead letter headers %v", dl.Header)
			}
			excerpt := dl.Header.Get(ingest.HeaderRejectedKey)
			if excerpt == "" || len(excerpt) > 4*ingest.MaxIdempotencyKeyBytes+32 || strings.ContainsAny(excerpt, "\r\n\x00") {
				t.Errorf("rejected key kept as %q, want its start, escaped", excerpt)
			}
			want, _ := proto.Marshal(itemView())
			if !bytes.Equal(dl.Data, want) {
				t.Error("the dead letter lost the event's bytes")
			}
		})
	}
	if n := len(storedMsgs(t, b, bus.StreamEvents)); n != 4+len(tests) {
		t.Errorf("%d events on EVENTS, want %d", n, 4+len(tests))
	}
}

// A batch with a 100 KB idempotency key and a valid event, over Connect
// and REST: the first is rejected naming the limit, the second accepted,
// and the reply stays small (the key is not echoed).
func TestHugeIdempotencyKeyDoesNotFailTheBatch(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	url := serveIngest(t, ingest.Routes(ingest.RoutesConfig{}, svc, ingest.NewAdmin(svc)))
	huge := strings.Repeat("K", 100<<10)
	const maxReply = 4 << 10

	check := func(t *testing.T, resp *ingestv1.SendBatchResponse, size int) {
		t.Helper()
		if got := resp.GetResults(); len(got) != 2 || got[0].GetStatus() != ingestv1.EventStatus_EVENT_STATUS_REJECTED ||
			got[1].GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("results %v, want REJECTED then ACCEPTED", got)
		}
		wantRejection(t, resp.GetResults()[0].GetRejection(), ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "idempotency_key",
			"102400 bytes, over the limit of 128 bytes")
		if size > maxReply {
			t.Errorf("the reply is %d bytes, want under %d", size, maxReply)
		}
	}

	t.Run("connect", func(t *testing.T) {
		client := ingestv1connect.NewIngestServiceClient(http.DefaultClient, url)
		resp, err := client.SendBatch(t.Context(), &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{
			typed(t, huge, itemView()), typed(t, "valid-connect", itemView())}})
		if err != nil {
			t.Fatalf("SendBatch: %v", err)
		}
		check(t, resp, proto.Size(resp))
	})

	t.Run("rest", func(t *testing.T) {
		body, err := protojson.Marshal(&ingestv1.SendBatchRequest{Events: []*ingestv1.Event{
			typed(t, huge, itemView()), typed(t, "valid-rest", itemView())}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := http.Post(url+"/v1/events:batch", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %.500s", r.StatusCode, data)
		}
		resp := &ingestv1.SendBatchResponse{}
		if err := protojson.Unmarshal(data, resp); err != nil {
			t.Fatalf("reply %.500s: %v", data, err)
		}
		check(t, resp, len(data))
	})

	events := byMsgID(t, storedMsgs(t, b, bus.StreamEvents))
	if _, ok := events["valid-connect"]; !ok || len(events) != 2 {
		t.Errorf("EVENTS holds %d events (valid-connect: %v), want the two valid ones", len(events), ok)
	}
	dead := storedMsgs(t, b, bus.StreamDeadLetter)
	if len(dead) != 1 {
		// The same key twice has one derived id: the second is a duplicate.
		t.Fatalf("%d dead letters, want 1 for the same huge key sent twice", len(dead))
	}
	if id := dead[0].Header.Get(jetstream.MsgIDHeader); len(id) > 64 || strings.Contains(id, "KKKK") {
		t.Errorf("dead letter id %q carries the key", id)
	}
}

// Values a client sent that a rejection echoes are cut: a 100 KB type URL
// or event name costs a short message and a short dead-letter header.
func TestRejectionsDoNotEchoUnboundedInput(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	long := "type.googleapis.com/" + strings.Repeat("x", 100<<10)
	resp := send(t, svc,
		typedBytes("long-url", strings.TrimPrefix(long, "type.googleapis.com/"), []byte{0x08, 0x01}),
		jsonEvent(t, "long-name", &ingestv1.JsonEvent{Name: strings.Repeat("n", 100<<10) + "\r\n"}, `{}`),
		typed(t, "ok", itemView()))
	for _, r := range resp.GetResults()[:2] {
		if r.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_REJECTED || len(r.GetRejection().GetMessage()) > 512 {
			t.Errorf("result %d: %s with a message of %d bytes, want REJECTED with a short one", r.GetIndex(), r.GetStatus(), len(r.GetRejection().GetMessage()))
		}
	}
	if size := proto.Size(resp); size > 4<<10 {
		t.Errorf("reply of %d bytes", size)
	}
	for _, m := range storedMsgs(t, b, bus.StreamDeadLetter) {
		if name := m.Header.Get(ingest.HeaderEvent); len(name) > 1024 || strings.ContainsAny(name, "\r\n") {
			t.Errorf("dead letter %s keeps an event name of %d bytes", m.Header.Get(jetstream.MsgIDHeader), len(name))
		}
	}
}

// A dead letter rejected for its key stays rejected on replay, whatever
// the catalogue: published under the derived id, it would double the event
// the client sends again with a valid key.
func TestReplayKeepsKeyRejections(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	send(t, svc, typed(t, "bad\nkey", itemView()))
	resp, err := ingest.NewAdmin(svc).ReplayDeadLetters(t.Context(), &ingestv1.ReplayDeadLettersRequest{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccepted() != 0 || resp.GetStillRejected() != 1 {
		t.Fatalf("replay: %v, want the dead letter still rejected", resp)
	}
	wantRejection(t, resp.GetResults()[0].GetRejection(), ingestv1.RejectReason_REJECT_REASON_MALFORMED, "idempotency_key", "control character")
	if n := len(storedMsgs(t, b, bus.StreamEvents)); n != 0 {
		t.Errorf("%d events on EVENTS after the replay, want 0", n)
	}
	if _, err := ingest.NewAdmin(svc).ReplayDeadLetters(t.Context(), &ingestv1.ReplayDeadLettersRequest{}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("replay without actor: %v, want InvalidArgument", err)
	}
}

// FuzzIdempotencyKey checks the key rules against arbitrary keys and sends
// each through SendBatch on a real bus beside a valid event: the batch never
// fails; a key the rules accept is ACCEPTED (or DUPLICATE) as sent, one they
// reject is REJECTED with a short message, and the derived id and the kept
// excerpt are short and header-safe.
func FuzzIdempotencyKey(f *testing.F) {
	for _, k := range []string{"", "k-1", "0191f7a6-0c9e-7d6b-a8b4-3c2f0e6d9a51", strings.Repeat("k", 128), strings.Repeat("k", 129),
		"a\r\nb", "\x00", "\x7f", "\u0085", "\u2028", "\xff", "\xe2\x82", "заказ ✓", "\ufffd", " "} {
		f.Add(k)
	}
	svc := ingest.New(ingest.Config{Environment: env}, realCatalogue(f), bustest.New(f))
	f.Fuzz(func(t *testing.T, key string) {
		rej := ingest.CheckIdempotencyKey(key)
		headerSafe := func(s string) bool {
			return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
		}
		if rej == nil && (len(key) > ingest.MaxIdempotencyKeyBytes || !headerSafe(key)) {
			t.Fatalf("key %q accepted: over the limit or not header-safe", key)
		}
		if rej != nil {
			if rej.GetFieldPath() != "idempotency_key" || len(rej.GetMessage()) > 300 || !strings.HasPrefix(rej.GetMessage(), "idempotency key: ") {
				t.Fatalf("key %q: rejection %v", key, rej)
			}
			if id := ingest.RejectedKeyID(key); len(id) > 64 || !headerSafe(id) || id != ingest.RejectedKeyID(key) {
				t.Fatalf("derived id %q", id)
			}
			if ex := ingest.KeyExcerpt(key); len(ex) > 4*ingest.MaxIdempotencyKeyBytes+32 || strings.ContainsFunc(ex, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
				t.Fatalf("excerpt %q", ex)
			}
		}
		resp, err := svc.SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{
			typed(t, key, itemView()), typed(t, "", itemView())}})
		if err != nil {
			t.Fatalf("key %q failed the batch: %v", key, err)
		}
		got := resp.GetResults()[0]
		switch {
		case rej != nil && got.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_REJECTED:
			t.Fatalf("key %q: %v, want REJECTED", key, got)
		case rej == nil && got.GetStatus() == ingestv1.EventStatus_EVENT_STATUS_REJECTED:
			t.Fatalf("valid key %q: %v", key, got)
		case rej == nil && key != "" && got.GetId() != key:
			t.Fatalf("valid key %q answered as %q", key, got.GetId())
		}
		if resp.GetResults()[1].GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("the other event: %v", resp.GetResults()[1])
		}
	})
}

// An event far over MaxEventBytes is rejected alone, the rest of the batch
// accepted: its dead letter keeps its bytes whole (2 MiB, over the 512 KiB
// dead letters kept before), and a replay keeps it rejected as too large.
// One over what the bus takes in a message (bus.MaxPayload, beyond any
// request ingest reads) keeps the start of its bytes and their size, and
// cannot be sent again.
func TestHugeEventDoesNotFailTheBatch(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	huge := make([]byte, 2<<20)
	for i := range huge {
		huge[i] = byte(i)
	}
	over := make([]byte, bus.MaxPayload+1<<20)
	resp := send(t, svc, typedBytes("huge", "clickstream.events.v1.ItemViewV2", huge), typed(t, "ok", itemView()),
		typedBytes("over", "clickstream.events.v1.ItemViewV2", over))
	if got := statuses(resp); got[0] != ingestv1.EventStatus_EVENT_STATUS_REJECTED || got[1] != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED ||
		got[2] != ingestv1.EventStatus_EVENT_STATUS_REJECTED {
		t.Fatalf("statuses %v, want REJECTED, ACCEPTED, REJECTED", got)
	}
	wantRejection(t, resp.GetResults()[0].GetRejection(), ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "", "2097152 bytes")
	stored := byMsgID(t, storedMsgs(t, b, bus.StreamDeadLetter))
	dl, ok := stored["dl-huge"]
	if !ok {
		t.Fatal("no dead letter for the huge event")
	}
	t.Logf("dead letter of the 2 MiB event: %d bytes, truncated header %q", len(dl.Data), dl.Header.Get(ingest.HeaderPayloadTruncated))
	if dl.Header.Get(ingest.HeaderPayloadTruncated) != "" || !bytes.Equal(dl.Data, huge) {
		t.Errorf("dead letter of %d bytes with %s %q; want the %d bytes whole", len(dl.Data), ingest.HeaderPayloadTruncated, dl.Header.Get(ingest.HeaderPayloadTruncated), len(huge))
	}
	cut, ok := stored["dl-over"]
	t.Logf("dead letter of the %d-byte event: %d bytes, truncated header %q", len(over), len(cut.Data), cut.Header.Get(ingest.HeaderPayloadTruncated))
	if !ok || cut.Header.Get(ingest.HeaderPayloadTruncated) != strconv.Itoa(len(over)) || len(cut.Data) == 0 || len(cut.Data) >= len(over) {
		t.Errorf("dead letter of the event over the bus's limit: %d bytes with %s %q", len(cut.Data), ingest.HeaderPayloadTruncated, cut.Header.Get(ingest.HeaderPayloadTruncated))
	}
	replayed, err := ingest.NewAdmin(svc).ReplayDeadLetters(t.Context(), &ingestv1.ReplayDeadLettersRequest{Actor: "test"})
	if err != nil || replayed.GetStillRejected() != 2 {
		t.Fatalf("replay: %v, %v; want both still rejected", replayed, err)
	}
	for _, r := range replayed.GetResults() {
		want := "2097152 bytes"
		if r.GetSequence() == cut.Sequence {
			want = "cannot be sent again"
		}
		wantRejection(t, r.GetRejection(), ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "", want)
	}
}

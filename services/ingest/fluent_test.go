package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// fluentInput serves a Fluent Forward input of svc on addr ("127.0.0.1:0"
// picks a port) until the test ends.
type fluentInput struct {
	t    testing.TB
	svc  *ingest.Service
	cfg  ingest.FluentConfig
	addr string

	mu  sync.Mutex
	cur *ingest.Fluent
}

func startFluent(t testing.TB, svc *ingest.Service, cfg ingest.FluentConfig) *fluentInput {
	t.Helper()
	in := &fluentInput{t: t, svc: svc, cfg: cfg, addr: "127.0.0.1:0"}
	in.start()
	t.Cleanup(func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.cur.Close()
	})
	return in
}

func (in *fluentInput) start() {
	ln, err := net.Listen("tcp", in.addr)
	if err != nil {
		in.t.Fatalf("listen %s: %v", in.addr, err)
	}
	in.addr = ln.Addr().String()
	in.cur = ingest.NewFluent(in.svc, in.cfg)
	go func(f *ingest.Fluent) {
		if err := f.Serve(ln); err != nil {
			in.t.Errorf("fluent serve: %v", err)
		}
	}(in.cur)
}

// restart closes the input (its listener and every connection, chunks in
// flight unacknowledged) and starts a new one on the same port.
func (in *fluentInput) restart() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.cur.Close()
	in.start()
}

func (in *fluentInput) port() int {
	_, p, _ := net.SplitHostPort(in.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// streamCount is the number of messages a stream holds.
func streamCount(t testing.TB, b *bus.Bus, name string) uint64 {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s info: %v", name, err)
	}
	return info.State.Msgs
}

// restartMidStream restarts in once EVENTS and DEADLETTER together hold at
// least at messages; it returns a wait for that to have happened.
func restartMidStream(t *testing.T, b *bus.Bus, in *fluentInput, at uint64) (wait func() bool) {
	done := make(chan bool, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				done <- false
				return
			case <-time.After(5 * time.Millisecond):
			}
			if streamCount(t, b, bus.StreamEvents)+streamCount(t, b, bus.StreamDeadLetter) >= at {
				in.restart()
				done <- true
				return
			}
		}
	}()
	return func() bool { close(stop); return <-done }
}

// fluentRecord is record i of the acceptance tests: an ItemViewV2 in the
// map form, every tenth one invalid (item_id not a number). referrer
// carries i, so each record can be found on EVENTS or in DEADLETTER.
func fluentRecord(i int) map[string]any {
	r := map[string]any{
		"context.user_id":     "u-42",
		"context.device_id":   "d-1",
		"context.platform":    "ios",
		"context.app_version": "7.12.0",
		"item_id":             int64(1000 + i),
		"category_id":         24,
		"referrer":            fmt.Sprintf("rec-%d", i),
		"price":               map[string]any{"amount_minor": 129900, "currency": "EUR"},
	}
	if i%10 == 9 {
		r["item_id"] = "not-a-number"
	}
	return r
}

// checkEachOnce reads EVENTS and DEADLETTER and checks that records 0..n-1
// are each stored exactly once, the valid ones as events of env and the
// invalid ones as dead letters.
func checkEachOnce(t *testing.T, b *bus.Bus, env string, n int) {
	t.Helper()
	events := storedMsgs(t, b, bus.StreamEvents)
	dead := storedMsgs(t, b, bus.StreamDeadLetter)
	t.Logf("EVENTS %d + DEADLETTER %d = %d (sent %d records)", len(events), len(dead), len(events)+len(dead), n)
	seen := make([]int, n)
	index := func(referrer string) int {
		i, err := strconv.Atoi(strings.TrimPrefix(referrer, "rec-"))
		if err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected referrer %q", referrer)
		}
		return i
	}
	for _, m := range events {
		rec := &busv1.EventRecord{}
		if err := proto.Unmarshal(m.Data, rec); err != nil {
			t.Fatal(err)
		}
		if rec.GetEnvironment() != env {
			t.Errorf("event %s in environment %q, want %q", rec.GetId(), rec.GetEnvironment(), env)
		}
		iv := &eventsv1.ItemViewV2{}
		if err := proto.Unmarshal(rec.GetPayload(), iv); err != nil {
			t.Fatal(err)
		}
		i := index(iv.GetReferrer())
		if i%10 == 9 {
			t.Errorf("invalid record %d is on EVENTS", i)
		}
		seen[i]++
	}
	for _, m := range dead {
		ev := &eventsv1.MobileAppEvent{}
		if err := proto.Unmarshal(m.Data, ev); err != nil {
			t.Fatal(err)
		}
		i := index(ev.GetParams()["referrer"])
		if i%10 != 9 {
			t.Errorf("valid record %d is in DEADLETTER: %s", i, m.Header.Get(ingest.HeaderMessage))
		}
		if got := m.Header.Get(ingest.HeaderReason); got != "REJECT_REASON_WRONG_TYPE" && got != "REJECT_REASON_MALFORMED" {
			t.Errorf("dead letter of record %d: reason %s (%s)", i, got, m.Header.Get(ingest.HeaderMessage))
		}
		seen[i]++
	}
	lost, dup := 0, 0
	for i, c := range seen {
		switch {
		case c == 0:
			lost++
			if lost < 5 {
				t.Errorf("record %d is lost", i)
			}
		case c > 1:
			dup++
			if dup < 5 {
				t.Errorf("record %d is stored %d times", i, c)
			}
		}
	}
	if lost+dup > 0 || len(events)+len(dead) != n {
		t.Errorf("%d lost, %d duplicated; EVENTS %d + DEADLETTER %d, want %d", lost, dup, len(events), len(dead), n)
	}
	if want := n - n/10; len(events) != want {
		t.Errorf("EVENTS holds %d, want %d", len(events), want)
	}
}

// TestFluentGoClient sends 10,000 records with fluent-logger-golang
// (Message mode, RequestAck) while the input restarts mid-stream; the
// client sends its unacknowledged chunk again. Each record is stored once.
func TestFluentGoClient(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 10,000 records")
	}
	svc, b := newService(t, ingest.Config{})
	in := startFluent(t, svc, ingest.FluentConfig{})
	logger, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: in.port(), RequestAck: true,
		SubSecondPrecision: true, Timeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		RetryWait: 20, MaxRetry: 20, MaxRetryWait: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer logger.Close()
	const n = 10000
	wait := restartMidStream(t, b, in, n/3)
	for i := range n {
		if err := logger.Post("clickstream.item_view.v2", fluentRecord(i)); err != nil {
			t.Fatalf("post record %d: %v", i, err)
		}
	}
	if !wait() {
		t.Error("the input was not restarted mid-stream")
	}
	checkEachOnce(t, b, env, n)
}

// fluentConn is a raw client connection for the protocol tests.
type fluentConn struct {
	t    *testing.T
	conn net.Conn
	dec  *msgpack.Decoder
}

func dialFluent(t *testing.T, addr string) *fluentConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	return &fluentConn{t: t, conn: conn, dec: msgpack.NewDecoder(conn)}
}

func (c *fluentConn) send(v any) {
	c.t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *fluentConn) read() any {
	c.t.Helper()
	v, err := c.dec.DecodeInterface()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return v
}

func (c *fluentConn) wantAck(chunk string) {
	c.t.Helper()
	v := c.read()
	m, ok := v.(map[string]any)
	if !ok || m["ack"] != chunk {
		c.t.Fatalf("answer %v, want ack %q", v, chunk)
	}
}

// eventTime encodes t as the protocol's EventTime (extension 0).
type eventTime time.Time

var _ msgpack.CustomEncoder = eventTime{}

func (e eventTime) EncodeMsgpack(enc *msgpack.Encoder) error {
	t := time.Time(e)
	var b [10]byte
	b[0], b[1] = 0xd7, 0x00
	sec, nsec := uint32(t.Unix()), uint32(t.Nanosecond())
	b[2], b[3], b[4], b[5] = byte(sec>>24), byte(sec>>16), byte(sec>>8), byte(sec)
	b[6], b[7], b[8], b[9] = byte(nsec>>24), byte(nsec>>16), byte(nsec>>8), byte(nsec)
	_, err := enc.Writer().Write(b[:])
	return err
}

func packedEntries(t *testing.T, from, to int) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	for i := from; i < to; i++ {
		if err := enc.Encode([]any{eventTime(occurred), fluentRecord(i)}); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestFluentModes sends records in each mode of the protocol (Message,
// Forward, PackedForward, CompressedPackedForward), each chunk twice: every
// chunk is acknowledged, and every record is stored once.
func TestFluentModes(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	in := startFluent(t, svc, ingest.FluentConfig{})
	c := dialFluent(t, in.addr)
	const tag = "clickstream.item_view.v2"
	for range 2 {
		// Message mode: integer time and EventTime.
		c.send([]any{tag, occurred.Unix(), fluentRecord(0), map[string]any{"chunk": "m-0"}})
		c.wantAck("m-0")
		c.send([]any{tag, eventTime(occurred), fluentRecord(1), map[string]any{"chunk": "m-1"}})
		c.wantAck("m-1")
		// Forward mode.
		var entries []any
		for i := 2; i < 12; i++ {
			entries = append(entries, []any{eventTime(occurred), fluentRecord(i)})
		}
		c.send([]any{tag, entries, map[string]any{"chunk": "f-0", "size": 10}})
		c.wantAck("f-0")
		// PackedForward, as bin.
		c.send([]any{tag, packedEntries(t, 12, 30), map[string]any{"chunk": "p-0", "size": 18}})
		c.wantAck("p-0")
		// CompressedPackedForward: two gzip members.
		z := append(gzipped(t, packedEntries(t, 30, 35)), gzipped(t, packedEntries(t, 35, 40))...)
		c.send([]any{tag, z, map[string]any{"chunk": "z-0", "size": 10, "compressed": "gzip"}})
		c.wantAck("z-0")
	}
	// Without a chunk: stored, not answered; the next chunk's ack is the
	// next answer.
	c.send([]any{tag, occurred.Unix(), fluentRecord(40)})
	c.send([]any{tag, occurred.Unix(), fluentRecord(41), map[string]any{"chunk": "m-41"}})
	c.wantAck("m-41")
	// Times with metadata ([time, {metadata}], Fluent Bit 2.1+), and nil.
	c.send([]any{tag, []any{[]any{[]any{eventTime(occurred), map[string]any{"host": "h"}}, fluentRecord(42)}}, map[string]any{"chunk": "meta"}})
	c.wantAck("meta")
	c.send([]any{tag, nil, fluentRecord(43), map[string]any{"chunk": "nil-time"}})
	c.wantAck("nil-time")
	checkEachOnce(t, b, env, 44)
}

// TestFluentRejections: records the map form rejects, an unknown tag, an
// unknown version and a record that is no map each go to DEADLETTER with
// the map form's reason; the chunk is acknowledged.
func TestFluentRejections(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	in := startFluent(t, svc, ingest.FluentConfig{Tags: map[string]string{"app.views": "clickstream.events.v1.ItemViewV2"}})
	c := dialFluent(t, in.addr)
	valid := fluentRecord(0)
	unknownField := fluentRecord(1)
	unknownField["colour"] = "red"
	badEnum := fluentRecord(2)
	badEnum["context.platform"] = "blackberry"
	cases := []struct {
		tag    string
		record any
		reason string
		path   string
	}{
		{"clickstream.item_view.v2", unknownField, "REJECT_REASON_UNKNOWN_FIELD", "colour"},
		{"clickstream.item_view.v2", badEnum, "REJECT_REASON_WRONG_TYPE", "context.platform"},
		{"clickstream.item_view.v9", valid, "REJECT_REASON_UNKNOWN_VERSION", "mobile.version"},
		{"clickstream.no_such_event.v1", valid, "REJECT_REASON_UNKNOWN_EVENT", "tag"},
		{"nginx.access", valid, "REJECT_REASON_UNKNOWN_EVENT", "tag"},
		{"clickstream.item_view.v2", "a string", "REJECT_REASON_MALFORMED", "record"},
		{"clickstream.item_view.v2", map[string]any{"idempotency_key": 7}, "REJECT_REASON_MALFORMED", "idempotency_key"},
		{"clickstream.item_view.v2", map[string]any{"bad\r\nkey": []any{1.5, map[string]any{"x": nil}}}, "REJECT_REASON_UNKNOWN_FIELD", "bad  key"}, // the bus writes CR and LF in headers as spaces
		{"clickstream.item_view.v2\r\n", valid, "REJECT_REASON_UNKNOWN_EVENT", "tag"},
	}
	for i, tc := range cases {
		c.send([]any{tc.tag, occurred.Unix(), tc.record, map[string]any{"chunk": fmt.Sprint("r-", i)}})
		c.wantAck(fmt.Sprint("r-", i))
	}
	// A mapped tag and a record's own idempotency key.
	keyed := fluentRecord(3)
	keyed["idempotency_key"] = "my-key-3"
	c.send([]any{"app.views", occurred.Unix(), keyed, map[string]any{"chunk": "mapped"}})
	c.wantAck("mapped")

	dead := storedMsgs(t, b, bus.StreamDeadLetter)
	if len(dead) != len(cases) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(cases))
	}
	for i, tc := range cases {
		h := dead[i].Header
		if h.Get(ingest.HeaderReason) != tc.reason || h.Get(ingest.HeaderFieldPath) != tc.path {
			t.Errorf("%s %v: %s at %q (%s), want %s at %q", tc.tag, tc.record, h.Get(ingest.HeaderReason),
				h.Get(ingest.HeaderFieldPath), h.Get(ingest.HeaderMessage), tc.reason, tc.path)
		}
		if i >= 3 && i <= 4 && h.Get(ingest.HeaderEvent) != tc.tag {
			t.Errorf("%s: dead letter names event %q, want the tag", tc.tag, h.Get(ingest.HeaderEvent))
		}
		if i == 8 && h.Get(ingest.HeaderEvent) != `"clickstream.item_view.v2\r\n"` {
			t.Errorf("%s: dead letter names event %q, want the tag quoted in ASCII", tc.tag, h.Get(ingest.HeaderEvent))
		}
		// A record the map form holds is kept as a MobileAppEvent; one it
		// cannot hold, as its msgpack.
		switch {
		case i == 5:
			var kept any
			if h.Get(ingest.HeaderPayloadForm) != ingest.FluentPayloadForm || msgpack.Unmarshal(dead[i].Data, &kept) != nil || kept != tc.record {
				t.Errorf("dead letter of a string record: form %q, data %q", h.Get(ingest.HeaderPayloadForm), dead[i].Data)
			}
		case i == 6:
			if h.Get(ingest.HeaderPayloadForm) != ingest.FluentPayloadForm {
				t.Errorf("dead letter of a record whose idempotency_key is a number: form %q", h.Get(ingest.HeaderPayloadForm))
			}
		case h.Get(ingest.HeaderPayloadForm) != "mobile":
			t.Errorf("%s: dead letter form %q, want mobile", tc.tag, h.Get(ingest.HeaderPayloadForm))
		}
	}
	events := storedMsgs(t, b, bus.StreamEvents)
	if len(events) != 1 || events[0].Header.Get(jetstream.MsgIDHeader) != "my-key-3" {
		t.Fatalf("EVENTS %d messages, want the one with key my-key-3", len(events))
	}
}

// TestFluentSharedKey: with shared keys, the handshake binds a connection
// to the key's environment; a wrong key is refused in PONG.
func TestFluentSharedKey(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	in := startFluent(t, svc, ingest.FluentConfig{Hostname: "ingest-test",
		SharedKeys: map[string]string{"secret-a": "partner-a", "secret-b": "partner-b"}})
	handshake := func(key string) (*fluentConn, []any) {
		c := dialFluent(t, in.addr)
		helo, ok := c.read().([]any)
		if !ok || len(helo) != 2 || helo[0] != "HELO" {
			t.Fatalf("HELO: %v", helo)
		}
		nonce, _ := helo[1].(map[string]any)["nonce"].([]byte)
		const salt, host = "salt-1", "client-host"
		h := sha512.Sum512([]byte(salt + host + string(nonce) + key))
		c.send([]any{"PING", host, salt, hex.EncodeToString(h[:]), "", ""})
		pong, _ := c.read().([]any)
		if len(pong) != 5 || pong[0] != "PONG" {
			t.Fatalf("PONG: %v", pong)
		}
		if pong[1] == true {
			want := sha512.Sum512([]byte(salt + "ingest-test" + string(nonce) + key))
			if pong[3] != "ingest-test" || pong[4] != hex.EncodeToString(want[:]) {
				t.Errorf("PONG does not prove the server holds the key: %v", pong)
			}
		}
		return c, pong
	}
	c, pong := handshake("secret-b")
	if pong[1] != true {
		t.Fatalf("PONG with the right key: %v", pong)
	}
	c.send([]any{"clickstream.item_view.v2", occurred.Unix(), fluentRecord(0), map[string]any{"chunk": "k-0"}})
	c.wantAck("k-0")
	events := storedMsgs(t, b, bus.StreamEvents)
	rec := &busv1.EventRecord{}
	if len(events) != 1 || proto.Unmarshal(events[0].Data, rec) != nil || rec.GetEnvironment() != "partner-b" ||
		rec.GetSource().GetKeyId() != ingest.FluentKeyID("secret-b") || rec.GetSource().GetProtocol() != busv1.Protocol_PROTOCOL_FLUENT {
		t.Fatalf("event stored as %v, want environment partner-b by protocol fluent", rec)
	}

	c, pong = handshake("wrong")
	if pong[1] != false || !strings.Contains(fmt.Sprint(pong[2]), "shared_key") {
		t.Fatalf("PONG with a wrong key: %v", pong)
	}
	if _, err := c.dec.DecodeInterface(); err == nil {
		t.Error("the connection stays open after a failed handshake")
	}
}

// TestFluentLimits: a chunk over the record or byte limit closes the
// connection unacknowledged; a connection over the limit is closed.
func TestFluentLimits(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	in := startFluent(t, svc, ingest.FluentConfig{MaxChunkRecords: 5, MaxChunkBytes: 4096})
	for name, msg := range map[string]any{
		"records":           []any{"clickstream.item_view.v2", packedEntries(t, 0, 6), map[string]any{"chunk": "x"}},
		"bytes":             []any{"clickstream.item_view.v2", bytes.Repeat([]byte{0xc0}, 80<<10), map[string]any{"chunk": "x"}},
		"decompressed size": []any{"clickstream.item_view.v2", gzipped(t, bytes.Repeat([]byte{0xc0}, 8192)), map[string]any{"chunk": "x", "compressed": "gzip"}},
	} {
		c := dialFluent(t, in.addr)
		b, _ := msgpack.Marshal(msg)
		c.conn.Write(b)
		if v, err := c.dec.DecodeInterface(); err == nil {
			t.Errorf("%s over the limit: answered %v, want the connection closed", name, v)
		}
	}
	if n := streamCount(t, b, bus.StreamEvents) + streamCount(t, b, bus.StreamDeadLetter); n != 0 {
		t.Errorf("%d messages stored from chunks over the limits", n)
	}

	// One connection at most: a second is closed while the first is open.
	one := startFluent(t, svc, ingest.FluentConfig{MaxConnections: 1})
	first := dialFluent(t, one.addr)
	first.send([]any{"clickstream.item_view.v2", occurred.Unix(), fluentRecord(0), map[string]any{"chunk": "first"}})
	first.wantAck("first")
	second := dialFluent(t, one.addr)
	if v, err := second.dec.DecodeInterface(); err == nil {
		t.Errorf("a connection over MaxConnections: answered %v, want it closed", v)
	}
}

// FuzzFluentForward feeds arbitrary bytes to a connection of the input: it
// never panics, and it answers or closes.
func FuzzFluentForward(f *testing.F) {
	seed := func(v any) []byte {
		b, _ := msgpack.Marshal(v)
		return b
	}
	rec := fluentRecord(1)
	f.Add(seed([]any{"clickstream.item_view.v2", 1714564800, rec, map[string]any{"chunk": "a"}}))
	f.Add(seed([]any{"clickstream.item_view.v2", []any{[]any{1, rec}, []any{2, "x"}}, map[string]any{"chunk": "b"}}))
	f.Add(seed([]any{"clickstream.item_view.v2", seed([]any{1, rec}), map[string]any{"compressed": "text"}}))
	f.Add(seed([]any{"x", []byte{0x1f, 0x8b}, map[string]any{"compressed": "gzip", "chunk": 1}}))
	f.Add([]byte{0x94, 0xa1, 'a', 0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 1, 0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	// Deep nesting: in the frame, in a record, inside packed entries.
	f.Add(bytes.Repeat([]byte{0x91}, 100_000))
	f.Add(append([]byte{0x93, 0xa1, 'x', 0x01}, bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 10_000)...))
	f.Add(seed([]any{"x", bytes.Repeat([]byte{0x91}, 10_000), map[string]any{"compressed": "text"}}))
	svc := ingest.New(ingest.Config{Environment: env}, realCatalogue(f), bustest.New(f))
	input := ingest.NewFluent(svc, ingest.FluentConfig{MaxChunkBytes: 1 << 16, MaxChunkRecords: 100, IdleTimeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	f.Cleanup(func() { input.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() {
			input.ServeConn(server)
			close(done)
		}()
		go func() {
			// Read what the input answers, so its writes never block.
			var buf [512]byte
			for {
				if _, err := client.Read(buf[:]); err != nil {
					return
				}
			}
		}()
		_ = client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the input neither answered nor closed")
		}
	})
}

// TestFluentNodeClient sends 10,000 records with the npm fluent-logger
// package (CompressedPackedForward, requireAckResponse, shared key) while
// the input restarts mid-stream; the script emits the records of an
// unacknowledged chunk again with their idempotency keys. Each record is
// stored once, in the shared key's environment. Without node or the npm
// package the test skips, and fails under CI.
func TestFluentNodeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 10,000 records")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed (CI is set): apt-get install nodejs")
		}
		t.Skip("node is not installed, so the Node Fluent client test is skipped")
	}
	modules, err := filepath.Abs(filepath.Join("..", "..", "tools", "npm", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "fluent-logger")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the npm fluent-logger package is not installed (CI is set): run npm ci --prefix tools/npm")
		}
		t.Skip("the npm fluent-logger package is not installed, so the Node Fluent client test is skipped: run npm ci --prefix tools/npm")
	}
	svc, b := newService(t, ingest.Config{})
	in := startFluent(t, svc, ingest.FluentConfig{Hostname: "ingest-test", SharedKeys: map[string]string{"node-secret": "node-env"}})
	const n = 10000
	wait := restartMidStream(t, b, in, n/3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "fluent_client.js"), strconv.Itoa(in.port()), "node-secret", strconv.Itoa(n), "500")
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node fluent_client.js: %v\n%s", err, out)
	}
	t.Logf("node: %s", bytes.TrimSpace(out))
	if !wait() {
		t.Error("the input was not restarted mid-stream")
	}
	checkEachOnce(t, b, "node-env", n)
}

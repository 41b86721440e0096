package ingest_test

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// logBuffer collects log lines for a test to read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLog waits until the log holds want, and fails the test if it does
// not within ten seconds.
func waitLog(t *testing.T, logs *logBuffer, want string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s := logs.String(); strings.Contains(s, want) {
			return s
		}
	}
	t.Fatalf("the log never said %q: %s", want, logs.String())
	return ""
}

// closedWithoutAnswer reads from c until the input closes it, and fails if
// it answers anything first.
func closedWithoutAnswer(t *testing.T, c *fluentConn, what string) {
	t.Helper()
	if v, err := c.dec.DecodeInterface(); err == nil {
		t.Errorf("%s: answered %v, want the connection closed", what, v)
	}
}

// TestFluentDeepNesting: messages nested millions deep, in the message
// itself or inside a packed or compressed chunk, close their connection
// with the reason logged, store nothing, and leave the input serving: the
// nesting is refused while reading, before anything recurses into it (an
// 8.6 MB frame of 0x91 bytes overflowed the stack of the whole process).
func TestFluentDeepNesting(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	logs := &logBuffer{}
	in := startFluent(t, svc, ingest.FluentConfig{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	deep := bytes.Repeat([]byte{0x91}, 8_600_000)
	probes := map[string][]byte{
		// The frame itself: arrays nested 8.6 million deep.
		"frame": deep,
		// A Forward message whose record nests 100,000 deep.
		"record": append(msgpackOf(t, "clickstream.item_view.v2"), bytes.Repeat([]byte{0x91}, 100_000)...),
		// PackedForward: the entries are bytes to the frame, nested inside.
		"packed": msgpackOf(t, []any{"clickstream.item_view.v2", deep[:1_000_000], map[string]any{"chunk": "p"}}),
		// CompressedPackedForward, the same once inflated.
		"compressed": msgpackOf(t, []any{"clickstream.item_view.v2", gzipped(t, deep[:1_000_000]), map[string]any{"chunk": "c", "compressed": "gzip"}}),
	}
	// "record" is [tag, <deep>]: make it a two-element array.
	probes["record"] = append([]byte{0x92}, probes["record"]...)
	for name, frame := range probes {
		before := strings.Count(logs.String(), "nested deeper")
		c := dialFluent(t, in.addr)
		go func() { _, _ = io.Copy(c.conn, bytes.NewReader(frame)) }()
		closedWithoutAnswer(t, c, name)
		waitLog(t, logs, "nested deeper")
		if after := strings.Count(logs.String(), "nested deeper"); after <= before {
			t.Errorf("%s: no reason logged for closing the connection", name)
		}
		t.Logf("%s: %d bytes, connection closed", name, len(frame))
	}
	line := waitLog(t, logs, "fluent connection closed")
	t.Logf("logged: %s", strings.SplitN(line[strings.Index(line, "fluent connection closed"):], "\n", 2)[0])
	if n := streamCount(t, b, bus.StreamEvents) + streamCount(t, b, bus.StreamDeadLetter); n != 0 {
		t.Errorf("%d messages stored from nested frames, want 0", n)
	}
	// The input still serves.
	c := dialFluent(t, in.addr)
	c.send([]any{"clickstream.item_view.v2", occurred.Unix(), fluentRecord(0), map[string]any{"chunk": "after"}})
	c.wantAck("after")
}

// msgpackOf is v in msgpack.
func msgpackOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFluentMemoryBudget: a message whose decoded records would take more
// than its share of the input's memory budget closes its connection with
// the reason logged (a record of many tiny values decodes to far more than
// its bytes); a chunk within the budget is acknowledged, and the budget is
// given back after each message.
func TestFluentMemoryBudget(t *testing.T) {
	svc, _ := newService(t, ingest.Config{})
	logs := &logBuffer{}
	in := startFluent(t, svc, ingest.FluentConfig{MaxHeldBytes: 4 << 20, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	// 200,000 empty maps: 200 KB sent, about 19 MB decoded.
	tiny := make([]any, 200_000)
	for i := range tiny {
		tiny[i] = map[string]any{}
	}
	c := dialFluent(t, in.addr)
	c.send([]any{"clickstream.item_view.v2", occurred.Unix(), map[string]any{"referrer": tiny}, map[string]any{"chunk": "big"}})
	closedWithoutAnswer(t, c, "a record decoding to 19 MB")
	line := waitLog(t, logs, "decoded; the limit is")
	t.Logf("logged: %s", strings.SplitN(line[strings.Index(line, "fluent connection closed"):], "\n", 2)[0])
	// Many chunks in a row within the budget: each gives its share back.
	ok := dialFluent(t, in.addr)
	for i := range 20 {
		chunk := "ok-" + string(rune('a'+i))
		ok.send([]any{"clickstream.item_view.v2", packedEntries(t, 0, 50), map[string]any{"chunk": chunk}})
		ok.wantAck(chunk)
	}
}

// TestFluentMemoryBudgetAcrossConnections: what one connection holds of a
// message still arriving counts against the budget of every connection; a
// second connection needing more than is left is closed with the reason
// logged, and once the first is gone its share is free again.
func TestFluentMemoryBudgetAcrossConnections(t *testing.T) {
	svc, _ := newService(t, ingest.Config{})
	logs := &logBuffer{}
	const budget = 1 << 20
	in := startFluent(t, svc, ingest.FluentConfig{MaxHeldBytes: budget, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	// The first connection sends 900 KB of a message announcing 2 MB, and
	// holds them while it waits for the rest.
	first := dialFluent(t, in.addr)
	head := []byte{0x93, 0xb8}
	head = append(head, "clickstream.item_view.v2"...)
	head = append(head, 0xc6, 0x00, 0x20, 0x00, 0x00) // bin32 of 2 MiB
	if _, err := first.conn.Write(append(head, make([]byte, 900<<10)...)); err != nil {
		t.Fatal(err)
	}
	second := dialFluent(t, in.addr)
	time.Sleep(200 * time.Millisecond) // the first's bytes are read
	second.send([]any{"clickstream.item_view.v2", packedEntries(t, 0, 100), map[string]any{"chunk": "second"}})
	closedWithoutAnswer(t, second, "a chunk over what the budget has left")
	line := waitLog(t, logs, "over its budget of")
	t.Logf("logged: %s", strings.SplitN(line[strings.Index(line, "fluent connection closed"):], "\n", 2)[0])
	first.conn.Close()
	third := dialFluent(t, in.addr)
	for deadline := time.Now().Add(5 * time.Second); ; {
		third.send([]any{"clickstream.item_view.v2", packedEntries(t, 0, 100), map[string]any{"chunk": "third"}})
		v, err := third.dec.DecodeInterface()
		if err == nil {
			if m, ok := v.(map[string]any); !ok || m["ack"] != "third" {
				t.Fatalf("answer %v, want ack third", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the budget was not given back after the first connection closed: %v", err)
		}
		third = dialFluent(t, in.addr)
	}
}

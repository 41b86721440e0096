package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// The Fluent Forward input takes events from log shippers (Fluentd, Fluent
// Bit, the fluent-logger libraries) over the Forward protocol v1 on TCP:
// https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1.
//
// A record's tag names its event version, "clickstream.<event>.v<N>" with
// the event's name in snake_case ("clickstream.item_view.v2"), or through
// FluentConfig.Tags. Its map carries the fields as the map form
// (MobileAppEvent) does: keys are field paths, values are converted to the
// map form's strings (numbers and booleans as written, binary as base64,
// arrays and maps as JSON, nil as absent) and the event is validated, dead
// lettered and published exactly as a MobileAppEvent sent to SendBatch.
// The entry's time is the event's timestamp (context.occurred_at unless the
// record sets it). A record's "idempotency_key" string is its idempotency
// key; without one, a record of a chunk gets a key derived from the chunk
// id and its index, so a chunk sent again is stored once.
//
// A chunk (the "chunk" option) is answered with its ack only once every
// event of it is on EVENTS or in DEADLETTER. With shared keys configured
// a connection starts with the HELO/PING/PONG handshake and its events go
// to the environment of the shared key the client proved it holds.

// FluentIdempotencyKeyField is the record field that carries an event's
// idempotency key; it is not a field of the event.
const FluentIdempotencyKeyField = "idempotency_key"

// FluentPayloadForm is the payload form of a dead letter that keeps a
// Fluent record's msgpack: a record the map form cannot hold.
const FluentPayloadForm = "fluent"

// FluentTagPrefix starts the tags that name an event version.
const FluentTagPrefix = "clickstream."

// FluentConfig configures the Fluent Forward input.
type FluentConfig struct {
	// SharedKeys maps each shared key to the environment of the clients
	// that hold it. Empty runs without authentication: events go to the
	// service's environment.
	SharedKeys map[string]string
	// Tags maps a tag to the full message name of an event version
	// ("clickstream.events.v1.ItemViewV2"), beside the tags of the form
	// clickstream.<event>.v<N>.
	Tags map[string]string
	// Hostname is the server's name in the handshake; default os.Hostname.
	Hostname string
	// MaxChunkBytes bounds one message of the protocol (a chunk), and a
	// compressed chunk once decompressed.
	MaxChunkBytes int
	// MaxChunkRecords bounds the records of one chunk.
	MaxChunkRecords int
	// IdleTimeout closes a connection that sends nothing for this long.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the handshake.
	HandshakeTimeout time.Duration
	// MaxConnections bounds the open connections; one more is closed at
	// once (its client retries).
	MaxConnections int
	// MaxHeldBytes bounds what the input holds across its connections:
	// messages as read, chunks decompressed and their decoded records (an
	// estimate), until published. A message that would go over it closes
	// its connection (the client sends the chunk again later). One
	// message's decoded records may take at most a quarter of it.
	MaxHeldBytes int64
	Logger       *slog.Logger
}

// DefaultFluentConfig returns the defaults.
func DefaultFluentConfig() FluentConfig {
	return FluentConfig{MaxChunkBytes: 8 << 20, MaxChunkRecords: 10000, IdleTimeout: 5 * time.Minute, HandshakeTimeout: 10 * time.Second, MaxConnections: 1024,
		MaxHeldBytes: 256 << 20}
}

// Fluent serves the Fluent Forward protocol, handing records to a Service.
type Fluent struct {
	svc *Service
	cfg FluentConfig
	log *slog.Logger
	// ctx is cancelled by Close, stopping publishes in flight.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup

	index sync.Mutex
	tags  *fluentTags

	// memory is what the connections hold, against MaxHeldBytes.
	memory fluentMemory
}

// NewFluent returns the Fluent Forward input of svc. Zero fields of cfg take
// their defaults.
func NewFluent(svc *Service, cfg FluentConfig) *Fluent {
	def := DefaultFluentConfig()
	if cfg.MaxChunkBytes <= 0 {
		cfg.MaxChunkBytes = def.MaxChunkBytes
	}
	if cfg.MaxChunkRecords <= 0 {
		cfg.MaxChunkRecords = def.MaxChunkRecords
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = def.HandshakeTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = def.MaxConnections
	}
	if cfg.MaxHeldBytes <= 0 {
		cfg.MaxHeldBytes = def.MaxHeldBytes
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
		if cfg.Hostname == "" {
			cfg.Hostname = "clickstream-ingest"
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Fluent{svc: svc, cfg: cfg, log: log.With("input", "fluent"), ctx: ctx, cancel: cancel,
		listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}, memory: fluentMemory{budget: cfg.MaxHeldBytes}}
}

// Serve accepts connections on ln until Close; it returns nil after Close.
func (f *Fluent) Serve(ln net.Listener) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		ln.Close()
		return nil
	}
	f.listeners[ln] = struct{}{}
	f.mu.Unlock()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			f.mu.Lock()
			closed := f.closed
			f.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("fluent input on %s: accept: %w", ln.Addr(), err)
		}
		delay = 0
		go f.ServeConn(conn)
	}
}

// Run serves ln until ctx is done, then closes the input.
func (f *Fluent) Run(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = f.Close() })
	defer stop()
	return f.Serve(ln)
}

// Close stops accepting, closes every connection and waits for their
// handlers: a chunk not acknowledged yet is not, and its client sends it
// again elsewhere or later.
func (f *Fluent) Close() error {
	f.cancel()
	f.mu.Lock()
	f.closed = true
	for ln := range f.listeners {
		ln.Close()
	}
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return nil
}

// ServeConn speaks the Forward protocol on conn until the client closes it,
// it breaks the protocol, or the input closes; it closes conn.
func (f *Fluent) ServeConn(conn net.Conn) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		conn.Close()
		return
	}
	if len(f.conns) >= f.cfg.MaxConnections {
		f.mu.Unlock()
		conn.Close()
		f.log.Warn("fluent connection refused: too many connections", "remote", conn.RemoteAddr().String(), "max", f.cfg.MaxConnections)
		return
	}
	f.conns[conn] = struct{}{}
	f.wg.Add(1)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.conns, conn)
		f.mu.Unlock()
		conn.Close()
		f.wg.Done()
	}()
	if err := f.serve(conn); err != nil && !errors.Is(err, io.EOF) && f.ctx.Err() == nil {
		f.log.Warn("fluent connection closed", "remote", conn.RemoteAddr().String(), "err", err)
	}
}

// fluentOverhead is what a message may have beyond its entries: tag,
// options, framing.
const fluentOverhead = 64 << 10

func (f *Fluent) serve(conn net.Conn) error {
	mem := &messageMemory{input: &f.memory}
	defer mem.release()
	in := &budgetReader{r: bufio.NewReaderSize(conn, 64<<10), mem: mem}
	dec := msgpack.NewDecoder(in)
	caller := Caller{Environment: f.svc.cfg.Environment, Protocol: busv1.Protocol_PROTOCOL_FLUENT, RemoteAddr: conn.RemoteAddr().String()}
	if len(f.cfg.SharedKeys) > 0 {
		_ = conn.SetDeadline(time.Now().Add(f.cfg.HandshakeTimeout))
		in.left = fluentOverhead
		var err error
		if caller, err = f.handshake(conn, dec, caller); err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		_ = conn.SetWriteDeadline(time.Time{})
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(f.cfg.IdleTimeout))
		in.left = f.cfg.MaxChunkBytes + fluentOverhead
		in.over = false
		mem.release()
		// Read the message whole and check its depth without recursion
		// before anything decodes it.
		var raw bytes.Buffer
		cost, err := scanMsgpack(in, &raw, maxFluentMessageDepth)
		if err != nil {
			if in.over {
				return fmt.Errorf("a message is over %d bytes: the limit is %d bytes per chunk (MaxChunkBytes): send smaller chunks", f.cfg.MaxChunkBytes+fluentOverhead, f.cfg.MaxChunkBytes)
			}
			return err
		}
		if err := f.hold(mem, cost); err != nil {
			return err
		}
		msg, err := f.parse(raw.Bytes(), mem)
		if err != nil {
			return err
		}
		if err := f.publish(f.ctx, caller, msg); err != nil {
			return err
		}
		if msg.chunk != "" {
			b, err := msgpack.Marshal(map[string]string{"ack": msg.chunk})
			if err != nil {
				return err
			}
			_ = conn.SetWriteDeadline(time.Now().Add(f.cfg.IdleTimeout))
			if _, err := conn.Write(b); err != nil {
				return fmt.Errorf("write ack of chunk %q: %w", msg.chunk, err)
			}
		}
	}
}

// hold counts cost, the estimated memory of a message's decoded records,
// against the message's share and the input's budget.
func (f *Fluent) hold(mem *messageMemory, cost int64) error {
	if most := f.cfg.MaxHeldBytes / 4; cost > most {
		return fmt.Errorf("a message would take about %d bytes decoded; the limit is %d bytes (a quarter of MaxHeldBytes): send smaller chunks or fewer, larger values", cost, most)
	}
	return mem.use(cost)
}

// budgetReader reads up to left bytes before failing, so one message of
// the protocol cannot make the decoder read without bound; what it reads
// is counted against the input's memory budget (mem) when set.
type budgetReader struct {
	r    *bufio.Reader
	left int
	over bool
	mem  *messageMemory
}

var errOverBudget = errors.New("message over the size limit")

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.over = true
		return 0, errOverBudget
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	if b.mem != nil && n > 0 {
		if merr := b.mem.use(int64(n)); merr != nil {
			return n, merr
		}
	}
	return n, err
}

func (b *budgetReader) ReadByte() (byte, error) {
	if b.left <= 0 {
		b.over = true
		return 0, errOverBudget
	}
	c, err := b.r.ReadByte()
	if err == nil {
		b.left--
		if b.mem != nil {
			if merr := b.mem.use(1); merr != nil {
				return c, merr
			}
		}
	}
	return c, err
}

func (b *budgetReader) UnreadByte() error {
	err := b.r.UnreadByte()
	if err == nil {
		b.left++
	}
	return err
}

// handshake runs HELO, PING, PONG: the client proves it holds a shared key
// (sha512 of salt, its hostname, the nonce and the key), and the server
// proves it holds the same. The caller's environment is the key's.
func (f *Fluent) handshake(conn net.Conn, dec *msgpack.Decoder, caller Caller) (Caller, error) {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	helo, err := msgpack.Marshal([]any{"HELO", map[string]any{"nonce": nonce, "auth": "", "keepalive": true}})
	if err != nil {
		return caller, err
	}
	if _, err := conn.Write(helo); err != nil {
		return caller, fmt.Errorf("write HELO: %w", err)
	}
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return caller, fmt.Errorf("read PING: %w", err)
	}
	if n < 4 || n > 6 {
		return caller, fmt.Errorf("PING has %d elements, want 6: [\"PING\", hostname, shared_key_salt, sha512_hex(salt+hostname+nonce+shared_key), username, password_digest]", n)
	}
	parts := make([]string, n)
	for i := range parts {
		if parts[i], err = decodeText(dec); err != nil {
			return caller, fmt.Errorf("PING element %d: %w", i, err)
		}
	}
	if parts[0] != "PING" {
		return caller, fmt.Errorf("expected PING, got %q", clip(parts[0]))
	}
	hostname, salt, digest := parts[1], parts[2], parts[3]
	pong := func(ok bool, reason, key string) error {
		var sum string
		if ok {
			sum = fluentDigest(salt, f.cfg.Hostname, nonce, key)
		}
		b, err := msgpack.Marshal([]any{"PONG", ok, reason, f.cfg.Hostname, sum})
		if err != nil {
			return err
		}
		_, err = conn.Write(b)
		return err
	}
	if hostname == f.cfg.Hostname {
		_ = pong(false, "same hostname between input and output: invalid configuration", "")
		return caller, errors.New("the client's hostname is the server's")
	}
	var matched string
	found := false
	for key := range f.cfg.SharedKeys {
		want := fluentDigest(salt, hostname, nonce, key)
		if subtle.ConstantTimeCompare([]byte(want), []byte(digest)) == 1 {
			matched, found = key, true
		}
	}
	if !found {
		_ = pong(false, "shared_key mismatch", "")
		return caller, fmt.Errorf("client %q does not hold a configured shared key", clip(hostname))
	}
	if err := pong(true, "", matched); err != nil {
		return caller, fmt.Errorf("write PONG: %w", err)
	}
	caller.Environment = f.cfg.SharedKeys[matched]
	caller.KeyID = FluentKeyID(matched)
	return caller, nil
}

// FluentKeyID names a shared key in records and dead letters without
// revealing it: "fluent_" and the start of its SHA-256.
func FluentKeyID(sharedKey string) string {
	sum := sha256.Sum256([]byte(sharedKey))
	return "fluent_" + hex.EncodeToString(sum[:6])
}

// fluentDigest is sha512_hex(salt + hostname + nonce + shared_key).
func fluentDigest(salt, hostname string, nonce []byte, key string) string {
	h := sha512.New()
	h.Write([]byte(salt))
	h.Write([]byte(hostname))
	h.Write(nonce)
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil))
}

// decodeText decodes a str or bin value as a string, nil as "".
func decodeText(dec *msgpack.Decoder) (string, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return "", err
	}
	switch {
	case c == msgpcode.Nil:
		return "", dec.DecodeNil()
	case msgpcode.IsString(c):
		return dec.DecodeString()
	case msgpcode.IsBin(c):
		b, err := dec.DecodeBytes()
		return string(b), err
	}
	return "", fmt.Errorf("want a string, got msgpack code 0x%02x", c)
}

// fluentMessage is one message of the protocol: a tag, its entries and the
// chunk id to acknowledge ("" for none).
type fluentMessage struct {
	tag     string
	chunk   string
	entries []fluentEntry
}

// fluentEntry is one record and its time.
type fluentEntry struct {
	time   time.Time
	record any
	// raw is the record's msgpack, kept by a dead letter when the record
	// does not convert to the map form.
	raw []byte
}

// parse decodes one message in any of the modes: Message [tag, time,
// record, option?], Forward [tag, [[time, record]...], option?],
// PackedForward and CompressedPackedForward [tag, entries as bytes,
// option?].
func (f *Fluent) parse(raw []byte, mem *messageMemory) (fluentMessage, error) {
	var msg fluentMessage
	r := bytes.NewReader(raw)
	dec := msgpack.NewDecoder(r)
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return msg, fmt.Errorf("a message is an array [tag, ...]: %w", err)
	}
	if n < 2 || n > 4 {
		return msg, fmt.Errorf("a message is an array of 2 to 4 elements; got %d", n)
	}
	if msg.tag, err = decodeText(dec); err != nil {
		return msg, fmt.Errorf("tag: %w", err)
	}
	c, err := dec.PeekCode()
	if err != nil {
		return msg, err
	}
	var packed []byte
	var options map[string]any
	readOptions := func(have int) error {
		if n <= have {
			return nil
		}
		v, err := decodeValue(dec, r, 0)
		if err != nil {
			return fmt.Errorf("option: %w", err)
		}
		switch o := v.(type) {
		case nil:
		case map[string]any:
			options = o
		default:
			return errors.New("option is not a map")
		}
		return nil
	}
	switch {
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		// Forward mode.
		m, err := dec.DecodeArrayLen()
		if err != nil {
			return msg, err
		}
		if m > f.cfg.MaxChunkRecords {
			return msg, fmt.Errorf("tag %q: the chunk has %d records; the limit is %d per chunk: send smaller chunks", clip(msg.tag), m, f.cfg.MaxChunkRecords)
		}
		for range m {
			e, err := decodeEntry(dec, r, raw)
			if err != nil {
				return msg, err
			}
			msg.entries = append(msg.entries, e)
		}
		if err := readOptions(2); err != nil {
			return msg, err
		}
	case msgpcode.IsString(c) || msgpcode.IsBin(c):
		// PackedForward or CompressedPackedForward.
		if packed, err = dec.DecodeBytes(); err != nil {
			return msg, err
		}
		if err := readOptions(2); err != nil {
			return msg, err
		}
	default:
		// Message mode.
		if n < 3 {
			return msg, fmt.Errorf("tag %q: a message in Message mode is [tag, time, record, option?]", clip(msg.tag))
		}
		e, err := decodeEntryParts(dec, r, raw)
		if err != nil {
			return msg, err
		}
		msg.entries = []fluentEntry{e}
		if err := readOptions(3); err != nil {
			return msg, err
		}
	}
	if chunk, ok := options["chunk"]; ok {
		s, isString := chunk.(string)
		if !isString {
			b, isBytes := chunk.([]byte)
			if !isBytes {
				return msg, errors.New("option chunk is not a string")
			}
			s = string(b)
		}
		msg.chunk = s
	}
	if packed != nil {
		compressed, _ := options["compressed"].(string)
		switch compressed {
		case "", "text":
		case "gzip":
			if packed, err = gunzip(packed, f.cfg.MaxChunkBytes); err != nil {
				return msg, fmt.Errorf("tag %q: %w", clip(msg.tag), err)
			}
			if err := mem.use(int64(len(packed))); err != nil {
				return msg, err
			}
		default:
			return msg, fmt.Errorf("tag %q: compressed %q is not supported: send gzip or text", clip(msg.tag), clip(compressed))
		}
		// The packed entries were bytes to the scan of the message:
		// check their depth now, before decoding them.
		cost, err := checkPacked(packed)
		if err != nil {
			return msg, fmt.Errorf("tag %q: %w", clip(msg.tag), err)
		}
		if err := f.hold(mem, cost); err != nil {
			return msg, fmt.Errorf("tag %q: %w", clip(msg.tag), err)
		}
		pr := bytes.NewReader(packed)
		pdec := msgpack.NewDecoder(pr)
		for pr.Len() > 0 {
			if len(msg.entries) == f.cfg.MaxChunkRecords {
				return msg, fmt.Errorf("tag %q: the chunk has over %d records; the limit is %d per chunk: send smaller chunks", clip(msg.tag), f.cfg.MaxChunkRecords, f.cfg.MaxChunkRecords)
			}
			e, err := decodeEntry(pdec, pr, packed)
			if err != nil {
				return msg, err
			}
			msg.entries = append(msg.entries, e)
		}
	}
	return msg, nil
}

// gunzip decompresses every gzip member of b, up to limit bytes.
func gunzip(b []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("the compressed chunk is not gzip: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("the compressed chunk does not decompress: %w", err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("the compressed chunk is over %d bytes decompressed; the limit is %d bytes per chunk: send smaller chunks", limit, limit)
	}
	return out, nil
}

// decodeEntry decodes [time, record].
func decodeEntry(dec *msgpack.Decoder, r *bytes.Reader, buf []byte) (fluentEntry, error) {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return fluentEntry{}, fmt.Errorf("an entry is [time, record]: %w", err)
	}
	if n != 2 {
		return fluentEntry{}, fmt.Errorf("an entry is [time, record]; got %d elements", n)
	}
	return decodeEntryParts(dec, r, buf)
}

// decodeEntryParts decodes a time and a record. The time may come with
// metadata, [time, {metadata}], as Fluent Bit 2.1 and later send it; the
// metadata is not part of the event.
func decodeEntryParts(dec *msgpack.Decoder, r *bytes.Reader, buf []byte) (fluentEntry, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return fluentEntry{}, err
	}
	withMetadata := msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
	if withMetadata {
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return fluentEntry{}, err
		}
		if n != 2 {
			return fluentEntry{}, fmt.Errorf("an entry's time with metadata is [time, metadata]; got %d elements", n)
		}
	}
	t, err := decodeEventTime(dec, r)
	if err != nil {
		return fluentEntry{}, err
	}
	if withMetadata {
		if err := dec.Skip(); err != nil {
			return fluentEntry{}, fmt.Errorf("metadata: %w", err)
		}
	}
	from := len(buf) - r.Len()
	rec, err := decodeValue(dec, r, 0)
	if err != nil {
		return fluentEntry{}, fmt.Errorf("record: %w", err)
	}
	return fluentEntry{time: t, record: rec, raw: buf[from : len(buf)-r.Len()]}, nil
}

// decodeEventTime decodes a time: EventTime (extension 0: seconds and
// nanoseconds, big endian), or integer or fractional seconds.
func decodeEventTime(dec *msgpack.Decoder, r *bytes.Reader) (time.Time, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return time.Time{}, err
	}
	if msgpcode.IsExt(c) || msgpcode.IsFixedExt(c) {
		id, n, err := dec.DecodeExtHeader()
		if err != nil {
			return time.Time{}, err
		}
		if id != 0 || n != 8 {
			return time.Time{}, fmt.Errorf("time is extension %d of %d bytes; EventTime is extension 0 of 8 bytes", id, n)
		}
		var b [8]byte
		if err := dec.ReadFull(b[:]); err != nil {
			return time.Time{}, err
		}
		sec := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		nsec := uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
		return time.Unix(int64(sec), int64(nsec)%1e9).UTC(), nil
	}
	v, err := decodeValue(dec, r, 0)
	if err != nil {
		return time.Time{}, err
	}
	switch x := v.(type) {
	case nil:
		// No time: the time it is received, as Fluentd takes it.
		return time.Time{}, nil
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case uint64:
		if x > maxTimestampSeconds {
			return time.Time{}, fmt.Errorf("time %d is out of range", x)
		}
		return time.Unix(int64(x), 0).UTC(), nil
	case float64:
		if x != x || x < minTimestampSeconds || x > maxTimestampSeconds {
			return time.Time{}, fmt.Errorf("time %v is out of range", x)
		}
		sec := int64(x)
		return time.Unix(sec, int64((x-float64(sec))*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("time is %T: send an integer or EventTime", v)
}

// maxFluentDepth bounds the nesting of a record.
const maxFluentDepth = 32

// unsupported stands for a value a record cannot carry to the map form (a
// msgpack extension other than EventTime, a map key that is no scalar).
type unsupported struct{ problem string }

// decodeValue decodes one value: nil, bool, int64, uint64, float64,
// string, []byte, time.Time (EventTime), []any, map[string]any or
// unsupported. Lengths are checked against what r has left, so a header
// claiming more than the message holds allocates nothing.
func decodeValue(dec *msgpack.Decoder, r *bytes.Reader, depth int) (any, error) {
	if depth > maxFluentDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxFluentDepth)
	}
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		if n > r.Len()/2 {
			return nil, fmt.Errorf("a map of %d entries in %d bytes", n, r.Len())
		}
		m := make(map[string]any, n)
		var bad *unsupported
		for range n {
			k, err := decodeValue(dec, r, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec, r, depth+1)
			if err != nil {
				return nil, err
			}
			key, ok := mapKey(k)
			if !ok {
				bad = &unsupported{problem: fmt.Sprintf("a map key is %T: keys are strings", k)}
				continue
			}
			m[key] = v
		}
		if bad != nil {
			return *bad, nil
		}
		return m, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		if n > r.Len() {
			return nil, fmt.Errorf("an array of %d elements in %d bytes", n, r.Len())
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = decodeValue(dec, r, depth+1); err != nil {
				return nil, err
			}
		}
		return a, nil
	case msgpcode.IsExt(c) || msgpcode.IsFixedExt(c):
		id, n, err := dec.DecodeExtHeader()
		if err != nil {
			return nil, err
		}
		if n < 0 || n > r.Len() {
			return nil, fmt.Errorf("an extension of %d bytes in %d bytes", n, r.Len())
		}
		b := make([]byte, n)
		if err := dec.ReadFull(b); err != nil {
			return nil, err
		}
		if id == 0 && n == 8 {
			sec := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			nsec := uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
			return time.Unix(int64(sec), int64(nsec)%1e9).UTC(), nil
		}
		return unsupported{problem: fmt.Sprintf("msgpack extension %d is not a value the map form takes", id)}, nil
	case c == msgpcode.Nil:
		return nil, dec.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		return dec.DecodeBool()
	case c == msgpcode.Float || c == msgpcode.Double:
		return dec.DecodeFloat64()
	case c == msgpcode.Uint8 || c == msgpcode.Uint16 || c == msgpcode.Uint32 || c == msgpcode.Uint64:
		return dec.DecodeUint64()
	case msgpcode.IsFixedNum(c) || c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 || c == msgpcode.Int64:
		return dec.DecodeInt64()
	case msgpcode.IsString(c):
		return dec.DecodeString()
	case msgpcode.IsBin(c):
		return dec.DecodeBytes()
	}
	return nil, fmt.Errorf("msgpack code 0x%02x is not a value", c)
}

// mapKey is a map key as a string: strings as they are, numbers and
// booleans as written.
func mapKey(k any) (string, bool) {
	switch x := k.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case int64, uint64, bool:
		return fmt.Sprint(x), true
	}
	return "", false
}

// fluentTags resolves tags against one catalogue.
type fluentTags struct {
	catalogue *Catalogue
	// events maps the snake_case name of an event to its id.
	events map[string]uint32
}

// tagIndex returns the tag index of catalogue, built once per catalogue.
func (f *Fluent) tagIndex(c *Catalogue) *fluentTags {
	f.index.Lock()
	defer f.index.Unlock()
	if f.tags != nil && f.tags.catalogue == c {
		return f.tags
	}
	t := &fluentTags{catalogue: c, events: map[string]uint32{}}
	for _, typ := range c.byID {
		t.events[snakeCase(typ.Name)] = typ.ID
	}
	f.tags = t
	return t
}

// snakeCase turns "PhotoStatusChanged" into "photo_status_changed" and
// "URLOpened" into "url_opened".
func snakeCase(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		upper := r >= 'A' && r <= 'Z'
		if upper && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && rs[i+1] >= 'a' && rs[i+1] <= 'z'
			if (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9') || (prev >= 'A' && prev <= 'Z' && nextLower) {
				b.WriteByte('_')
			}
		}
		if upper {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// resolve finds the event id and version a tag names, or says why it names
// none. A known event with an unknown version resolves: validation then
// answers UNKNOWN_VERSION as for the map form.
func (f *Fluent) resolve(c *Catalogue, tag string) (id, version uint32, rejection *ingestv1.Rejection) {
	if name, ok := f.cfg.Tags[tag]; ok {
		t, found := c.ByName(name)
		if !found {
			return 0, 0, reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "tag",
				"tag %s maps to %s, which is not a registered event version; register it or fix the tag mapping", quote(tag), quote(name))
		}
		return t.ID, t.Version, nil
	}
	how := "name the event version in the tag as clickstream.<event>.v<N>, e.g. clickstream.item_view.v2, or map the tag to an event version"
	rest, ok := strings.CutPrefix(tag, FluentTagPrefix)
	i := strings.LastIndex(rest, ".v")
	if !ok || i <= 0 {
		return 0, 0, reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "tag", "tag %s names no event version: %s", quote(tag), how)
	}
	var v uint64
	digits := rest[i+2:]
	if !isDigits(digits) || len(digits) > 9 {
		return 0, 0, reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "tag", "tag %s names no event version: %s", quote(tag), how)
	}
	for _, d := range digits {
		v = v*10 + uint64(d-'0')
	}
	id, known := f.tagIndex(c).events[rest[:i]]
	if !known {
		return 0, 0, reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "tag",
			"tag %s: %s is not a registered event; the tag names an event by its name in snake_case, e.g. clickstream.item_view.v2", quote(tag), quote(rest[:i]))
	}
	return id, uint32(v), nil
}

// publish validates the entries of msg as map-form events and publishes
// them (accepted to EVENTS, rejected to DEADLETTER) as SendBatch does; it
// returns once the bus acknowledged every one.
func (f *Fluent) publish(ctx context.Context, caller Caller, msg fluentMessage) error {
	if len(msg.entries) == 0 {
		return nil
	}
	s := f.svc
	catalogue, err := s.waitCatalogue(ctx)
	if err != nil {
		return err
	}
	id, version, tagRejection := f.resolve(catalogue, msg.tag)
	events := make([]*ingestv1.Event, len(msg.entries))
	early := make([]*ingestv1.Rejection, len(msg.entries))
	originals := make([][]byte, len(msg.entries))
	for i, e := range msg.entries {
		params, key, rej := recordParams(e.record)
		if rej != nil {
			// The map form cannot hold it: the dead letter keeps the
			// record's msgpack.
			originals[i] = e.raw
		}
		if key == "" && msg.chunk != "" {
			key = chunkKey(msg.chunk, i)
		}
		ts := timestamppb.New(e.time)
		if e.time.IsZero() {
			ts = timestamppb.New(s.now())
		}
		events[i] = &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Mobile{Mobile: &eventsv1.MobileAppEvent{
			EventId: id, Version: version, Timestamp: ts, Params: params,
		}}}
		early[i] = cmpRejection(tagRejection, rej)
	}
	if _, err := s.sendAs(ctx, catalogue, caller, batch{events: events, early: early, originals: originals, name: msg.tag}); err != nil {
		return fmt.Errorf("publish the chunk (tag %q, %d records): %w", clip(msg.tag), len(events), err)
	}
	return nil
}

func cmpRejection(a, b *ingestv1.Rejection) *ingestv1.Rejection {
	if a != nil {
		return a
	}
	return b
}

// chunkKey is the idempotency key of the i-th record of a chunk without
// one of its own: the same on every resend of the chunk.
func chunkKey(chunk string, i int) string {
	sum := sha256.Sum256(fmt.Appendf([]byte(chunk), "\x00%d", i))
	return "fluent-" + hex.EncodeToString(sum[:16])
}

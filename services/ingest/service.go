package ingest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
)

// Config configures ingest.
type Config struct {
	// Environment the events of a call without a caller (no API key in its
	// context) are attributed to; only for a service without API keys
	// (tests, embedding). With keys every call needs one and the key's
	// environment is used.
	Environment string
	// MaxBatchEvents bounds the events in one batch.
	MaxBatchEvents int
	// MaxEventBytes bounds one event's payload.
	MaxEventBytes int
	// MaxBatchBytes bounds one request's body on every protocol.
	MaxBatchBytes int
	// PIISecret keys the HMAC-SHA256 that replaces pii fields before
	// publishing. Empty picks a random secret per process (hashes then do
	// not join across restarts): production sets one.
	PIISecret string
	// PIIKeepEnvironments lists the environments whose pii fields are
	// published as sent.
	PIIKeepEnvironments []string
	// CatalogueWait bounds how long a call waits for the first catalogue
	// from the registry at start before answering Unavailable.
	CatalogueWait time.Duration
	// WebhookNetworks decides which addresses webhook subscriptions are
	// delivered to: private ones only when allowed.
	WebhookNetworks WebhookNetworks
	// BrowserRateLimit limits the requests of each browser key per client
	// IP; zero takes DefaultBrowserRateLimit, a negative rate turns it off.
	BrowserRateLimit RateLimit
	// ServerRateLimit limits the requests of each server key per client
	// IP; zero (the default) is no limit.
	ServerRateLimit RateLimit
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Environment: "dev", MaxBatchEvents: 1000, MaxEventBytes: 64 << 10, MaxBatchBytes: 8 << 20, CatalogueWait: 10 * time.Second}
}

// Publisher is the part of the bus ingest needs.
type Publisher interface {
	PublishAll(ctx context.Context, msgs []bus.Message) ([]bus.PublishResult, error)
}

// Service implements clickstream.ingest.v1.IngestService for grpc-go (the
// in-process REST gateway) and Connect alike.
type Service struct {
	ingestv1.UnimplementedIngestServiceServer
	cfg Config
	// catalogue is the catalogue events are validated against, swapped
	// whole when the registry has a new revision; loaded is closed once
	// the first one is in.
	catalogue  atomic.Pointer[Catalogue]
	loaded     chan struct{}
	loadedOnce sync.Once
	// keys authenticates callers; nil runs without API keys.
	keys *Keys
	pii  *PIIHasher
	bus  Publisher
	// usage counts verdicts per minute for the registry; nil counts nothing.
	usage UsageRecorder
	now   func() time.Time
	// browserLimit and serverLimit are the rate limits per key and IP of
	// the two kinds of keys; nil is no limit.
	browserLimit, serverLimit *limiter
}

var (
	_ ingestv1.IngestServiceServer         = (*Service)(nil)
	_ ingestv1connect.IngestServiceHandler = (*Service)(nil)
)

// New returns the ingest service validating against catalogue and
// publishing to pub. Zero fields of cfg take their defaults. A nil
// catalogue leaves the service waiting for SetCatalogue (from the
// registry, see Schemas).
func New(cfg Config, catalogue *Catalogue, pub Publisher) *Service {
	def := DefaultConfig()
	if cfg.Environment == "" {
		cfg.Environment = def.Environment
	}
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = def.MaxBatchEvents
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = def.MaxEventBytes
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = def.MaxBatchBytes
	}
	if cfg.CatalogueWait <= 0 {
		cfg.CatalogueWait = def.CatalogueWait
	}
	secret := []byte(cfg.PIISecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	if cfg.BrowserRateLimit.PerSecond == 0 {
		cfg.BrowserRateLimit = DefaultBrowserRateLimit
	}
	s := &Service{cfg: cfg, bus: pub, now: time.Now, loaded: make(chan struct{}),
		pii:          NewPIIHasher(secret, cfg.PIIKeepEnvironments),
		browserLimit: newLimiter(cfg.BrowserRateLimit, time.Now),
		serverLimit:  newLimiter(cfg.ServerRateLimit, time.Now)}
	if catalogue != nil {
		s.SetCatalogue(catalogue)
	}
	return s
}

// emptyCatalogue stands in until the first catalogue is loaded: it knows
// no event.
var emptyCatalogue = &Catalogue{}

// currentCatalogue is the catalogue events are validated against now; one
// that knows no event before the first is loaded.
func (s *Service) currentCatalogue() *Catalogue {
	if c := s.catalogue.Load(); c != nil {
		return c
	}
	return emptyCatalogue
}

// SetCatalogue makes c the catalogue events are validated against, at once
// for every call that starts after it.
func (s *Service) SetCatalogue(c *Catalogue) {
	s.catalogue.Store(c)
	s.loadedOnce.Do(func() { close(s.loaded) })
}

// CatalogueRevision is the registry revision of the catalogue in use; 0
// before one is loaded.
func (s *Service) CatalogueRevision() uint64 {
	if c := s.catalogue.Load(); c != nil {
		return c.Revision()
	}
	return 0
}

// SetKeys makes every SendBatch need an API key that keys knows; the key's
// environment is the events' environment.
func (s *Service) SetKeys(keys *Keys) { s.keys = keys }

// collectors are the service's metrics, for registration.
func (s *Service) collectors() []prometheus.Collector {
	if s.keys == nil {
		return nil
	}
	return s.keys.Collectors()
}

// waitCatalogue waits for the first catalogue, up to CatalogueWait.
func (s *Service) waitCatalogue(ctx context.Context) (*Catalogue, error) {
	if c := s.catalogue.Load(); c != nil {
		return c, nil
	}
	t := time.NewTimer(s.cfg.CatalogueWait)
	defer t.Stop()
	select {
	case <-s.loaded:
		return s.catalogue.Load(), nil
	case <-ctx.Done():
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("ingest has not loaded the event catalogue from the registry yet: retry shortly: %w", ctx.Err()))
	case <-t.C:
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("ingest has not loaded the event catalogue from the registry yet: retry shortly"))
	}
}

// caller resolves who sends the batch: the API key in ctx when the service
// has keys, else the configured environment.
func (s *Service) caller(ctx context.Context) (Caller, error) {
	cred := credentialsFrom(ctx)
	if s.keys == nil {
		if c, ok := callerFrom(ctx); ok {
			return c, nil
		}
		return Caller{Environment: s.cfg.Environment, Protocol: cred.protocol}, nil
	}
	c, err := s.keys.Authenticate(ctx, cred)
	if err != nil {
		return Caller{}, err
	}
	if err := s.rateLimited(c); err != nil {
		return Caller{}, err
	}
	return c, nil
}

// SetUsageRecorder makes the service count every verdict with r.
func (s *Service) SetUsageRecorder(r UsageRecorder) { s.usage = r }

// Dead-letter headers: why an event was rejected, next to its original bytes.
const (
	HeaderReason      = "Clickstream-Reason"
	HeaderFieldPath   = "Clickstream-Field-Path"
	HeaderMessage     = "Clickstream-Message"
	HeaderEvent       = "Clickstream-Event"
	HeaderEnvironment = "Clickstream-Environment"
	HeaderPayloadForm = "Clickstream-Payload-Form"
	HeaderReceivedAt  = "Clickstream-Received-At"
	HeaderKeyID       = "Clickstream-Key-Id"
	// HeaderRejectedKey keeps the start of an idempotency key rejected by
	// checkIdempotencyKey, quoted; the dead letter's id is derived from
	// the key instead (rejectedKeyID).
	HeaderRejectedKey = "Clickstream-Rejected-Key"
	// HeaderPayloadTruncated is the size of an event's bytes when its
	// dead letter keeps only the start of them: an event larger than the
	// bus takes in one message (deadLetterRoom).
	HeaderPayloadTruncated = "Clickstream-Payload-Truncated"
)

// deadLetterHeaderRoom is what a dead letter leaves of the bus's payload
// limit for its headers.
const deadLetterHeaderRoom = 64 << 10

// defaultDeadLetterRoom is what a dead letter keeps of an event on a bus
// that does not tell its payload limit: under NATS's default of 1 MiB.
const defaultDeadLetterRoom = 512 << 10

// deadLetterRoom is how many of an event's bytes its dead letter keeps
// whole: the bus's payload limit less room for headers (the embedded NATS
// takes bus.MaxPayload, over any request ingest takes, so every event read
// is kept whole; an external NATS with its default max_payload of 1 MiB
// keeps under that).
func (s *Service) deadLetterRoom() int {
	sized, ok := s.bus.(interface{ MaxPayload() int64 })
	if !ok {
		return defaultDeadLetterRoom
	}
	if n := sized.MaxPayload() - deadLetterHeaderRoom; n > 0 {
		return int(n)
	}
	return defaultDeadLetterRoom
}

// SendBatch implements IngestService.SendBatch: one verdict per event;
// accepted events are acknowledged by JetStream before the call returns, and
// rejected ones are in the dead-letter stream.
func (s *Service) SendBatch(ctx context.Context, req *ingestv1.SendBatchRequest) (*ingestv1.SendBatchResponse, error) {
	caller, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	n := len(req.GetEvents())
	if n == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("the batch is empty: send at least one event"))
	}
	if n > s.cfg.MaxBatchEvents {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("the batch has %d events; the limit is %d per batch: split it", n, s.cfg.MaxBatchEvents))
	}
	catalogue, err := s.waitCatalogue(ctx)
	if err != nil {
		return nil, err
	}
	return s.sendAs(ctx, catalogue, caller, batch{events: req.GetEvents()})
}

// batch is what sendAs publishes: the events, and for an input that finds
// rejections before validation (the Fluent input) what it found.
type batch struct {
	events []*ingestv1.Event
	// early holds, per event, a rejection found before validation (an
	// unresolved tag, a record that is not a map); nil or nil entries
	// validate as usual.
	early []*ingestv1.Rejection
	// originals holds, per event with an early rejection, the bytes its
	// dead letter keeps instead of the event's (a Fluent record's msgpack,
	// payload form "fluent"); nil keeps the event's.
	originals [][]byte
	// name names the events in their dead letters when they resolve to no
	// event version and sentName has nothing (a Fluent tag).
	name string
}

// sendAs validates the events of b as sent by caller, an authenticated
// sender, against catalogue: accepted ones are built into records for
// EVENTS, rejected ones into dead letters, and all are published and
// acknowledged by the bus before it returns the verdicts. SendBatch and the
// Fluent input both publish through it.
func (s *Service) sendAs(ctx context.Context, catalogue *Catalogue, caller Caller, b batch) (*ingestv1.SendBatchResponse, error) {
	n := len(b.events)
	received := s.now()
	resp := &ingestv1.SendBatchResponse{Results: make([]*ingestv1.EventResult, n)}
	msgs := make([]bus.Message, 0, n)
	// accepted maps the index in msgs of each accepted event's record to its
	// index in the batch; dead letters sit between them in msgs.
	type position struct{ msg, event int }
	accepted := make([]position, 0, n)
	verdicts := make([]Usage, n)
	// The parts every record of the batch shares, built once.
	shared := recordShared{
		source:   &busv1.Source{KeyId: caller.KeyID, Protocol: caller.Protocol, RemoteAddr: caller.RemoteAddr},
		received: timestamppb.New(received),
		subjects: map[string]string{},
	}
	for i, ev := range b.events {
		// An event of a batch sent as JSON is decoded here, against this
		// catalogue; one that does not decode is rejected alone.
		x, sentJSON := catalogue.expandJSON(ev)
		ev = x.event
		id := ev.GetIdempotencyKey()
		keyRejection := checkIdempotencyKey(id)
		switch {
		case id == "":
			id = uuid.Must(uuid.NewV7()).String()
		case keyRejection != nil:
			// The key itself goes nowhere: not in a header (the bus would
			// refuse the whole batch), not back in the reply.
			id = rejectedKeyID(id)
		}
		res := &ingestv1.EventResult{Index: int32(i), Id: id}
		resp.Results[i] = res
		var d decoded
		early := i < len(b.early) && b.early[i] != nil
		switch {
		case early:
			d.rejection = b.early[i]
			if i < len(b.originals) {
				d.original = b.originals[i]
			}
		case x.rejection != nil:
			d.rejection, d.original = x.rejection, x.original
		default:
			d = catalogue.validateExpanded(x, s.cfg.MaxEventBytes)
		}
		switch {
		case keyRejection != nil:
			d.rejection = keyRejection
		case d.typ.Descriptor != nil:
			if rej := catalogue.admit(d.typ, caller.Environment); rej != nil {
				d.rejection = rej
			}
		}
		if d.rejection == nil {
			d.context, d.contextDone = eventContext(d), true
			msg, err := s.build(catalogue, caller, id, d, &shared)
			if err == nil {
				verdicts[i] = usageOf(d, caller, received, "accepted")
				res.Status = ingestv1.EventStatus_EVENT_STATUS_ACCEPTED
				accepted = append(accepted, position{msg: len(msgs), event: i})
				msgs = append(msgs, msg)
				continue
			}
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "", "%s: %v", d.typ.FullName(), err)
		}
		res.Status = ingestv1.EventStatus_EVENT_STATUS_REJECTED
		res.Rejection = d.rejection
		verdicts[i] = usageOf(d, caller, received, "rejected")
		dl := s.deadLetterFor(caller, id, ev, d, received)
		if d.typ.Descriptor == nil && b.name != "" {
			dl.Header[HeaderEvent] = headerSafe(b.name)
		}
		switch {
		case early && d.original != nil:
			dl.Header[HeaderPayloadForm] = FluentPayloadForm
		case sentJSON && x.rejection != nil && x.form != "":
			dl.Header[HeaderPayloadForm] = x.form
		}
		msgs = append(msgs, dl)
	}

	results, err := s.bus.PublishAll(ctx, msgs)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("the event bus did not take the batch; retry it with the same idempotency keys: %w", err))
	}
	for k, r := range results {
		if r.Err != nil {
			return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("the event bus did not acknowledge event %s; retry the batch with the same idempotency keys: %w", msgs[k].MsgID, r.Err))
		}
	}
	for _, p := range accepted {
		if results[p.msg].Duplicate {
			resp.Results[p.event].Status = ingestv1.EventStatus_EVENT_STATUS_DUPLICATE
		}
	}
	for i, r := range resp.Results {
		if s.usage != nil && r.Status != ingestv1.EventStatus_EVENT_STATUS_DUPLICATE {
			s.usage.Record(verdicts[i])
		}
		switch r.Status {
		case ingestv1.EventStatus_EVENT_STATUS_ACCEPTED:
			resp.Accepted++
		case ingestv1.EventStatus_EVENT_STATUS_DUPLICATE:
			resp.Duplicates++
		case ingestv1.EventStatus_EVENT_STATUS_REJECTED:
			resp.Rejected++
		}
	}
	return resp, nil
}

// record builds the bus message of an accepted event in the configured
// environment, pii fields hashed.
func (s *Service) record(id string, d decoded, received time.Time) (bus.Message, error) {
	return s.recordFor(s.currentCatalogue(), Caller{Environment: s.cfg.Environment}, id, d, received)
}

// recordFor builds the bus message of an event caller sent and catalogue
// accepted, pii fields hashed unless the caller's environment keeps them.
func (s *Service) recordFor(catalogue *Catalogue, caller Caller, id string, d decoded, received time.Time) (bus.Message, error) {
	return s.build(catalogue, caller, id, d, &recordShared{
		source:   &busv1.Source{KeyId: caller.KeyID, Protocol: caller.Protocol, RemoteAddr: caller.RemoteAddr},
		received: timestamppb.New(received),
	})
}

// recordShared holds what the records of one batch share: they are
// encoded at once, so one instance of each serves them all.
type recordShared struct {
	source   *busv1.Source
	received *timestamppb.Timestamp
	// subjects caches the subject per event version; nil caches nothing.
	subjects map[string]string
}

// build is recordFor with the batch's shared parts.
func (s *Service) build(catalogue *Catalogue, caller Caller, id string, d decoded, shared *recordShared) (bus.Message, error) {
	subject, ok := shared.subjects[d.typ.FullName()]
	if !ok {
		var err error
		subject, err = bus.EventSubject(caller.Environment, d.typ.Name, d.typ.Version)
		if err != nil {
			return bus.Message{}, err
		}
		if shared.subjects != nil {
			shared.subjects[d.typ.FullName()] = subject
		}
	}
	hash := !s.pii.Keeps(caller.Environment) && catalogue.piiWithin[d.typ.Descriptor.FullName()]
	var payload []byte
	if d.asReceived && !hash {
		// Valid on the wire and nothing to rewrite: the bytes the client
		// sent (or the map form's params encoded) are the message.
		payload = d.payload
	} else {
		if d.msg == nil {
			if d.msg = d.message(); d.msg == nil {
				return bus.Message{}, errors.New("the payload does not decode")
			}
		}
		if hash {
			catalogue.hashPII(d.msg, s.pii)
		}
		var err error
		payload, err = proto.MarshalOptions{Deterministic: true}.Marshal(d.msg)
		if err != nil {
			return bus.Message{}, fmt.Errorf("encode payload: %w", err)
		}
	}
	rec := &busv1.EventRecord{
		Id:                id,
		EventId:           d.typ.ID,
		EventVersion:      d.typ.Version,
		EventName:         d.typ.FullName(),
		Environment:       caller.Environment,
		Source:            shared.source,
		ReceivedAt:        shared.received,
		Payload:           payload,
		CatalogueRevision: catalogue.Revision(),
	}
	c := d.context
	if !d.contextDone {
		c = eventContext(d)
	}
	if c != nil {
		rec.Context = c
		rec.UserId = c.GetUserId()
		rec.OccurredAt = c.GetOccurredAt()
	}
	data, err := proto.Marshal(rec)
	if err != nil {
		return bus.Message{}, fmt.Errorf("encode event record: %w", err)
	}
	return bus.Message{Subject: subject, MsgID: id, Data: data}, nil
}

// eventContext extracts the common Context of a valid event, if it has
// one: from the message, or from the payload as received when validation
// did not decode it.
func eventContext(d decoded) *eventsv1.Context {
	if d.msg != nil || !d.asReceived {
		if d.msg == nil {
			return nil
		}
		return clientContext(d.msg)
	}
	fd := contextField(d.typ.Descriptor)
	if fd == nil {
		return nil
	}
	var c *eventsv1.Context
	for b := d.payload; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return c
		}
		b = b[n:]
		if num == fd.Number() && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return c
			}
			if c == nil {
				c = &eventsv1.Context{}
			}
			// Occurrences of a message field merge, as when decoding.
			if (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, c) != nil {
				return nil
			}
			n = m
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return c
			}
		}
		b = b[n:]
	}
	return c
}

// clientContext extracts the common Context of an event, if it has one.
func clientContext(m protoreflect.Message) *eventsv1.Context {
	fd := contextField(m.Descriptor())
	if fd == nil || !m.Has(fd) {
		return nil
	}
	b, err := proto.Marshal(m.Get(fd).Message().Interface())
	if err != nil {
		return nil
	}
	c := &eventsv1.Context{}
	if proto.Unmarshal(b, c) != nil {
		return nil
	}
	return c
}

// contextField is the first singular clickstream.events.v1.Context field of
// an event message, or nil.
func contextField(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	want := (*eventsv1.Context)(nil).ProtoReflect().Descriptor().FullName()
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Message() != nil && fd.Message().FullName() == want && !fd.IsList() && !fd.IsMap() {
			return fd
		}
	}
	return nil
}

// deadLetterFor builds the dead-letter message of an event caller sent and
// ingest rejected: the original bytes as received (pii fields included:
// dead letters never reach EVENTS), with the reason in headers.
func (s *Service) deadLetterFor(caller Caller, id string, ev *ingestv1.Event, d decoded, received time.Time) bus.Message {
	reason := d.rejection.GetReason().String()
	form := "none"
	switch ev.GetPayload().(type) {
	case *ingestv1.Event_Typed:
		form = "typed"
	case *ingestv1.Event_Json:
		form = "json"
	case *ingestv1.Event_Mobile:
		form = "mobile"
	}
	h := map[string]string{
		HeaderReason:      reason,
		HeaderFieldPath:   d.rejection.GetFieldPath(),
		HeaderMessage:     d.rejection.GetMessage(),
		HeaderEnvironment: caller.Environment,
		HeaderKeyID:       caller.KeyID,
		HeaderPayloadForm: form,
		HeaderReceivedAt:  received.UTC().Format(time.RFC3339Nano),
	}
	if d.typ.Descriptor != nil {
		h[HeaderEvent] = d.typ.FullName()
	} else if name := sentName(ev); name != "" {
		// Unresolved: the name as the client sent it, so the dead letter
		// can be replayed once that version is registered. A name no
		// message can have (too long for a header, control characters) is
		// kept cut and escaped: it would never resolve anyway.
		h[HeaderEvent] = headerSafe(name)
	}
	if key := ev.GetIdempotencyKey(); key != "" && key != id {
		// A rejected key: what of it is safe to keep, for the operator.
		h[HeaderRejectedKey] = keyExcerpt(key)
	}
	if d.original == nil {
		if m := ev.GetMobile(); m != nil {
			d.original, _ = proto.MarshalOptions{Deterministic: true}.Marshal(m)
		}
	}
	data := d.original
	if room := s.deadLetterRoom(); len(data) > room {
		// The bus refuses a message over its payload limit, and with it
		// the whole batch: keep the start, and the size it had.
		h[HeaderPayloadTruncated] = strconv.Itoa(len(data))
		data = data[:room]
	}
	return bus.Message{
		Subject: "deadletter." + caller.Environment + "." + reason,
		MsgID:   "dl-" + id,
		Data:    data,
		Header:  h,
	}
}

// maxHeaderName bounds an event name kept in a dead letter's header; a
// message's full name is far shorter.
const maxHeaderName = 512

// headerSafe is s when it fits a header as it is, else escapeClipped.
func headerSafe(s string) string {
	if len(s) <= maxHeaderName && utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return escapeClipped(s, maxHeaderName)
}

// escapeClipped is s quoted in ASCII (control characters and invalid
// bytes escaped), cut after at most limit bytes of s with its length
// added: a client's value fit to be echoed in a header or a message.
func escapeClipped(s string, limit int) string {
	if len(s) <= limit {
		return strconv.QuoteToASCII(s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.QuoteToASCII(s[:cut]), len(s))
}

// sentName is the event version as the client named it: the message name of
// a typed payload's type URL, a JSON event's name, or "id:<event_id>:v<version>"
// for a JSON event named by id; "" for the map form, whose payload names it.
func sentName(ev *ingestv1.Event) string {
	switch p := ev.GetPayload().(type) {
	case *ingestv1.Event_Typed:
		url := p.Typed.GetTypeUrl()
		return url[strings.LastIndexByte(url, '/')+1:]
	case *ingestv1.Event_Json:
		if name := p.Json.GetName(); name != "" {
			return name
		}
		return "id:" + strconv.FormatUint(uint64(p.Json.GetEventId()), 10) + ":v" + strconv.FormatUint(uint64(p.Json.GetVersion()), 10)
	}
	return ""
}

// usageOf is the usage count of one verdict.
func usageOf(d decoded, caller Caller, at time.Time, status string) Usage {
	u := Usage{At: at, Environment: caller.Environment, EventID: d.typ.ID, Version: d.typ.Version, Status: status}
	switch {
	case d.contextDone:
		u.AppVersion = d.context.GetAppVersion()
	case d.msg != nil || d.asReceived:
		u.AppVersion = eventContext(d).GetAppVersion()
	}
	if d.rejection != nil && status == "rejected" {
		u.Reason = d.rejection.GetReason().String()
	}
	return u
}

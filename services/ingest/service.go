package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
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
	// Environment the events are attributed to until API keys bind each
	// caller to its own environment.
	Environment string
	// MaxBatchEvents bounds the events in one batch.
	MaxBatchEvents int
	// MaxEventBytes bounds one event's payload.
	MaxEventBytes int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Environment: "dev", MaxBatchEvents: 1000, MaxEventBytes: 64 << 10}
}

// Publisher is the part of the bus ingest needs.
type Publisher interface {
	PublishAll(ctx context.Context, msgs []bus.Message) ([]bus.PublishResult, error)
}

// Service implements clickstream.ingest.v1.IngestService for grpc-go (the
// in-process REST gateway) and Connect alike.
type Service struct {
	ingestv1.UnimplementedIngestServiceServer
	cfg       Config
	catalogue *Catalogue
	bus       Publisher
	// usage counts verdicts per minute for the registry; nil counts nothing.
	usage UsageRecorder
	now   func() time.Time
}

var (
	_ ingestv1.IngestServiceServer         = (*Service)(nil)
	_ ingestv1connect.IngestServiceHandler = (*Service)(nil)
)

// New returns the ingest service validating against catalogue and
// publishing to pub. Zero fields of cfg take their defaults.
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
	return &Service{cfg: cfg, catalogue: catalogue, bus: pub, now: time.Now}
}

// currentCatalogue is the catalogue events are validated against now.
func (s *Service) currentCatalogue() *Catalogue { return s.catalogue }

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
)

// SendBatch implements IngestService.SendBatch: one verdict per event;
// accepted events are acknowledged by JetStream before the call returns, and
// rejected ones are in the dead-letter stream.
func (s *Service) SendBatch(ctx context.Context, req *ingestv1.SendBatchRequest) (*ingestv1.SendBatchResponse, error) {
	n := len(req.GetEvents())
	if n == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("the batch is empty: send at least one event"))
	}
	if n > s.cfg.MaxBatchEvents {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("the batch has %d events; the limit is %d per batch: split it", n, s.cfg.MaxBatchEvents))
	}
	received := s.now()
	resp := &ingestv1.SendBatchResponse{Results: make([]*ingestv1.EventResult, n)}
	msgs := make([]bus.Message, 0, n)
	// accepted maps the index in msgs of each accepted event's record to its
	// index in the batch; dead letters sit between them in msgs.
	type position struct{ msg, event int }
	accepted := make([]position, 0, n)
	for i, ev := range req.GetEvents() {
		id := ev.GetIdempotencyKey()
		if id == "" {
			id = uuid.Must(uuid.NewV7()).String()
		}
		res := &ingestv1.EventResult{Index: int32(i), Id: id}
		resp.Results[i] = res
		d := s.currentCatalogue().decode(ev, s.cfg.MaxEventBytes)
		if d.rejection == nil {
			msg, err := s.record(id, d, received)
			if err == nil {
				res.Status = ingestv1.EventStatus_EVENT_STATUS_ACCEPTED
				accepted = append(accepted, position{msg: len(msgs), event: i})
				msgs = append(msgs, msg)
				continue
			}
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "", "%s: %v", d.typ.FullName(), err)
		}
		res.Status = ingestv1.EventStatus_EVENT_STATUS_REJECTED
		res.Rejection = d.rejection
		msgs = append(msgs, s.deadLetter(id, ev, d, received))
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
	for _, r := range resp.Results {
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

// record builds the bus message of an accepted event.
func (s *Service) record(id string, d decoded, received time.Time) (bus.Message, error) {
	subject, err := bus.EventSubject(s.cfg.Environment, d.typ.Name, d.typ.Version)
	if err != nil {
		return bus.Message{}, err
	}
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(d.msg)
	if err != nil {
		return bus.Message{}, fmt.Errorf("encode payload: %w", err)
	}
	rec := &busv1.EventRecord{
		Id:                id,
		EventId:           d.typ.ID,
		EventVersion:      d.typ.Version,
		EventName:         d.typ.FullName(),
		Environment:       s.cfg.Environment,
		ReceivedAt:        timestamppb.New(received),
		Payload:           payload,
		CatalogueRevision: s.currentCatalogue().Revision(),
	}
	if c := clientContext(d.msg); c != nil {
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
	want := (&eventsv1.Context{}).ProtoReflect().Descriptor().FullName()
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Message() != nil && fd.Message().FullName() == want && !fd.IsList() && !fd.IsMap() {
			return fd
		}
	}
	return nil
}

// deadLetter builds the dead-letter message of a rejected event: the
// original bytes as received, with the reason in headers.
func (s *Service) deadLetter(id string, ev *ingestv1.Event, d decoded, received time.Time) bus.Message {
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
		HeaderEnvironment: s.cfg.Environment,
		HeaderPayloadForm: form,
		HeaderReceivedAt:  received.UTC().Format(time.RFC3339Nano),
	}
	if d.typ.Descriptor != nil {
		h[HeaderEvent] = d.typ.FullName()
	}
	return bus.Message{
		Subject: "deadletter." + s.cfg.Environment + "." + reason,
		MsgID:   "dl-" + id,
		Data:    d.original,
		Header:  h,
	}
}

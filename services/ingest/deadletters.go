package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
)

// Paging of ListDeadLetters.
const (
	defaultDeadLetterPage = 100
	maxDeadLetterPage     = 1000
)

// deadLetterIDPrefix prefixes the Nats-Msg-Id of a dead letter; the rest is
// the event's idempotency key.
const deadLetterIDPrefix = "dl-"

// deadLetterStream is the DEADLETTER stream of the service's bus. The
// service publishes through the narrow Publisher interface; reading dead
// letters needs the JetStream handle of the bus behind it.
func (a *AdminService) deadLetterStream(ctx context.Context) (jetstream.Stream, error) {
	jsb, ok := a.svc.bus.(interface{ JetStream() jetstream.JetStream })
	if !ok {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("dead letters need ingest to run on a JetStream bus"))
	}
	stream, err := jsb.JetStream().Stream(ctx, bus.StreamDeadLetter)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("open the %s stream: %w", bus.StreamDeadLetter, err))
	}
	return stream, nil
}

// deadLetterFilter is the subject filter of dead letters of env (all when
// empty) rejected for reason (all when unspecified).
func deadLetterFilter(env string, reason ingestv1.RejectReason) (string, error) {
	envToken, reasonToken := "*", "*"
	if env != "" {
		if err := checkEnvironmentParam("environment", env); err != nil {
			return "", err
		}
		envToken = env
	}
	if reason != ingestv1.RejectReason_REJECT_REASON_UNSPECIFIED {
		if _, ok := ingestv1.RejectReason_name[int32(reason)]; !ok {
			return "", fmt.Errorf("reason %d is not a reject reason", reason)
		}
		reasonToken = reason.String()
	}
	return "deadletter." + envToken + "." + reasonToken, nil
}

// scanDeadLetters calls fn with each dead letter matching filter after
// sequence after, oldest first, until fn returns false or none is left.
func scanDeadLetters(ctx context.Context, stream jetstream.Stream, filter string, after uint64, fn func(*jetstream.RawStreamMsg) bool) error {
	for seq := after + 1; ; {
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read dead letters after sequence %d: %w", seq-1, err)
		}
		if !fn(m) {
			return nil
		}
		seq = m.Sequence + 1
	}
}

// ListDeadLetters implements IngestAdminService.ListDeadLetters: rejected
// events oldest first, without their payloads, filtered by environment and
// reason through the subject deadletter.<env>.<reason>.
func (a *AdminService) ListDeadLetters(ctx context.Context, req *ingestv1.ListDeadLettersRequest) (*ingestv1.ListDeadLettersResponse, error) {
	limit := int(req.GetLimit())
	switch {
	case limit < 0:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("limit %d is negative; ask for 1 to %d dead letters, or 0 for %d", limit, maxDeadLetterPage, defaultDeadLetterPage))
	case limit == 0:
		limit = defaultDeadLetterPage
	case limit > maxDeadLetterPage:
		limit = maxDeadLetterPage
	}
	filter, err := deadLetterFilter(req.GetEnvironment(), req.GetReason())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	stream, err := a.deadLetterStream(ctx)
	if err != nil {
		return nil, err
	}
	resp := &ingestv1.ListDeadLettersResponse{}
	more := false
	err = scanDeadLetters(ctx, stream, filter, req.GetAfterSequence(), func(m *jetstream.RawStreamMsg) bool {
		if len(resp.DeadLetters) == limit {
			more = true
			return false
		}
		resp.DeadLetters = append(resp.DeadLetters, deadLetterOf(m, false))
		return true
	})
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	if more {
		resp.NextAfterSequence = resp.DeadLetters[len(resp.DeadLetters)-1].GetSequence()
	}
	return resp, nil
}

// GetDeadLetter implements IngestAdminService.GetDeadLetter: one dead letter
// with its original bytes.
func (a *AdminService) GetDeadLetter(ctx context.Context, req *ingestv1.GetDeadLetterRequest) (*ingestv1.GetDeadLetterResponse, error) {
	if req.GetSequence() == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("sequence is required: the dead letter's stream sequence, as ListDeadLetters shows it"))
	}
	stream, err := a.deadLetterStream(ctx)
	if err != nil {
		return nil, err
	}
	m, err := stream.GetMsg(ctx, req.GetSequence())
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("dead letter %d does not exist (replayed, or never rejected); list dead letters to find one", req.GetSequence()))
	}
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("read dead letter %d: %w", req.GetSequence(), err))
	}
	if !strings.HasPrefix(m.Subject, "deadletter.") {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("dead letter %d does not exist", req.GetSequence()))
	}
	return &ingestv1.GetDeadLetterResponse{DeadLetter: deadLetterOf(m, true)}, nil
}

// deadLetterOf reads a stored dead letter; with payload, its original bytes too.
func deadLetterOf(m *jetstream.RawStreamMsg, payload bool) *ingestv1.DeadLetter {
	h := m.Header
	dl := &ingestv1.DeadLetter{
		Sequence:    m.Sequence,
		EventKey:    strings.TrimPrefix(h.Get(jetstream.MsgIDHeader), deadLetterIDPrefix),
		Environment: h.Get(HeaderEnvironment),
		KeyId:       h.Get(HeaderKeyID),
		Reason:      deadLetterReason(h),
		FieldPath:   h.Get(HeaderFieldPath),
		Message:     h.Get(HeaderMessage),
		EventName:   h.Get(HeaderEvent),
		PayloadForm: h.Get(HeaderPayloadForm),
		Size:        int32(len(m.Data)),
	}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderReceivedAt)); err == nil {
		dl.ReceivedAt = timestamppb.New(t)
	} else if !m.Time.IsZero() {
		dl.ReceivedAt = timestamppb.New(m.Time)
	}
	if payload {
		dl.Payload = m.Data
	}
	return dl
}

// deadLetterReason is the reason a dead letter's headers name.
func deadLetterReason(h nats.Header) ingestv1.RejectReason {
	return ingestv1.RejectReason(ingestv1.RejectReason_value[h.Get(HeaderReason)])
}

// eventOfDeadLetter rebuilds the event as the client sent it from a dead
// letter's payload form and original bytes.
func eventOfDeadLetter(m *jetstream.RawStreamMsg) (*ingestv1.Event, error) {
	ev := &ingestv1.Event{IdempotencyKey: strings.TrimPrefix(m.Header.Get(jetstream.MsgIDHeader), deadLetterIDPrefix)}
	switch form := m.Header.Get(HeaderPayloadForm); form {
	case "typed":
		name := m.Header.Get(HeaderEvent)
		if name == "" {
			return nil, errors.New("a typed dead letter without its message name cannot be replayed")
		}
		ev.Payload = &ingestv1.Event_Typed{Typed: &anypb.Any{TypeUrl: "type.googleapis.com/" + name, Value: m.Data}}
	case "json":
		data := &structpb.Struct{}
		if err := protojson.Unmarshal(m.Data, data); err != nil {
			return nil, fmt.Errorf("the JSON data is not an object: %w", err)
		}
		j := &ingestv1.JsonEvent{Name: m.Header.Get(HeaderEvent), Data: data}
		var id, version uint32
		if _, err := fmt.Sscanf(j.Name, "id:%d:v%d", &id, &version); err == nil {
			// Sent by id and version: replay by id (a message name has no ':').
			j.Name, j.EventId, j.Version = "", id, version
		}
		ev.Payload = &ingestv1.Event_Json{Json: j}
	case TypedJSONPayloadForm:
		// Decoded again, against the catalogue of the replay.
		return eventOfTypedJSON(ev.IdempotencyKey, m.Data), nil
	case MobileJSONPayloadForm:
		mobile := &eventsv1.MobileAppEvent{}
		if err := (protojson.UnmarshalOptions{RecursionLimit: maxJSONDepth}).Unmarshal(m.Data, mobile); err != nil {
			return nil, fmt.Errorf("the MobileAppEvent JSON does not decode: %w", err)
		}
		ev.Payload = &ingestv1.Event_Mobile{Mobile: mobile}
	case "mobile":
		mobile := &eventsv1.MobileAppEvent{}
		if err := proto.Unmarshal(m.Data, mobile); err != nil {
			return nil, fmt.Errorf("the MobileAppEvent does not decode: %w", err)
		}
		ev.Payload = &ingestv1.Event_Mobile{Mobile: mobile}
	default:
		// An event without a payload stays without one.
	}
	return ev, nil
}

// Headers of a replayed event on EVENTS: who replayed it and when.
const (
	HeaderReplayedBy = "Clickstream-Replayed-By"
	HeaderReplayedAt = "Clickstream-Replayed-At"
)

// replayStamp is who replays dead letters and when, stamped on every event
// the replay publishes.
type replayStamp struct {
	actor string
	at    time.Time
}

func (r replayStamp) header() map[string]string {
	return map[string]string{HeaderReplayedBy: r.actor, HeaderReplayedAt: r.at.Format(time.RFC3339Nano)}
}

// replayBatch bounds the dead letters validated and published at once.
const replayBatch = maxDeadLetterPage

// ReplayDeadLetters implements IngestAdminService.ReplayDeadLetters: each
// dead letter is validated again with the current catalogue; accepted ones
// are published to EVENTS under their original idempotency key and deleted
// from DEADLETTER once JetStream acknowledged them; the rest stay.
func (a *AdminService) ReplayDeadLetters(ctx context.Context, req *ingestv1.ReplayDeadLettersRequest) (resp *ingestv1.ReplayDeadLettersResponse, err error) {
	actor := strings.TrimSpace(req.GetActor())
	if actor == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New(
			"actor is required: say who replays the dead letters, e.g. your handle; replayed events carry it (header "+HeaderReplayedBy+")"))
	}
	if err := checkActor(actor); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	filter, err := deadLetterFilter(req.GetEnvironment(), req.GetReason())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	stream, err := a.deadLetterStream(ctx)
	if err != nil {
		return nil, err
	}
	stamp := replayStamp{actor: actor, at: a.svc.now().UTC()}
	resp = &ingestv1.ReplayDeadLettersResponse{}
	defer func() {
		// The audit of a replay: who, when, what, and how it went, also
		// when it stopped half-way (what was replayed stays replayed).
		log := a.log.With("actor", actor, "replayed_at", stamp.at, "environment", req.GetEnvironment(),
			"reason", req.GetReason().String(), "sequences", len(req.GetSequences()),
			"accepted", resp.GetAccepted(), "still_rejected", resp.GetStillRejected())
		if err != nil {
			log.Warn("dead letters replay stopped", "err", err)
			return
		}
		log.Info("dead letters replayed")
	}()
	var pending []*jetstream.RawStreamMsg
	flush := func() error {
		err := a.replay(ctx, stream, pending, stamp, resp)
		pending = pending[:0]
		return err
	}
	if len(req.GetSequences()) > 0 {
		for _, seq := range req.GetSequences() {
			m, err := stream.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("dead letter %d does not exist (replayed already?); nothing was replayed", seq))
			}
			if err != nil {
				return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("read dead letter %d: %w", seq, err))
			}
			if !subjectMatches(filter, m.Subject) {
				continue
			}
			pending = append(pending, m)
		}
		if err := flush(); err != nil {
			return nil, err
		}
		return resp, nil
	}
	var flushErr error
	err = scanDeadLetters(ctx, stream, filter, 0, func(m *jetstream.RawStreamMsg) bool {
		pending = append(pending, m)
		if len(pending) == replayBatch {
			flushErr = flush()
		}
		return flushErr == nil
	})
	if flushErr != nil {
		return nil, flushErr
	}
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return resp, nil
}

// subjectMatches reports whether subject matches filter, whose tokens may
// be "*".
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	if len(f) != len(s) {
		return false
	}
	for i := range f {
		if f[i] != "*" && f[i] != s[i] {
			return false
		}
	}
	return true
}

// unreplayable is the verdict on a dead letter that no catalogue lets
// through, nil for the others: one that keeps only the start of its event,
// and one whose idempotency key was at fault (which no catalogue changes;
// published under the derived id, it would double the event its client
// sends again with a valid key).
func unreplayable(m *jetstream.RawStreamMsg) *ingestv1.Rejection {
	reason := deadLetterReason(m.Header)
	if size := m.Header.Get(HeaderPayloadTruncated); size != "" {
		return reject(reason, m.Header.Get(HeaderFieldPath),
			"%s (the dead letter keeps only the first %d of its %s bytes, so it cannot be sent again)", m.Header.Get(HeaderMessage), len(m.Data), size)
	}
	if m.Header.Get(HeaderRejectedKey) != "" {
		return reject(reason, idempotencyKeyPath,
			"%s (the key stays invalid: the client sends the event again with a valid key)", m.Header.Get(HeaderMessage))
	}
	return nil
}

// replay validates msgs again, publishes the accepted ones and deletes
// those JetStream acknowledged from the dead-letter stream, adding the
// verdicts to resp.
func (a *AdminService) replay(ctx context.Context, stream jetstream.Stream, msgs []*jetstream.RawStreamMsg, stamp replayStamp, resp *ingestv1.ReplayDeadLettersResponse) error {
	if len(msgs) == 0 {
		return nil
	}
	s := a.svc
	catalogue := s.currentCatalogue()
	var (
		records []bus.Message
		seqs    []uint64
		results []*ingestv1.ReplayResult
	)
	for _, m := range msgs {
		res := &ingestv1.ReplayResult{Sequence: m.Sequence, Status: ingestv1.EventStatus_EVENT_STATUS_REJECTED}
		if res.Rejection = unreplayable(m); res.Rejection != nil {
			results = append(results, res)
			continue
		}
		ev, err := eventOfDeadLetter(m)
		if err != nil {
			res.Rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "", "dead letter %d: %v", m.Sequence, err)
			results = append(results, res)
			continue
		}
		// The same checks and record building as SendBatch, as the API key
		// that sent the event.
		caller := Caller{Environment: m.Header.Get(HeaderEnvironment), KeyID: m.Header.Get(HeaderKeyID)}
		d := catalogue.decode(ev, s.cfg.MaxEventBytes)
		if d.rejection == nil && d.typ.Descriptor != nil {
			d.rejection = catalogue.admit(d.typ, caller.Environment)
		}
		if d.rejection == nil {
			received := s.now()
			if t, err := time.Parse(time.RFC3339Nano, m.Header.Get(HeaderReceivedAt)); err == nil {
				received = t
			}
			rec, err := s.recordFor(catalogue, caller, ev.GetIdempotencyKey(), d, received)
			if err == nil {
				rec.Header = stamp.header()
				res.Status = ingestv1.EventStatus_EVENT_STATUS_ACCEPTED
				records = append(records, rec)
				seqs = append(seqs, m.Sequence)
				results = append(results, res)
				continue
			}
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "", "%s: %v", d.typ.FullName(), err)
		}
		res.Rejection = d.rejection
		results = append(results, res)
	}

	var failed int
	var failure error
	if len(records) > 0 {
		acks, err := s.bus.PublishAll(ctx, records)
		for i, ack := range acks {
			if ack.Err != nil {
				failed++
				failure = ack.Err
				continue
			}
			if err := stream.DeleteMsg(ctx, seqs[i]); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				failed++
				failure = fmt.Errorf("event %s is on the bus, but dead letter %d could not be deleted: %w", records[i].MsgID, seqs[i], err)
			}
		}
		if err != nil && failure == nil {
			failure = err
		}
	}
	if failure != nil {
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf(
			"replay: the event bus did not take %d of %d revalidated dead letters; they stay in the dead-letter stream: replay again: %w", failed, len(records), failure))
	}
	for _, r := range results {
		if r.Status == ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			resp.Accepted++
		} else {
			resp.StillRejected++
		}
	}
	resp.Results = append(resp.Results, results...)
	return nil
}

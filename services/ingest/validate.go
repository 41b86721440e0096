package ingest

import (
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// decoded is one event of a batch after validation: the typed message when
// valid, the reason when not, and the payload as received either way (for
// the dead letter): the typed form's bytes exactly; the JSON form's data
// and the MobileAppEvent encoded again, the same message as received.
type decoded struct {
	typ       EventType
	msg       *dynamicpb.Message
	original  []byte
	rejection *ingestv1.Rejection
}

func reject(reason ingestv1.RejectReason, path, format string, args ...any) *ingestv1.Rejection {
	return &ingestv1.Rejection{Reason: reason, FieldPath: path, Message: fmt.Sprintf(format, args...)}
}

// decode resolves the event's registered message and validates the payload
// against it.
func (c *Catalogue) decode(ev *ingestv1.Event, maxBytes int) decoded {
	var d decoded
	switch p := ev.GetPayload().(type) {
	case *ingestv1.Event_Typed:
		d.original = p.Typed.GetValue()
		name := p.Typed.GetTypeUrl()
		name = name[strings.LastIndexByte(name, '/')+1:]
		t, ok := c.ByName(name)
		if !ok {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "typed.type_url",
				"%q is not a registered event message; send one of the registry's event versions, e.g. type.googleapis.com/clickstream.events.v1.ItemViewV2", p.Typed.GetTypeUrl())
			return d
		}
		d.typ = t
		if len(d.original) > maxBytes {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "", "%s is %d bytes; the limit is %d bytes per event", t.FullName(), len(d.original), maxBytes)
			return d
		}
		msg := dynamicpb.NewMessage(t.Descriptor)
		if err := proto.Unmarshal(d.original, msg); err != nil {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "", "%s: payload is not valid protobuf: %v", t.FullName(), err)
			return d
		}
		d.msg = msg
	case *ingestv1.Event_Json:
		data, err := protojson.Marshal(p.Json.GetData())
		if err != nil {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "json.data", "data is not a JSON object: %v", err)
			return d
		}
		d.original = data
		t, rej := c.resolveJSON(p.Json)
		if rej != nil {
			d.rejection = rej
			return d
		}
		d.typ = t
		if len(data) > maxBytes {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "", "%s is %d bytes of JSON; the limit is %d bytes per event", t.FullName(), len(data), maxBytes)
			return d
		}
		msg := dynamicpb.NewMessage(t.Descriptor)
		if err := protojson.Unmarshal(data, msg); err != nil {
			d.rejection = jsonRejection(t, err)
			return d
		}
		d.msg = msg
	case *ingestv1.Event_Mobile:
		d = c.decodeMobile(p.Mobile, maxBytes)
		if d.rejection != nil {
			return d
		}
	default:
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_EMPTY, "payload", "the event has no payload: set one of mobile, typed or json")
		return d
	}
	if path, num, ok := unknownField(d.msg); ok {
		where := "at the top level"
		if path != "" {
			where = "in " + path
		}
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, joinPath(path, fmt.Sprintf("#%d", num)),
			"%s: the payload has field number %d %s, which the registered version does not define; register a new version with the field, or drop it",
			d.typ.FullName(), num, where)
		return d
	}
	if path, ok := c.missingRequired(d.msg); ok {
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path,
			"%s: required field %s is not set (required means present and not the zero value)", d.typ.FullName(), path)
		return d
	}
	return d
}

// resolveJSON finds the event version a JSON event names.
func (c *Catalogue) resolveJSON(j *ingestv1.JsonEvent) (EventType, *ingestv1.Rejection) {
	if j.GetName() != "" {
		t, ok := c.ByName(j.GetName())
		if !ok {
			return t, reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "json.name",
				"%q is not a registered event message; use a full name such as clickstream.events.v1.ItemViewV2", j.GetName())
		}
		return t, nil
	}
	t, found, known := c.ByID(j.GetEventId(), j.GetVersion())
	switch {
	case found:
		return t, nil
	case known:
		return t, reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_VERSION, "json.version",
			"event %d has no version %d; registered versions: %v", j.GetEventId(), j.GetVersion(), c.Versions(j.GetEventId()))
	default:
		return t, reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "json.event_id",
			"event id %d is not registered; set json.name or a registered event_id and version", j.GetEventId())
	}
}

// jsonRejection classifies a protojson error.
func jsonRejection(t EventType, err error) *ingestv1.Rejection {
	// protobuf errors start with "proto:" and a space that is sometimes a
	// non-breaking one, so nobody matches on them; neither do we beyond this.
	msg := strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0")
	reason := ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE
	path := "json.data"
	if _, name, ok := strings.Cut(msg, "unknown field "); ok {
		reason = ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD
		path = "json.data." + strings.Trim(name, `"`)
	}
	return reject(reason, path, "%s: %s", t.FullName(), msg)
}

// unknownField reports the first field, in field order, that the
// registered message does not define: the path of the message holding it
// ("" for the event itself) and its field number.
func unknownField(m protoreflect.Message) (string, protowire.Number, bool) {
	if unknown := m.GetUnknown(); len(unknown) > 0 {
		num, _, _ := protowire.ConsumeTag(unknown)
		return "", num, true
	}
	for step, sub := range subMessages(m) {
		if path, num, ok := unknownField(sub); ok {
			return joinPath(step.String(), path), num, true
		}
	}
	return "", 0, false
}

// missingRequired reports the path of the first field marked required that
// is unset (or the zero value, for fields without explicit presence).
func (c *Catalogue) missingRequired(m protoreflect.Message) (string, bool) {
	for _, fd := range c.required[m.Descriptor().FullName()] {
		if !m.Has(fd) {
			return string(fd.Name()), true
		}
	}
	for step, sub := range subMessages(m) {
		if path, ok := c.missingRequired(sub); ok {
			return joinPath(step.String(), path), true
		}
	}
	return "", false
}

// step is how a message is reached from its parent: a field, and for a
// repeated field the index, for a map field the key. Walks build paths from
// steps only when they report something.
type step struct {
	fd    protoreflect.FieldDescriptor
	index int
	key   protoreflect.MapKey
}

// String is the step as a path segment: "context", "bids[2]", `by_sku["a"]`.
func (s step) String() string {
	switch {
	case s.fd.IsMap():
		key := s.key.String()
		if s.fd.MapKey().Kind() == protoreflect.StringKind {
			key = strconv.Quote(key)
		}
		return string(s.fd.Name()) + "[" + key + "]"
	case s.fd.IsList():
		return string(s.fd.Name()) + "[" + strconv.Itoa(s.index) + "]"
	}
	return string(s.fd.Name())
}

// subMessages yields the messages held by the populated fields of m, in
// field order (map entries in key order).
func subMessages(m protoreflect.Message) iter.Seq2[step, protoreflect.Message] {
	return func(yield func(step, protoreflect.Message) bool) {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			switch {
			case fd.IsMap():
				if fd.MapValue().Message() == nil || !m.Has(fd) {
					continue
				}
				entries := m.Get(fd).Map()
				keys := make([]protoreflect.MapKey, 0, entries.Len())
				entries.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
					keys = append(keys, k)
					return true
				})
				slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return strings.Compare(a.String(), b.String()) })
				for _, k := range keys {
					if !yield(step{fd: fd, key: k}, entries.Get(k).Message()) {
						return
					}
				}
			case fd.IsList():
				if fd.Message() == nil || !m.Has(fd) {
					continue
				}
				list := m.Get(fd).List()
				for j := range list.Len() {
					if !yield(step{fd: fd, index: j}, list.Get(j).Message()) {
						return
					}
				}
			case fd.Message() != nil:
				if m.Has(fd) && !yield(step{fd: fd}, m.Get(fd).Message()) {
					return
				}
			}
		}
	}
}

// joinPath joins two field paths, either of which may be empty.
func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

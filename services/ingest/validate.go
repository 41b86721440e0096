package ingest

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// decoded is one event of a batch after validation: the typed message when
// valid, the reason when not, and the bytes as received either way.
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
		d.original, _ = proto.Marshal(p.Mobile)
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "mobile",
			"event %d v%d: the MobileAppEvent map form is not accepted by this ingest version yet; send the typed or JSON form",
			p.Mobile.GetEventId(), p.Mobile.GetVersion())
		return d
	default:
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_EMPTY, "payload", "the event has no payload: set one of mobile, typed or json")
		return d
	}
	if path, ok := unknownField(d.msg); ok {
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, path,
			"%s has a field %s that the registered version does not define; register a new version with the field, or drop it", d.typ.FullName(), path)
		return d
	}
	if path, ok := c.missingRequired(d.msg, ""); ok {
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

// unknownField reports the path of a field the registered message does not
// define, anywhere in the message tree.
func unknownField(m protoreflect.Message) (string, bool) {
	if len(m.GetUnknown()) > 0 {
		return string(m.Descriptor().FullName()) + ".<unknown>", true
	}
	var (
		path  string
		found bool
	)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		for _, sub := range messagesOf(fd, v) {
			if p, ok := unknownField(sub); ok {
				path, found = string(fd.Name())+"."+strings.TrimPrefix(p, string(sub.Descriptor().FullName())+"."), true
				return false
			}
		}
		return true
	})
	return path, found
}

// missingRequired reports the first field marked required that is unset
// (or the zero value, for fields without explicit presence).
func (c *Catalogue) missingRequired(m protoreflect.Message, prefix string) (string, bool) {
	for _, fd := range c.required[m.Descriptor().FullName()] {
		if !m.Has(fd) {
			return prefix + string(fd.Name()), true
		}
	}
	var (
		path  string
		found bool
	)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		for _, sub := range messagesOf(fd, v) {
			if p, ok := c.missingRequired(sub, prefix+string(fd.Name())+"."); ok {
				path, found = p, true
				return false
			}
		}
		return true
	})
	return path, found
}

// messagesOf lists the message values held by one populated field.
func messagesOf(fd protoreflect.FieldDescriptor, v protoreflect.Value) []protoreflect.Message {
	switch {
	case fd.IsMap():
		if fd.MapValue().Message() == nil {
			return nil
		}
		var out []protoreflect.Message
		v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
			out = append(out, mv.Message())
			return true
		})
		return out
	case fd.IsList():
		if fd.Message() == nil {
			return nil
		}
		l := v.List()
		out := make([]protoreflect.Message, l.Len())
		for i := range l.Len() {
			out[i] = l.Get(i).Message()
		}
		return out
	case fd.Message() != nil:
		return []protoreflect.Message{v.Message()}
	}
	return nil
}

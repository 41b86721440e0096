package awards

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/reflect/protoreflect"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
)

// Event is what filters and rules see: the metadata of one EventRecord and
// its payload decoded into the typed event message. The payload is decoded
// elsewhere, with the registry's descriptor of EventName.
type Event struct {
	// RecordID is the EventRecord id, the idempotency key of the event.
	RecordID string
	// EventID is the event's stable numeric id in the registry.
	EventID uint32
	// Version is the event version.
	Version uint32
	// Name is the full name of the event version's message, e.g.
	// "clickstream.events.v1.PhotoStatusChangedV2".
	Name string
	// Environment is the sending environment (app, site, backend, partner).
	Environment string
	// UserID is the user the event is about, empty for anonymous traffic.
	UserID string
	// OccurredAt is when the event happened on the client.
	OccurredAt time.Time
	// Sequence is the event's position on the EVENTS stream, 0 when it is
	// not known (an event applied without its bus metadata). It orders
	// status changes that event times do not (see follows).
	Sequence uint64
	// Payload is the decoded typed event message.
	Payload protoreflect.Message
}

// EventFromRecord returns the Event of rec whose payload has been decoded
// into payload.
func EventFromRecord(rec *busv1.EventRecord, payload protoreflect.Message) Event {
	ev := Event{
		RecordID:    rec.GetId(),
		EventID:     rec.GetEventId(),
		Version:     rec.GetEventVersion(),
		Name:        rec.GetEventName(),
		Environment: rec.GetEnvironment(),
		UserID:      rec.GetUserId(),
		Payload:     payload,
	}
	if ts := rec.GetOccurredAt(); ts != nil {
		ev.OccurredAt = ts.AsTime()
	}
	return ev
}

// Subject is the event name without package and version suffix, e.g.
// "PhotoStatusChanged" for "clickstream.events.v1.PhotoStatusChangedV2":
// the name SourceFilter matches.
func (e Event) Subject() string { return eventSubject(e.Name) }

// eventSubject strips the package and the "V<N>" suffix from a full message
// name.
func eventSubject(fullName string) string {
	name := fullName[strings.LastIndexByte(fullName, '.')+1:]
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i < len(name) && i > 1 && name[i-1] == 'V' {
		return name[:i-1]
	}
	return name
}

// Field reads the payload field at a dotted path of proto field names, such
// as "status" or "context.geo.city". It reports false when the payload is
// missing, the path does not exist in the message, a message on the path is
// unset, or the field is not set (for proto3 scalars: has its zero value).
func (e Event) Field(path string) (protoreflect.Value, protoreflect.FieldDescriptor, bool) {
	if e.Payload == nil {
		return protoreflect.Value{}, nil, false
	}
	m := e.Payload
	segments := strings.Split(path, ".")
	for i, seg := range segments {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(seg))
		if fd == nil || fd.IsList() || fd.IsMap() || !m.Has(fd) {
			return protoreflect.Value{}, nil, false
		}
		if i == len(segments)-1 {
			return m.Get(fd), fd, true
		}
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return protoreflect.Value{}, nil, false
		}
		m = m.Get(fd).Message()
	}
	return protoreflect.Value{}, nil, false
}

// FieldText reads the field at path as text: strings as they are, enum
// values by name ("CONTENT_STATUS_ACTIVE"), numbers and bools in decimal
// and "true"/"false". Bytes and messages are not text.
func (e Event) FieldText(path string) (string, bool) {
	v, fd, ok := e.Field(path)
	if !ok {
		return "", false
	}
	return valueText(v, fd)
}

// FieldNumber reads a numeric field at path as a float64.
func (e Event) FieldNumber(path string) (float64, bool) {
	v, fd, ok := e.Field(path)
	if !ok {
		return 0, false
	}
	return valueNumber(v, fd)
}

// FieldStatus reads a status field: an enum value by its short lowercase
// name ("active" for CONTENT_STATUS_ACTIVE), or a string field as it is.
func (e Event) FieldStatus(path string) (string, bool) {
	v, fd, ok := e.Field(path)
	if !ok {
		return "", false
	}
	if fd.Kind() == protoreflect.EnumKind {
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil {
			return strconv.Itoa(int(v.Enum())), true
		}
		return shortEnumName(fd.Enum(), ev.Name()), true
	}
	return valueText(v, fd)
}

func valueText(v protoreflect.Value, fd protoreflect.FieldDescriptor) (string, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return v.String(), true
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name()), true
		}
		return strconv.Itoa(int(v.Enum())), true
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.Bool()), true
	}
	if n, ok := valueNumber(v, fd); ok {
		return strconv.FormatFloat(n, 'f', -1, 64), true
	}
	return "", false
}

func valueNumber(v protoreflect.Value, fd protoreflect.FieldDescriptor) (float64, bool) {
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return float64(v.Int()), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return float64(v.Uint()), true
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float(), true
	}
	return 0, false
}

func isNumericKind(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.BoolKind, protoreflect.StringKind, protoreflect.BytesKind,
		protoreflect.EnumKind, protoreflect.MessageKind, protoreflect.GroupKind:
		return false
	}
	return true
}

// shortEnumName is the lowercase value name without the enum's prefix:
// "active" for ContentStatus's CONTENT_STATUS_ACTIVE.
func shortEnumName(ed protoreflect.EnumDescriptor, name protoreflect.Name) string {
	return strings.ToLower(strings.TrimPrefix(string(name), enumPrefix(ed)))
}

// enumPrefix is the UPPER_SNAKE_CASE enum name plus "_", the prefix buf lint
// requires of every value: "CONTENT_STATUS_" for ContentStatus.
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	var b strings.Builder
	for i, r := range string(ed.Name()) {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	b.WriteByte('_')
	return b.String()
}

// schemaField resolves a dotted path of proto field names in md to a
// singular scalar or enum field, as the filters and rules read them.
func schemaField(md protoreflect.MessageDescriptor, path string) (protoreflect.FieldDescriptor, error) {
	root := md
	segments := strings.Split(path, ".")
	for i, seg := range segments {
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			return nil, fmt.Errorf("event %s has no field %q", root.FullName(), strings.Join(segments[:i+1], "."))
		}
		if fd.IsList() || fd.IsMap() {
			return nil, fmt.Errorf("field %q of event %s is repeated; only singular fields can be read", path, root.FullName())
		}
		isMessage := fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind
		if i == len(segments)-1 {
			if isMessage {
				return nil, fmt.Errorf("field %q of event %s is a message; name one of its fields, e.g. %q", path, root.FullName(), path+"."+firstFieldName(fd.Message()))
			}
			return fd, nil
		}
		if !isMessage {
			return nil, fmt.Errorf("field %q of event %s is not a message, so %q cannot be read", strings.Join(segments[:i+1], "."), root.FullName(), path)
		}
		md = fd.Message()
	}
	return nil, fmt.Errorf("empty field path")
}

func firstFieldName(md protoreflect.MessageDescriptor) string {
	if md.Fields().Len() == 0 {
		return "..."
	}
	return string(md.Fields().Get(0).Name())
}

package ingest

import (
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
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
	// asReceived: payload is the event's message encoded, valid, so it can
	// be published as is when no pii field needs hashing: the typed form's
	// bytes as received, or the map form's params converted on the wire.
	asReceived bool
	payload    []byte       // with asReceived
	wire       *wireMessage // the message's wire table, with asReceived
	// context is the event's common Context once extracted (contextDone).
	context     *eventsv1.Context
	contextDone bool
}

func reject(reason ingestv1.RejectReason, path, format string, args ...any) *ingestv1.Rejection {
	return &ingestv1.Rejection{Reason: reason, FieldPath: path, Message: fmt.Sprintf(format, args...), Retryable: retryable(reason)}
}

// retryable reports whether sending the same event again can succeed
// without changing it: the verdicts that depend on the registry's state (a
// version pushed a moment ago reaches ingest within a second; an operator
// may allow a version in an environment). Everything else is wrong in the
// event itself and fails the same way every time.
func retryable(reason ingestv1.RejectReason) bool {
	switch reason {
	case ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT,
		ingestv1.RejectReason_REJECT_REASON_UNKNOWN_VERSION,
		ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED:
		return true
	}
	return false
}

// decode resolves the event's registered message and validates the payload
// against it; a valid event comes with its message.
func (c *Catalogue) decode(ev *ingestv1.Event, maxBytes int) decoded {
	d := c.validate(ev, maxBytes)
	if d.rejection == nil && d.msg == nil {
		d.msg = d.message()
	}
	return d
}

// message decodes a typed payload that validate accepted as received.
func (d *decoded) message() *dynamicpb.Message {
	msg := dynamicpb.NewMessage(d.typ.Descriptor)
	wireFill(d.payload, msg, d.wire)
	return msg
}

// validate resolves the event's registered message and validates the
// payload against it. A typed payload valid as received is not decoded,
// nor is a map-form event converted on the wire: msg is nil and asReceived
// set.
func (c *Catalogue) validate(ev *ingestv1.Event, maxBytes int) decoded {
	var d decoded
	if x, ok := c.expandJSON(ev); ok {
		// An event of a JSON batch (a dead letter's, replayed).
		if x.rejection != nil {
			d.rejection, d.original = x.rejection, x.original
			return d
		}
		if x.data != nil {
			return c.validateJSONData(x.event.GetJson(), x.data, maxBytes)
		}
		ev = x.event
	}
	switch p := ev.GetPayload().(type) {
	case *ingestv1.Event_Typed:
		d.original = p.Typed.GetValue()
		name := p.Typed.GetTypeUrl()
		name = name[strings.LastIndexByte(name, '/')+1:]
		t, ok := c.ByName(name)
		if !ok {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "typed.type_url",
				"%s is not a registered event message; send one of the registry's event versions, e.g. type.googleapis.com/clickstream.events.v1.ItemViewV2", quote(p.Typed.GetTypeUrl()))
			return d
		}
		d.typ = t
		if len(d.original) > maxBytes {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "", "%s is %d bytes; the limit is %d bytes per event", t.FullName(), len(d.original), maxBytes)
			return d
		}
		if w := c.wire[t.Descriptor.FullName()]; w != nil && wireValid(d.original, w, 0) {
			d.asReceived, d.payload, d.wire = true, d.original, w
			return d
		}
		msg := dynamicpb.NewMessage(t.Descriptor)
		if err := proto.Unmarshal(d.original, msg); err != nil {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "", "%s: payload is not valid protobuf: %v", t.FullName(), err)
			return d
		}
		d.msg = msg
		if path, num, defined, ok := unknownField(d.msg); ok {
			if defined != nil {
				d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, joinPath(path, string(defined.Name())),
					"%s: field %s (number %d) was sent with a wire encoding that does not fit its type %s; encode it as the registered version defines it",
					d.typ.FullName(), joinPath(path, string(defined.Name())), num, kindName(defined))
				return d
			}
			where := "at the top level"
			if path != "" {
				where = "in " + path
			}
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, joinPath(path, "#"+strconv.Itoa(int(num))),
				"%s: the payload has field number %d %s, which the registered version does not define; register a new version with the field, or drop it",
				d.typ.FullName(), num, where)
			return d
		}
	case *ingestv1.Event_Json:
		data, ok := appendStruct(nil, p.Json.GetData())
		var err error
		if !ok {
			data, err = protojson.Marshal(p.Json.GetData())
		}
		if err != nil {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "json.data", "data is not a JSON object: %v", err)
			return d
		}
		return c.validateJSONData(p.Json, data, maxBytes)
	case *ingestv1.Event_Mobile:
		d = c.decodeMobile(p.Mobile, maxBytes)
		if d.rejection != nil || d.asReceived {
			return d
		}
	default:
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_EMPTY, "payload", "the event has no payload: set one of mobile, typed or json")
		return d
	}
	// The JSON and map forms cannot carry unknown fields: protojson and the
	// conversion reject names the message does not define.
	if path, ok := c.missingRequired(d.msg); ok {
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path,
			"%s: required field %s is not set (required means present and not the zero value)", d.typ.FullName(), path)
		return d
	}
	return d
}

// validateJSONData resolves the event version j names and decodes data, its
// fields in protobuf JSON, into its message.
func (c *Catalogue) validateJSONData(j *ingestv1.JsonEvent, data []byte, maxBytes int) decoded {
	d := decoded{original: data}
	t, rej := c.resolveJSON(j)
	if rej != nil {
		d.rejection = rej
		return d
	}
	d.typ = t
	if len(data) > maxBytes {
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "", "%s is %d bytes of JSON; the limit is %d bytes per event", t.FullName(), len(data), maxBytes)
		return d
	}
	if mt := c.compiled[t.Descriptor.FullName()]; mt != nil {
		// Decoded and encoded by generated code; the bytes are then what
		// the typed form's bytes are when valid as received.
		m := mt.New()
		if err := (protojson.UnmarshalOptions{RecursionLimit: maxJSONDepth}).Unmarshal(data, m.Interface()); err != nil {
			d.rejection = dataRejection(t, data, err)
			return d
		}
		if path, ok := c.missingRequired(m); ok {
			d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path,
				"%s: required field %s is not set (required means present and not the zero value)", d.typ.FullName(), path)
			return d
		}
		payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Interface())
		if w := c.wire[t.Descriptor.FullName()]; err == nil && w != nil && wireValid(payload, w, 0) {
			d.asReceived, d.payload, d.wire = true, payload, w
			return d
		}
	}
	msg := dynamicpb.NewMessage(t.Descriptor)
	if err := (protojson.UnmarshalOptions{RecursionLimit: maxJSONDepth}).Unmarshal(data, msg); err != nil {
		d.rejection = dataRejection(t, data, err)
		return d
	}
	d.msg = msg
	// protojson rejects names the message does not define: a JSON event
	// carries no unknown field.
	if path, ok := c.missingRequired(d.msg); ok {
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MISSING_REQUIRED_FIELD, path,
			"%s: required field %s is not set (required means present and not the zero value)", d.typ.FullName(), path)
	}
	return d
}

// resolveJSON finds the event version a JSON event names.
func (c *Catalogue) resolveJSON(j *ingestv1.JsonEvent) (EventType, *ingestv1.Rejection) {
	if j.GetName() != "" {
		t, ok := c.ByName(j.GetName())
		if !ok {
			return t, reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "json.name",
				"%s is not a registered event message; use a full name such as clickstream.events.v1.ItemViewV2", quote(j.GetName()))
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

// unknownField reports the first field, in field order, that the
// registered message does not define: the path of the message holding it
// ("" for the event itself) and its field number.
//
// A field the schema defines lands among the unknown fields too when it was
// sent with a wire type that does not fit its type; defined is that field
// then, so the caller can say "wrong type" rather than "unknown field".
func unknownField(m protoreflect.Message) (path string, num protowire.Number, defined protoreflect.FieldDescriptor, ok bool) {
	if unknown := m.GetUnknown(); len(unknown) > 0 {
		num, _, _ := protowire.ConsumeTag(unknown)
		return "", num, m.Descriptor().Fields().ByNumber(num), true
	}
	for step, sub := range subMessages(m) {
		if path, num, defined, ok := unknownField(sub); ok {
			return joinPath(step.String(), path), num, defined, true
		}
	}
	return "", 0, nil, false
}

// missingRequired reports the path of the first field marked required that
// is unset (or the zero value, for fields without explicit presence).
func (c *Catalogue) missingRequired(m protoreflect.Message) (string, bool) {
	fields := m.Descriptor().Fields()
	for _, fd := range c.required[m.Descriptor().FullName()] {
		// The message's own field: a generated message of the same shape
		// (compiledType) has descriptors of its own.
		if !m.Has(fields.ByNumber(fd.Number())) {
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

// The typed form is checked on the wire first: wireMessage tables, built
// once per catalogue, know every field of a message (number, wire type,
// nested table) and its required fields, so a valid payload is accepted
// without walking a decoded message. A payload the wire check does not
// accept outright (an unknown field, a missing required field, bytes that
// do not decode, anything unusual) takes the full path, which finds the
// precise rejection.

// wireField is what the wire check knows of one field.
type wireField struct {
	fd       protoreflect.FieldDescriptor
	kind     protoreflect.Kind
	list     bool
	packable bool // a repeated scalar: packed or one element per tag
	isMap    bool
	presence bool         // set when present, zero or not
	sub      *wireMessage // message fields, and map values of message kind
	mapKey   protoreflect.Kind
	mapValue protoreflect.Kind
	required uint64 // the bit of a required field in its message's mask, else 0
	oneof    bool   // in a oneof that is not a proto3 optional's
	// timestamp: a google.protobuf.Timestamp, which the map form sends as
	// one value.
	timestamp bool
}

// wireMessage is what the wire check knows of one message.
type wireMessage struct {
	fields map[protowire.Number]*wireField
	// byName finds a field by proto name or JSON name, for the map form.
	byName   map[string]*wireField
	required uint64 // every required field's bit
	// context is the event's Context field when it has one with an
	// occurred_at timestamp (field occurredAt of it): where the map form
	// puts MobileAppEvent.timestamp.
	context    *wireField
	occurredAt protowire.Number
	// full sends every payload of this message to the full path: required
	// fields the check cannot follow (more than 64, or inside a oneof),
	// proto2 required fields, closed enums, groups.
	full bool
}

// wireMessageOf builds (once) the wire table of md and the messages it reaches.
func (c *Catalogue) wireMessageOf(md protoreflect.MessageDescriptor) *wireMessage {
	if w, ok := c.wire[md.FullName()]; ok {
		return w
	}
	w := &wireMessage{fields: map[protowire.Number]*wireField{}, byName: map[string]*wireField{}}
	c.wire[md.FullName()] = w
	fields := md.Fields()
	nreq := 0
	for i := range fields.Len() {
		fd := fields.Get(i)
		f := &wireField{fd: fd, kind: fd.Kind(), list: fd.IsList(), isMap: fd.IsMap(), presence: fd.HasPresence()}
		if od := fd.ContainingOneof(); od != nil {
			f.presence = true
			f.oneof = !od.IsSynthetic()
		}
		f.timestamp = fd.Message() != nil && fd.Message().FullName() == timestampName
		switch {
		case f.isMap:
			f.mapKey, f.mapValue = fd.MapKey().Kind(), fd.MapValue().Kind()
			if vm := fd.MapValue().Message(); vm != nil {
				f.sub = c.wireMessageOf(vm)
			}
			if closedEnum(fd.MapValue()) {
				w.full = true
			}
		case fd.Message() != nil:
			f.sub = c.wireMessageOf(fd.Message())
		default:
			f.packable = f.list && f.kind != protoreflect.StringKind && f.kind != protoreflect.BytesKind
		}
		if f.kind == protoreflect.GroupKind || fd.Cardinality() == protoreflect.Required || closedEnum(fd) {
			w.full = true
		}
		if fieldOption(fd).GetRequired() {
			od := fd.ContainingOneof()
			if nreq == 64 || (od != nil && !od.IsSynthetic()) {
				w.full = true
			} else {
				f.required = 1 << nreq
				w.required |= f.required
				nreq++
			}
		}
		w.fields[fd.Number()] = f
	}
	// Proto names win over JSON names, as lookupField finds them.
	for _, f := range w.fields {
		if _, ok := w.byName[f.fd.JSONName()]; !ok {
			w.byName[f.fd.JSONName()] = f
		}
	}
	for _, f := range w.fields {
		w.byName[string(f.fd.Name())] = f
	}
	if fd := contextField(md); fd != nil {
		occ := fd.Message().Fields().ByName("occurred_at")
		if occ != nil && occ.Message() != nil && occ.Message().FullName() == timestampName && !occ.IsList() {
			w.context, w.occurredAt = w.fields[fd.Number()], occ.Number()
		}
	}
	return w
}

func closedEnum(fd protoreflect.FieldDescriptor) bool {
	return fd.Enum() != nil && fd.Enum().IsClosed()
}

// maxWireDepth bounds the nesting the wire check follows; deeper payloads
// take the full path.
const maxWireDepth = 32

// wireValid reports whether b is certainly a valid payload of w: it decodes,
// has no field w does not define (at any depth) and sets every required
// field. False means "not certain", not "invalid".
func wireValid(b []byte, w *wireMessage, depth int) bool {
	if w.full || depth > maxWireDepth {
		return false
	}
	var set uint64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		f := w.fields[num]
		if f == nil {
			return false
		}
		var isSet bool
		switch {
		case f.isMap:
			if typ != protowire.BytesType {
				return false
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || !wireMapEntry(v, f, depth) {
				return false
			}
			b, isSet = b[n:], true
		case f.sub != nil:
			if typ != protowire.BytesType {
				return false
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || !wireValid(v, f.sub, depth+1) {
				return false
			}
			b, isSet = b[n:], true
		case f.packable && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			for len(v) > 0 {
				_, m := wireScalar(v, f.kind, wireTypeOf(f.kind))
				if m < 0 {
					return false
				}
				v = v[m:]
				isSet = true
			}
			b = b[n:]
		default:
			nonzero, n := wireScalar(b, f.kind, typ)
			if n < 0 {
				return false
			}
			b, isSet = b[n:], nonzero || f.presence || f.list
			if !isSet && f.required != 0 {
				set &^= f.required // the last value wins: a zero unsets
			}
		}
		if isSet {
			set |= f.required
		}
	}
	return set == w.required
}

// wireMapEntry checks one map entry: key (1) and value (2) only.
func wireMapEntry(b []byte, f *wireField, depth int) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case num == 1:
			_, n = wireScalar(b, f.mapKey, typ)
		case num == 2 && f.sub != nil:
			if typ != protowire.BytesType {
				return false
			}
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			if n >= 0 && !wireValid(v, f.sub, depth+1) {
				return false
			}
		case num == 2:
			_, n = wireScalar(b, f.mapValue, typ)
		default:
			return false
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// wireTypeOf is the wire type of a scalar kind.
func wireTypeOf(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	}
	return protowire.VarintType
}

// wireScalar consumes one scalar of kind k sent with wire type typ: whether
// it is not the zero value, and its length (negative when it is not a valid
// value of k).
func wireScalar(b []byte, k protoreflect.Kind, typ protowire.Type) (bool, int) {
	if typ != wireTypeOf(k) || k == protoreflect.MessageKind {
		return false, -1
	}
	switch typ {
	case protowire.VarintType:
		v, n := protowire.ConsumeVarint(b)
		switch k {
		case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Sint32Kind, protoreflect.EnumKind:
			return uint32(v) != 0, n
		}
		return v != 0, n
	case protowire.Fixed32Type:
		v, n := protowire.ConsumeFixed32(b)
		return v != 0, n
	case protowire.Fixed64Type:
		v, n := protowire.ConsumeFixed64(b)
		return v != 0, n
	}
	v, n := protowire.ConsumeBytes(b)
	if n >= 0 && k == protoreflect.StringKind && !utf8.Valid(v) {
		return false, -1
	}
	return len(v) > 0, n
}

// wireFill sets the fields of m from b, which wireValid accepted for w:
// what proto.Unmarshal does, without looking fields up by number again or
// checking what wireValid checked.
func wireFill(b []byte, m protoreflect.Message, w *wireMessage) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		f := w.fields[num]
		switch {
		case f.isMap:
			v, n := protowire.ConsumeBytes(b)
			b = b[n:]
			wireFillMapEntry(v, m.Mutable(f.fd).Map(), f)
		case f.sub != nil:
			v, n := protowire.ConsumeBytes(b)
			b = b[n:]
			if f.list {
				list := m.Mutable(f.fd).List()
				e := list.NewElement()
				wireFill(v, e.Message(), f.sub)
				list.Append(e)
			} else {
				wireFill(v, m.Mutable(f.fd).Message(), f.sub)
			}
		case f.list:
			list := m.Mutable(f.fd).List()
			if typ == protowire.BytesType && f.packable {
				v, n := protowire.ConsumeBytes(b)
				b = b[n:]
				for len(v) > 0 {
					x, k := wireValue(v, f.kind)
					list.Append(x)
					v = v[k:]
				}
				continue
			}
			x, k := wireValue(b, f.kind)
			list.Append(x)
			b = b[k:]
		default:
			x, k := wireValue(b, f.kind)
			m.Set(f.fd, x)
			b = b[k:]
		}
	}
}

// wireFillMapEntry sets one map entry from b, which wireMapEntry accepted.
func wireFillMapEntry(b []byte, entries protoreflect.Map, f *wireField) {
	var key, val protoreflect.Value
	for len(b) > 0 {
		num, _, n := protowire.ConsumeTag(b)
		b = b[n:]
		switch {
		case num == 1:
			key, n = wireValue(b, f.mapKey)
		case f.sub != nil:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			val = entries.NewValue()
			wireFill(v, val.Message(), f.sub)
		default:
			val, n = wireValue(b, f.mapValue)
		}
		b = b[n:]
	}
	if !key.IsValid() {
		key = f.fd.MapKey().Default()
	}
	if !val.IsValid() {
		if f.sub != nil {
			val = entries.NewValue()
		} else {
			val = f.fd.MapValue().Default()
		}
	}
	entries.Set(key.MapKey(), val)
}

// wireValue decodes one scalar of kind k that wireScalar accepted.
func wireValue(b []byte, k protoreflect.Kind) (protoreflect.Value, int) {
	switch wireTypeOf(k) {
	case protowire.Fixed32Type:
		v, n := protowire.ConsumeFixed32(b)
		switch k {
		case protoreflect.FloatKind:
			return protoreflect.ValueOfFloat32(math.Float32frombits(v)), n
		case protoreflect.Sfixed32Kind:
			return protoreflect.ValueOfInt32(int32(v)), n
		}
		return protoreflect.ValueOfUint32(v), n
	case protowire.Fixed64Type:
		v, n := protowire.ConsumeFixed64(b)
		switch k {
		case protoreflect.DoubleKind:
			return protoreflect.ValueOfFloat64(math.Float64frombits(v)), n
		case protoreflect.Sfixed64Kind:
			return protoreflect.ValueOfInt64(int64(v)), n
		}
		return protoreflect.ValueOfUint64(v), n
	case protowire.BytesType:
		v, n := protowire.ConsumeBytes(b)
		if k == protoreflect.StringKind {
			return protoreflect.ValueOfString(string(v)), n
		}
		return protoreflect.ValueOfBytes(append([]byte{}, v...)), n
	}
	v, n := protowire.ConsumeVarint(b)
	switch k {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(v != 0), n
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(int32(v))), n
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(v)), n
	case protoreflect.Sint32Kind:
		return protoreflect.ValueOfInt32(int32(protowire.DecodeZigZag(v & math.MaxUint32))), n
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32(uint32(v)), n
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(int64(v)), n
	case protoreflect.Sint64Kind:
		return protoreflect.ValueOfInt64(protowire.DecodeZigZag(v)), n
	}
	return protoreflect.ValueOfUint64(v), n
}

// appendStruct appends s as JSON as protojson writes it (keys sorted; up to
// spacing, which protojson varies on purpose). False when s holds what
// protojson refuses to write (a NaN or infinite number, a value of no kind,
// invalid UTF-8) or a nil message: protojson then says what.
func appendStruct(b []byte, s *structpb.Struct) ([]byte, bool) {
	if s == nil {
		return b, false
	}
	fields := s.GetFields()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendJSONString(b, k); !ok {
			return b, false
		}
		b = append(b, ':')
		if b, ok = appendJSONValue(b, fields[k]); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

func appendJSONValue(b []byte, v *structpb.Value) ([]byte, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return append(b, "null"...), true
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(b, k.BoolValue), true
	case *structpb.Value_StringValue:
		return appendJSONString(b, k.StringValue)
	case *structpb.Value_NumberValue:
		n := k.NumberValue
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return b, false
		}
		format := byte('f')
		if abs := math.Abs(n); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
			format = 'e'
		}
		b = strconv.AppendFloat(b, n, format, -1, 64)
		if l := len(b); format == 'e' && b[l-4] == 'e' && b[l-3] == '-' && b[l-2] == '0' {
			b[l-2] = b[l-1] // 1e-07 → 1e-7
			b = b[:l-1]
		}
		return b, true
	case *structpb.Value_StructValue:
		return appendStruct(b, k.StructValue)
	case *structpb.Value_ListValue:
		if k.ListValue == nil {
			return b, false
		}
		b = append(b, '[')
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendJSONValue(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}

// appendJSONString appends s quoted; false when s is not valid UTF-8.
func appendJSONString(b []byte, s string) ([]byte, bool) {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return b, false
			}
			i += n
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}

// kindName is a field's type for messages: "int64", "message clickstream.events.v1.Money".
func kindName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.Message() != nil:
		return "message " + string(fd.Message().FullName())
	case fd.Enum() != nil:
		return "enum " + string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

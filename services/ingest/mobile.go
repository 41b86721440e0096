package ingest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// The map form (clickstream.events.v1.MobileAppEvent) names an event by id
// and version and carries its fields as strings, keyed by field path. Ingest
// converts it to the message registered for (event_id, version); after that
// the event is validated like the typed and JSON forms.
//
// Keys are field names, proto ("item_id") or JSON ("itemId"), or dotted paths
// through singular message fields ("context.geo.latitude", "price.amount_minor").
// One field is set by one key: "item_id" and "itemId", or "price" and
// "price.currency", in the same event are rejected as MALFORMED.
//
// Values, by the field's type:
//   - integers: decimal ("42", "-7"); out of range for the field's width, or
//     negative for an unsigned field, is rejected;
//   - float and double: decimal with optional exponent ("1.5", "-2e-3"), or
//     "NaN", "Infinity", "-Infinity" as protobuf JSON spells them. Those are
//     valid protobuf values and are accepted; a value beyond the type's range
//     is rejected, one below its precision rounds to zero;
//   - bool: "true", "false" (any case), "1", "0";
//   - string: as is (valid UTF-8); bytes: base64, standard or URL alphabet,
//     padded or not;
//   - enums: the value name in full ("CONTENT_STATUS_ACTIVE"), without the
//     prefix shared by the enum's values ("ACTIVE"), either in any case
//     ("active"), or a number that is a defined value;
//   - google.protobuf.Timestamp: RFC 3339 ("2024-05-01T12:00:00.5Z") or unix
//     seconds, integer or with up to nine fractional digits ("1714564800.5");
//   - repeated fields: a JSON array (`[1,2,3]`, `["a","b"]`); map fields: a
//     JSON object (`{"color":"red"}`); a message field: a JSON object of its
//     fields. Inside JSON, values follow the rules above: numbers, bools and
//     enums may be JSON numbers/bools or strings, strings and bytes must be
//     JSON strings, messages are objects, null is not a value.
//
// MobileAppEvent.timestamp becomes context.occurred_at when the event has a
// clickstream.events.v1.Context field and the params did not set occurred_at.

// maxMobileParams bounds the params of one map-form event. No event version
// has nearly as many fields; the byte limit per event applies as well.
const maxMobileParams = 256

// maxQuoted bounds how much of an offending value or key a rejection quotes.
const maxQuoted = 64

const timestampName protoreflect.FullName = "google.protobuf.Timestamp"

// Range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// decodeMobile resolves a map-form event and converts it to its registered
// message.
//
// The bytes as received (the MobileAppEvent encoded again) matter to a dead
// letter only, so they are encoded when the event is rejected.
func (c *Catalogue) decodeMobile(m *eventsv1.MobileAppEvent, maxBytes int) decoded {
	d := c.convertMobile(m, maxBytes)
	if d.rejection != nil && d.original == nil {
		d.original, _ = proto.MarshalOptions{Deterministic: true}.Marshal(m)
	}
	return d
}

func (c *Catalogue) convertMobile(m *eventsv1.MobileAppEvent, maxBytes int) decoded {
	var d decoded
	id, version := m.GetEventId(), m.GetVersion()
	t, found, known := c.ByID(id, version)
	// Encoding fails on invalid UTF-8 only; the size is the same however
	// the params are ordered.
	var err error
	if !validParams(m.GetParams()) {
		_, err = proto.MarshalOptions{Deterministic: true}.Marshal(m)
	}
	size := mobileSize(m)
	if err != nil {
		// Only an in-process caller can build such an event: the wire
		// decoding of the request rejects invalid UTF-8 already.
		d.typ = t
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "mobile",
			"%s: the MobileAppEvent cannot be encoded: %v", cmp.Or(t.FullName(), fmt.Sprintf("event %d v%d", id, version)), err)
		return d
	}
	switch {
	case !known:
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "mobile.event_id",
			"event id %d is not registered; send the event_id and version of a registered event version", id)
		return d
	case !found:
		versions := c.Versions(id)
		name := c.byID[idVersion{id, versions[0]}].Name
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_VERSION, "mobile.version",
			"event %d (%s) has no version %d; registered versions: %v", id, name, version, versions)
		return d
	}
	d.typ = t
	if size > maxBytes {
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "mobile",
			"%s is %d bytes as a MobileAppEvent; the limit is %d bytes per event", t.FullName(), size, maxBytes)
		return d
	}
	if n := len(m.GetParams()); n > maxMobileParams {
		d.rejection = reject(ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, "mobile.params",
			"%s has %d params; the limit is %d per event", t.FullName(), n, maxMobileParams)
		return d
	}
	if w := c.wire[t.Descriptor.FullName()]; w != nil {
		if b, ok := mobileWire(w, m, size); ok && wireValid(b, w, 0) {
			d.asReceived, d.payload, d.wire = true, b, w
			return d
		}
	}
	d.msg, d.rejection = mobileToMessage(t, m)
	return d
}

// mobileSize is the encoded size of m, as proto.Size, without sizing the
// params map through reflection.
func mobileSize(m *eventsv1.MobileAppEvent) int {
	n := proto.Size(&eventsv1.MobileAppEvent{EventId: m.GetEventId(), Version: m.GetVersion(), Timestamp: m.GetTimestamp()})
	n += len(m.ProtoReflect().GetUnknown())
	const paramsTag = 1 // field 4, bytes: one byte
	for k, v := range m.GetParams() {
		entry := 1 + protowire.SizeBytes(len(k)) + 1 + protowire.SizeBytes(len(v))
		n += paramsTag + protowire.SizeBytes(entry)
	}
	return n
}

// validParams reports whether every key and value is valid UTF-8.
func validParams(params map[string]string) bool {
	for k, v := range params {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// mobileToMessage converts the params and timestamp of m to a message of t.
// It checks the values only; unknown-field and required-field checks follow
// in decode, as for every form.
func mobileToMessage(t EventType, m *eventsv1.MobileAppEvent) (*dynamicpb.Message, *ingestv1.Rejection) {
	conv := mobileConverter{
		msg:     dynamicpb.NewMessage(t.Descriptor),
		leaves:  make(map[string]string, len(m.GetParams())),
		through: make(map[string]string, len(m.GetParams())),
	}
	params := m.GetParams()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if err := conv.param(key, params[key]); err != nil {
			return nil, reject(err.reason, err.path, "%s: %s", t.FullName(), err.text)
		}
	}
	if err := conv.occurredAt(m.GetTimestamp()); err != nil {
		return nil, reject(err.reason, err.path, "%s: %s", t.FullName(), err.text)
	}
	return conv.msg, nil
}

// fieldError is a rejection before it names the event.
type fieldError struct {
	reason ingestv1.RejectReason
	path   string
	text   string
}

// at is where a value goes.
type at struct {
	path string // as the client spelled it: the param key, then .member, [i] or ["key"]
	name string // the same with proto field names, for messages
	elem bool   // one element of a repeated field
}

func (a at) member(key string, fd protoreflect.FieldDescriptor) at {
	return at{path: a.path + "." + key, name: a.name + "." + string(fd.Name())}
}

func (a at) index(i int) at {
	s := "[" + strconv.Itoa(i) + "]"
	return at{path: a.path + s, name: a.name + s, elem: true}
}

func (a at) key(k string) at {
	s := "[" + quote(k) + "]"
	return at{path: a.path + s, name: a.name + s}
}

// wrong reports a value that does not fit its field.
func wrong(where at, fd protoreflect.FieldDescriptor, value, problem string) *fieldError {
	return &fieldError{
		reason: ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE,
		path:   clip(where.path),
		text:   fmt.Sprintf("field %s (%s): %s %s", clip(where.name), typeName(fd, where.elem), quote(value), problem),
	}
}

type mobileConverter struct {
	msg *dynamicpb.Message
	// leaves maps the proto-name path of every field a param set to the
	// param; through does the same for the messages on the way to it.
	leaves, through map[string]string
}

// param sets the field that key names to value.
func (c *mobileConverter) param(key, value string) *fieldError {
	var (
		parent protoreflect.Message = c.msg
		fd     protoreflect.FieldDescriptor
		// name is the path with proto field names; built only when the
		// key spells a segment another way (a JSON name): else it is key.
		name    strings.Builder
		renamed bool
		rest    = key
	)
	for {
		seg, more, dotted := strings.Cut(rest, ".")
		md := parent.Descriptor()
		fd = lookupField(md, seg)
		if fd == nil {
			return unknownParam(key, md, seg)
		}
		if !renamed && seg != string(fd.Name()) {
			renamed = true
			name.WriteString(key[:len(key)-len(rest)])
		}
		if renamed {
			if name.Len() > 0 {
				name.WriteByte('.')
			}
			name.WriteString(string(fd.Name()))
		}
		if !dotted {
			break
		}
		if fd.IsList() || fd.IsMap() || fd.Message() == nil || fd.Message().FullName() == timestampName {
			done := key[:len(key)-len(more)-1]
			if renamed {
				done = name.String()
			}
			return &fieldError{
				reason: ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE,
				path:   clip(key),
				text: fmt.Sprintf("param %s: field %s (%s) has no fields to name with a dot; %s",
					quote(key), done, typeName(fd, false), howToSend(fd)),
			}
		}
		if err := oneofTaken(parent, fd, key); err != nil {
			return err
		}
		parent = parent.Mutable(fd).Message()
		rest = more
	}
	path := key
	if renamed {
		path = name.String()
	}
	if err := c.claim(key, path); err != nil {
		return err
	}
	if err := oneofTaken(parent, fd, key); err != nil {
		return err
	}
	return setParam(parent, fd, value, at{path: key, name: path})
}

// claim records that key sets the field at path, and rejects a second key
// for the same field or for a field inside or around it.
func (c *mobileConverter) claim(key, path string) *fieldError {
	other, ok := c.leaves[path]
	if !ok {
		other, ok = c.through[path]
	}
	for p := path; !ok; {
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
		other, ok = c.leaves[p]
	}
	if ok {
		return &fieldError{
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED,
			path:   clip(key),
			text:   fmt.Sprintf("params %s and %s both set field %s; send one of them", quote(other), quote(key), path),
		}
	}
	c.leaves[path] = key
	for p := path; ; {
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
		c.through[p] = key
	}
	return nil
}

// oneofTaken rejects setting fd when another field of its oneof is set.
func oneofTaken(parent protoreflect.Message, fd protoreflect.FieldDescriptor, path string) *fieldError {
	od := fd.ContainingOneof()
	if od == nil || od.IsSynthetic() {
		return nil
	}
	if other := parent.WhichOneof(od); other != nil && other.Number() != fd.Number() {
		return &fieldError{
			reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED,
			path:   clip(path),
			text:   fmt.Sprintf("fields %s and %s are both set; they are alternatives (oneof %s): send one", other.Name(), fd.Name(), od.Name()),
		}
	}
	return nil
}

// unknownParam reports a key segment that names no field of md.
func unknownParam(key string, md protoreflect.MessageDescriptor, seg string) *fieldError {
	fields := md.Fields()
	names := make([]string, fields.Len())
	for i := range fields.Len() {
		names[i] = string(fields.Get(i).Name())
	}
	return &fieldError{
		reason: ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD,
		path:   clip(key),
		text: fmt.Sprintf("param %s: %s has no field %s; its fields are %s",
			quote(key), md.FullName(), quote(seg), strings.Join(names, ", ")),
	}
}

// lookupField finds a field by proto name or JSON name.
func lookupField(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	fields := md.Fields()
	if fd := fields.ByName(protoreflect.Name(name)); fd != nil {
		return fd
	}
	return fields.ByJSONName(name)
}

// setParam sets fd of m from a param value.
func setParam(m protoreflect.Message, fd protoreflect.FieldDescriptor, value string, where at) *fieldError {
	switch {
	case fd.IsMap(), fd.IsList():
		return setJSON(m, fd, []byte(value), where)
	case fd.Message() != nil && fd.Message().FullName() != timestampName:
		if _, err := objectOf(fd, []byte(value), where, howToSend(fd)); err != nil {
			return err
		}
		return setJSON(m, fd, []byte(value), where)
	}
	v, err := fromText(fd, value, formParam, func() protoreflect.Value { return m.NewField(fd) }, where)
	if err != nil {
		return err
	}
	m.Set(fd, v)
	return nil
}

// setJSON sets fd of m from a JSON value.
func setJSON(m protoreflect.Message, fd protoreflect.FieldDescriptor, raw []byte, where at) *fieldError {
	switch {
	case fd.IsMap():
		obj, err := objectOf(fd, raw, where, howToSend(fd))
		if err != nil {
			return err
		}
		entries := m.Mutable(fd).Map()
		for _, member := range obj {
			kw := where.key(member.key)
			mk, err := fromText(fd.MapKey(), member.key, formString, nil, kw)
			if err != nil {
				return err
			}
			if entries.Has(mk.MapKey()) {
				return wrong(kw, fd.MapKey(), member.key, fmt.Sprintf("is the key %v again, written another way; send each key once", mk.Interface()))
			}
			v, err := fromJSON(fd.MapValue(), member.raw, entries.NewValue, kw)
			if err != nil {
				return err
			}
			entries.Set(mk.MapKey(), v)
		}
		return nil
	case fd.IsList():
		arr, ok := jsonArray(raw)
		if !ok {
			return wrong(where, fd, string(raw), "is not a JSON array; "+howToSend(fd))
		}
		list := m.Mutable(fd).List()
		for i, elem := range arr {
			v, err := fromJSON(fd, elem, list.NewElement, where.index(i))
			if err != nil {
				return err
			}
			list.Append(v)
		}
		return nil
	}
	v, err := fromJSON(fd, raw, func() protoreflect.Value { return m.NewField(fd) }, where)
	if err != nil {
		return err
	}
	m.Set(fd, v)
	return nil
}

// fillObject sets the fields of m from a JSON object keyed by field name.
func fillObject(m protoreflect.Message, obj []member, where at) *fieldError {
	set := map[protoreflect.FieldNumber]string{}
	for _, member := range obj {
		k := member.key
		fd := lookupField(m.Descriptor(), k)
		if fd == nil {
			return unknownParam(where.path+"."+k, m.Descriptor(), k)
		}
		mw := where.member(k, fd)
		if other, dup := set[fd.Number()]; dup {
			return &fieldError{
				reason: ingestv1.RejectReason_REJECT_REASON_MALFORMED,
				path:   clip(mw.path),
				text:   fmt.Sprintf("members %s and %s of %s both set field %s; send one of them", quote(other), quote(k), clip(where.name), mw.name),
			}
		}
		set[fd.Number()] = k
		if err := oneofTaken(m, fd, mw.path); err != nil {
			return err
		}
		if err := setJSON(m, fd, member.raw, mw); err != nil {
			return err
		}
	}
	return nil
}

// form is how a value to convert was written.
type form int

const (
	formParam  form = iota // a param value: a plain string
	formString             // a JSON string's contents, or a JSON object key
	formNumber             // a JSON number literal
	formBool               // a JSON true or false
)

// fromJSON converts one JSON value for a field (or list element, or map
// value) of fd's kind. newMsg makes the message to fill for message kinds.
func fromJSON(fd protoreflect.FieldDescriptor, raw []byte, newMsg func() protoreflect.Value, where at) (protoreflect.Value, *fieldError) {
	raw = trimJSONSpace(raw)
	if md := fd.Message(); md != nil && md.FullName() != timestampName {
		obj, err := objectOf(fd, raw, where, howToSendOne(fd))
		if err != nil {
			return protoreflect.Value{}, err
		}
		v := newMsg()
		if err := fillObject(v.Message(), obj, where); err != nil {
			return protoreflect.Value{}, err
		}
		return v, nil
	}
	if len(raw) == 0 {
		return protoreflect.Value{}, wrong(where, fd, "", "is not a JSON value")
	}
	switch raw[0] {
	case '{':
		return protoreflect.Value{}, wrong(where, fd, string(raw), "is a JSON object; "+howToSendOne(fd))
	case '[':
		return protoreflect.Value{}, wrong(where, fd, string(raw), "is a JSON array; "+howToSendOne(fd))
	case 'n':
		return protoreflect.Value{}, wrong(where, fd, string(raw), "is not a value; leave the field out instead")
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return protoreflect.Value{}, wrong(where, fd, string(raw), "is not a valid JSON string")
		}
		return fromText(fd, s, formString, newMsg, where)
	case 't', 'f':
		if string(raw) != "true" && string(raw) != "false" {
			return protoreflect.Value{}, wrong(where, fd, string(raw), "is not a JSON value")
		}
		return fromText(fd, string(raw), formBool, newMsg, where)
	}
	if !json.Valid(raw) {
		return protoreflect.Value{}, wrong(where, fd, string(raw), "is not a JSON value")
	}
	return fromText(fd, string(raw), formNumber, newMsg, where)
}

// fromText converts a value written as text for a field of fd's kind; a
// message kind is only a Timestamp here.
func fromText(fd protoreflect.FieldDescriptor, s string, f form, newMsg func() protoreflect.Value, where at) (protoreflect.Value, *fieldError) {
	if md := fd.Message(); md != nil {
		if md.FullName() != timestampName {
			return protoreflect.Value{}, wrong(where, fd, s, "is not a JSON object; "+howToSendOne(fd))
		}
		secs, nanos, problem := parseTimestamp(s)
		if problem != "" || f == formBool {
			return protoreflect.Value{}, wrong(where, fd, s, "is not a timestamp; "+cmp.Or(problem, timestampHint))
		}
		v := newMsg()
		setTimestamp(v.Message(), secs, nanos)
		return v, nil
	}
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BytesKind:
		if f == formNumber || f == formBool {
			return protoreflect.Value{}, wrong(where, fd, s, "is not a JSON string; quote it")
		}
		if fd.Kind() == protoreflect.BytesKind {
			b, ok := decodeBase64(s)
			if !ok {
				return protoreflect.Value{}, wrong(where, fd, s, "is not base64 (standard or URL alphabet, padded or not)")
			}
			return protoreflect.ValueOfBytes(b), nil
		}
		if !utf8.ValidString(s) {
			return protoreflect.Value{}, wrong(where, fd, s, "is not valid UTF-8")
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		switch {
		case strings.EqualFold(s, "true") || s == "1":
			return protoreflect.ValueOfBool(true), nil
		case strings.EqualFold(s, "false") || s == "0":
			return protoreflect.ValueOfBool(false), nil
		}
		return protoreflect.Value{}, wrong(where, fd, s, "is not a bool; use true, false, 1 or 0")
	case protoreflect.EnumKind:
		return enumValue(fd, s, where)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := parseInt(fd, s, 32, where)
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := parseInt(fd, s, 64, where)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := parseUint(fd, s, 32, where)
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := parseUint(fd, s, 64, where)
		return protoreflect.ValueOfUint64(n), err
	case protoreflect.FloatKind:
		x, err := parseFloat(fd, s, 32, where)
		return protoreflect.ValueOfFloat32(float32(x)), err
	case protoreflect.DoubleKind:
		x, err := parseFloat(fd, s, 64, where)
		return protoreflect.ValueOfFloat64(x), err
	}
	return protoreflect.Value{}, wrong(where, fd, s, "cannot be sent in the map form")
}

func parseInt(fd protoreflect.FieldDescriptor, s string, bits int, where at) (int64, *fieldError) {
	n, err := strconv.ParseInt(s, 10, bits)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, wrong(where, fd, s, fmt.Sprintf("is out of range for %s", fd.Kind()))
	}
	return 0, wrong(where, fd, s, "is not an integer")
}

func parseUint(fd protoreflect.FieldDescriptor, s string, bits int, where at) (uint64, *fieldError) {
	n, err := strconv.ParseUint(s, 10, bits)
	if err == nil {
		return n, nil
	}
	switch {
	case strings.HasPrefix(s, "-") && isDigits(s[1:]):
		return 0, wrong(where, fd, s, fmt.Sprintf("is negative; %s is unsigned", fd.Kind()))
	case errors.Is(err, strconv.ErrRange):
		return 0, wrong(where, fd, s, fmt.Sprintf("is out of range for %s", fd.Kind()))
	}
	return 0, wrong(where, fd, s, "is not an integer")
}

func parseFloat(fd protoreflect.FieldDescriptor, s string, bits int, where at) (float64, *fieldError) {
	switch s {
	case "NaN", "Infinity", "-Infinity":
		x, _ := strconv.ParseFloat(s, bits)
		return x, nil
	}
	if !isDecimal(s) {
		return 0, wrong(where, fd, s, "is not a number; use a decimal number such as 1.5 or -2e-3")
	}
	x, err := strconv.ParseFloat(s, bits)
	if err != nil {
		return 0, wrong(where, fd, s, fmt.Sprintf("is out of range for %s", fd.Kind()))
	}
	return x, nil
}

// enumValue finds an enum value by name (full, without the shared prefix,
// any case) or by defined number.
func enumValue(fd protoreflect.FieldDescriptor, s string, where at) (protoreflect.Value, *fieldError) {
	ed := fd.Enum()
	values := ed.Values()
	// Only a sign or a digit can start a number: names skip the parse.
	var n int64
	parsed := false
	if s != "" && (s[0] == '-' || s[0] == '+' || s[0] >= '0' && s[0] <= '9') {
		var err error
		n, err = strconv.ParseInt(s, 10, 32)
		parsed = err == nil
	}
	if parsed {
		if values.ByNumber(protoreflect.EnumNumber(n)) != nil {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
		}
	} else if v := values.ByName(protoreflect.Name(s)); v != nil {
		return protoreflect.ValueOfEnum(v.Number()), nil
	} else {
		prefix := enumPrefix(ed)
		for i := range values.Len() {
			v := values.Get(i)
			name := string(v.Name())
			if strings.EqualFold(name, s) || strings.EqualFold(strings.TrimPrefix(name, prefix), s) {
				return protoreflect.ValueOfEnum(v.Number()), nil
			}
		}
	}
	prefix := enumPrefix(ed)
	names := make([]string, values.Len())
	for i := range values.Len() {
		v := values.Get(i)
		names[i] = fmt.Sprintf("%s=%d", strings.TrimPrefix(string(v.Name()), prefix), v.Number())
	}
	return protoreflect.Value{}, wrong(where, fd, s,
		fmt.Sprintf("is not a value of %s; use a name or number of %s (names in full or without %s, any case)",
			ed.FullName(), strings.Join(names, ", "), prefix))
}

// enumPrefix is the prefix up to an underscore that all values of ed share,
// "CONTENT_STATUS_" for CONTENT_STATUS_ACTIVE, CONTENT_STATUS_BLOCKED ...
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	values := ed.Values()
	if values.Len() == 0 {
		return ""
	}
	prefix := string(values.Get(0).Name())
	for i := 1; i < values.Len(); i++ {
		name := string(values.Get(i).Name())
		n := 0
		for n < len(prefix) && n < len(name) && prefix[n] == name[n] {
			n++
		}
		prefix = prefix[:n]
	}
	return prefix[:strings.LastIndexByte(prefix, '_')+1]
}

const timestampHint = "use RFC 3339 (2024-05-01T12:00:00Z) or unix seconds (1714564800 or 1714564800.25)"

// parseTimestamp reads RFC 3339 or unix seconds with up to nine fractional
// digits; problem says what is wrong.
func parseTimestamp(s string) (secs int64, nanos int32, problem string) {
	body, neg := strings.CutPrefix(s, "-")
	whole, frac, dotted := strings.Cut(body, ".")
	if isDigits(whole) && (!dotted || isDigits(frac)) {
		if len(frac) > 9 {
			return 0, 0, "unix seconds have at most nine fractional digits (nanoseconds)"
		}
		n, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || n > maxTimestampSeconds+1 {
			return 0, 0, "it is outside years 1 to 9999; send unix seconds, not milliseconds"
		}
		f, _ := strconv.Atoi((frac + "000000000")[:9])
		secs, nanos = n, int32(f)
		if neg {
			secs = -secs
			if nanos > 0 {
				secs--
				nanos = 1e9 - nanos
			}
		}
	} else {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, 0, timestampHint
		}
		secs, nanos = t.Unix(), int32(t.Nanosecond())
	}
	if secs < minTimestampSeconds || secs > maxTimestampSeconds {
		return 0, 0, "it is outside years 1 to 9999; send unix seconds, not milliseconds"
	}
	return secs, nanos, ""
}

// setTimestamp sets a google.protobuf.Timestamp message, whichever
// descriptor instance it was built from.
func setTimestamp(m protoreflect.Message, secs int64, nanos int32) {
	fields := m.Descriptor().Fields()
	if fd := fields.ByName("seconds"); fd != nil && fd.Kind() == protoreflect.Int64Kind {
		m.Set(fd, protoreflect.ValueOfInt64(secs))
	}
	if fd := fields.ByName("nanos"); fd != nil && fd.Kind() == protoreflect.Int32Kind {
		m.Set(fd, protoreflect.ValueOfInt32(nanos))
	}
}

// occurredAt sets context.occurred_at from the MobileAppEvent timestamp when
// the event has a Context and the params left occurred_at unset.
func (c *mobileConverter) occurredAt(ts *timestamppb.Timestamp) *fieldError {
	if ts == nil {
		return nil
	}
	fd := contextField(c.msg.Descriptor())
	if fd == nil {
		return nil
	}
	occ := fd.Message().Fields().ByName("occurred_at")
	if occ == nil || occ.Message() == nil || occ.Message().FullName() != timestampName || occ.IsList() {
		return nil
	}
	if c.msg.Has(fd) && c.msg.Get(fd).Message().Has(occ) {
		return nil
	}
	if err := ts.CheckValid(); err != nil {
		return &fieldError{
			reason: ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE,
			path:   "mobile.timestamp",
			text:   fmt.Sprintf("timestamp (google.protobuf.Timestamp) {seconds: %d, nanos: %d} is not a valid time: %v", ts.GetSeconds(), ts.GetNanos(), err),
		}
	}
	setTimestamp(c.msg.Mutable(fd).Message().Mutable(occ).Message(), ts.GetSeconds(), ts.GetNanos())
	return nil
}

// typeName names the type of a field, or of one of its elements, as a
// rejection shows it.
func typeName(fd protoreflect.FieldDescriptor, elemOnly bool) string {
	elem := func(fd protoreflect.FieldDescriptor) string {
		switch {
		case fd.Enum() != nil:
			return string(fd.Enum().FullName())
		case fd.Message() != nil:
			return string(fd.Message().FullName())
		}
		return fd.Kind().String()
	}
	switch {
	case fd.IsMap():
		return fmt.Sprintf("map<%s, %s>", elem(fd.MapKey()), elem(fd.MapValue()))
	case fd.IsList() && !elemOnly:
		return "repeated " + elem(fd)
	}
	return elem(fd)
}

// howToSend says how a value of fd is written in a param.
func howToSend(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return `send the whole map as one JSON object, e.g. {"key":"value"}`
	case fd.IsList():
		return `send the whole list as one JSON array, e.g. [1,2] or ["a","b"]`
	case fd.Message() != nil && fd.Message().FullName() != timestampName:
		return "name its fields with dotted keys or send it as one JSON object"
	}
	return "send it as one value"
}

// howToSendOne says how one value (a field, element or map value) of fd's
// kind is written.
func howToSendOne(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.Message() != nil && fd.Message().FullName() == timestampName:
		return timestampHint
	case fd.Message() != nil:
		return "send a JSON object of its fields"
	}
	return "send a single " + fd.Kind().String()
}

// member is one member of a JSON object.
type member struct {
	key string
	raw json.RawMessage
}

// objectOf reads the JSON object for a value of fd, its members in key
// order. A key given twice is rejected: encoding/json would keep the last
// one silently.
func objectOf(fd protoreflect.FieldDescriptor, raw []byte, where at, how string) ([]member, *fieldError) {
	notObject := func() ([]member, *fieldError) {
		return nil, wrong(where, fd, string(raw), "is not a JSON object; "+how)
	}
	trimmed := trimJSONSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return notObject()
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil {
		return notObject()
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return notObject()
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return notObject()
		}
		if seen[key] {
			return nil, wrong(where, fd, string(raw), fmt.Sprintf("has the key %s twice; send each key once", quote(key)))
		}
		seen[key] = true
		out = append(out, member{key, v})
	}
	slices.SortFunc(out, func(a, b member) int { return strings.Compare(a.key, b.key) })
	return out, nil
}

func jsonArray(raw []byte) ([]json.RawMessage, bool) {
	raw = trimJSONSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) != nil {
		return nil, false
	}
	return arr, true
}

func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isDecimal reports whether s is a decimal number: an optional sign, digits
// with an optional fraction (or a fraction alone), an optional exponent.
func isDecimal(s string) bool {
	digits := func() int {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		s = s[n:]
		return n
	}
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	n := digits()
	if s != "" && s[0] == '.' {
		s = s[1:]
		n += digits()
	}
	if n == 0 {
		return false
	}
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s != "" && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		if digits() == 0 {
			return false
		}
	}
	return s == ""
}

// quote quotes a client's string for a message, clipped to maxQuoted bytes.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d bytes)", len(s))
}

// clip makes a client's key fit to be a field path: valid UTF-8, bounded.
func clip(s string) string {
	const maxPath = 256
	if len(s) > maxPath {
		cut := maxPath
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// The map form is converted on the wire first: params are encoded with the
// message's wire tables straight to protobuf bytes, which the typed form's
// wire check then validates. Params the wire conversion does not take on
// (a list, map or message sent as JSON, a oneof member, a key or value that
// does not convert, two keys for one field) and events the wire check does
// not accept outright take mobileToMessage, which finds the precise
// rejection.

// wireParam is one field the params set in one message, on its way to the
// wire: a scalar, a timestamp, or a message other params fill (child).
type wireParam struct {
	f      *wireField
	s      string // a string or bytes
	bits   uint64 // a number as the wire has it: varint, zigzag or fixed bits; a timestamp's seconds
	parent int32  // the message it is a field of: 0 for the event, else a child's number
	child  int32  // for a message: its number, greater than 0
	nanos  int32  // a timestamp's nanos
	omit   bool   // the zero value of a field without presence: not encoded
}

// mobileWire encodes the params and timestamp of m as a message of w; false
// when it cannot say for certain, and mobileToMessage must.
func mobileWire(w *wireMessage, m *eventsv1.MobileAppEvent, sizeHint int) ([]byte, bool) {
	params := m.GetParams()
	var (
		nodesArr  [8]*wireMessage
		valuesArr [24]wireParam
	)
	nodes := append(nodesArr[:0], w)
	values := valuesArr[:0]
	// child finds or adds the message field f of message n.
	child := func(n int32, f *wireField) int32 {
		for _, v := range values {
			if v.parent == n && v.f == f {
				return v.child
			}
		}
		nodes = append(nodes, f.sub)
		values = append(values, wireParam{parent: n, f: f, child: int32(len(nodes) - 1)})
		return int32(len(nodes) - 1)
	}
	for key, value := range params {
		n, rest := int32(0), key
		var f *wireField
		for {
			seg, more, dotted := strings.Cut(rest, ".")
			f = nodes[n].byName[seg]
			if f == nil || f.oneof || f.list || f.isMap {
				return nil, false
			}
			if !dotted {
				break
			}
			if f.sub == nil || f.timestamp {
				return nil, false
			}
			n, rest = child(n, f), more
		}
		if f.sub != nil && !f.timestamp {
			return nil, false
		}
		for _, v := range values {
			if v.parent == n && v.f == f {
				return nil, false
			}
		}
		v := wireParam{parent: n, f: f}
		if f.timestamp {
			secs, nanos, problem := parseTimestamp(value)
			if problem != "" {
				return nil, false
			}
			v.bits, v.nanos = uint64(secs), nanos
		} else {
			x, err := fromText(f.fd, value, formParam, nil, at{})
			if err != nil {
				return nil, false
			}
			v.bits, v.s = wireBits(f.kind, x)
			v.omit = !f.presence && v.bits == 0 && v.s == ""
		}
		values = append(values, v)
	}
	if ts := m.GetTimestamp(); ts != nil && w.context != nil {
		if w.context.oneof || ts.CheckValid() != nil {
			return nil, false
		}
		occ := w.context.sub.fields[w.occurredAt]
		if occ == nil || occ.oneof {
			return nil, false
		}
		n := child(0, w.context)
		set := false
		for _, v := range values {
			set = set || v.parent == n && v.f == occ
		}
		if !set {
			values = append(values, wireParam{parent: n, f: occ, bits: uint64(ts.GetSeconds()), nanos: ts.GetNanos()})
		}
	}
	if len(values) > 1<<16 {
		return nil, false
	}
	// The encoding order: by message, then field number; each key holds
	// the value's index in its low 16 bits.
	var orderArr [24]uint64
	order := orderArr[:0]
	for i, v := range values {
		order = append(order, uint64(v.parent)<<48|uint64(v.f.fd.Number())<<16|uint64(i))
	}
	slices.Sort(order)
	return appendWireParams(make([]byte, 0, sizeHint), values, order, 0), true
}

// wireBits is a scalar value as appendWireParams encodes it.
func wireBits(k protoreflect.Kind, x protoreflect.Value) (uint64, string) {
	switch k {
	case protoreflect.BoolKind:
		if x.Bool() {
			return 1, ""
		}
		return 0, ""
	case protoreflect.EnumKind:
		return uint64(int64(x.Enum())), ""
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		return uint64(x.Int()), ""
	case protoreflect.Sfixed32Kind:
		return uint64(uint32(int32(x.Int()))), ""
	case protoreflect.Sfixed64Kind:
		return uint64(x.Int()), ""
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.EncodeZigZag(x.Int()), ""
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return x.Uint(), ""
	case protoreflect.FloatKind:
		return uint64(math.Float32bits(float32(x.Float()))), ""
	case protoreflect.DoubleKind:
		return math.Float64bits(x.Float()), ""
	case protoreflect.BytesKind:
		return 0, string(x.Bytes())
	}
	return 0, x.String()
}

// appendWireParams appends message n: its values in order, which sorts
// them by message and field number, as proto.Marshal would.
func appendWireParams(b []byte, values []wireParam, order []uint64, n int32) []byte {
	i, _ := slices.BinarySearch(order, uint64(n)<<48)
	for _, k := range order[i:] {
		if int32(k>>48) != n {
			break
		}
		v := values[k&0xffff]
		num := v.f.fd.Number()
		switch {
		case v.omit:
		case v.child > 0:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			// One byte for the length, moved up when it takes more.
			start := len(b)
			b = append(b, 0)
			b = appendWireParams(b, values, order, v.child)
			size := len(b) - start - 1
			if extra := protowire.SizeVarint(uint64(size)) - 1; extra > 0 {
				b = append(b, make([]byte, extra)...)
				copy(b[start+1+extra:], b[start+1:len(b)-extra])
			}
			protowire.AppendVarint(b[start:start], uint64(size))
		case v.f.timestamp:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			var ts [22]byte
			t := ts[:0]
			if v.bits != 0 {
				t = protowire.AppendVarint(protowire.AppendTag(t, 1, protowire.VarintType), v.bits)
			}
			if v.nanos != 0 {
				t = protowire.AppendVarint(protowire.AppendTag(t, 2, protowire.VarintType), uint64(int64(v.nanos)))
			}
			b = protowire.AppendBytes(b, t)
		default:
			typ := wireTypeOf(v.f.kind)
			b = protowire.AppendTag(b, num, typ)
			switch typ {
			case protowire.VarintType:
				b = protowire.AppendVarint(b, v.bits)
			case protowire.Fixed32Type:
				b = protowire.AppendFixed32(b, uint32(v.bits))
			case protowire.Fixed64Type:
				b = protowire.AppendFixed64(b, v.bits)
			default:
				b = protowire.AppendString(b, v.s)
			}
		}
	}
	return b
}

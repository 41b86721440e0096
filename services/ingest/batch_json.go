package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// A batch sent as JSON (REST, Connect JSON, gRPC and gRPC-Web with the JSON
// codec) is not decoded whole before SendBatch runs: protobuf JSON would
// fail the whole request on one event with an unknown @type, an unknown
// field or a wrong type, and could resolve only the message types compiled
// into the binary, not the live catalogue. DecodeBatchJSON splits the
// batch into its events and keeps each one's JSON as received among the
// Event's unknown fields (field rawJSONField); SendBatch decodes each
// against its live catalogue, and an event that does not decode is
// rejected alone, with the path of the offending field as the client named
// it, and dead-lettered with its JSON as received.

// rawJSONField is the field number, never used by Event, under which a
// batch decoded from JSON carries each event's JSON as received. A binary
// client setting it only gets its own event decoded as JSON.
const rawJSONField protowire.Number = 536870000

// Payload forms of dead letters of events rejected before their JSON
// decoded: the typed form's object (with its @type) and the map form's
// object, as received.
const (
	TypedJSONPayloadForm  = "typed-json"
	MobileJSONPayloadForm = "mobile-json"
)

// maxJSONDepth bounds how deep an event's JSON may nest (the servers'
// bound on every request message).
const maxJSONDepth = 1000

// DecodeBatchJSON decodes a SendBatchRequest in protobuf JSON leniently:
// the request must be an object with at most "events", an array of
// objects; each event is decoded later by SendBatch (see rawJSONField).
func DecodeBatchJSON(data []byte, req *ingestv1.SendBatchRequest) error {
	events, ok := splitBatchJSON(data)
	if !ok {
		// Not the plain shape: encoding/json takes it, or says what is
		// wrong.
		slow, err := decodeBatchJSONSlow(data)
		if err != nil {
			return err
		}
		events = make([][]byte, len(slow))
		for i, raw := range slow {
			events[i] = raw
		}
	}
	req.Events = make([]*ingestv1.Event, len(events))
	for i, raw := range events {
		ev := &ingestv1.Event{}
		b := make([]byte, 0, len(raw)+protowire.SizeTag(rawJSONField)+protowire.SizeVarint(uint64(len(raw))))
		b = protowire.AppendTag(b, rawJSONField, protowire.BytesType)
		ev.ProtoReflect().SetUnknown(protowire.AppendBytes(b, raw))
		req.Events[i] = ev
	}
	return nil
}

// splitBatchJSON splits {"events": [...]} into its events' bytes without
// decoding them; false for any other shape (a key with an escape, a
// repeated key, events that are not an array, a syntax error).
func splitBatchJSON(data []byte) ([][]byte, bool) {
	var buf [2]jsonField
	top, ok := splitObject(data, buf[:0])
	if !ok || len(top) > 1 {
		return nil, false
	}
	if len(top) == 0 {
		return nil, true
	}
	if string(top[0].key) != "events" {
		return nil, false
	}
	return splitArray(top[0].value, nil)
}

// decodeBatchJSONSlow is DecodeBatchJSON's split with encoding/json, for
// every shape splitBatchJSON does not take.
func decodeBatchJSONSlow(data []byte) ([]json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("the batch is not a JSON object: %w", err)
	}
	if top == nil {
		return nil, errors.New("the batch is null: send {\"events\": [...]}")
	}
	var events []json.RawMessage
	for k, v := range top {
		if k != "events" {
			return nil, fmt.Errorf("the batch has an unknown field %q: send {\"events\": [...]}", k)
		}
		if err := json.Unmarshal(v, &events); err != nil {
			return nil, fmt.Errorf("events is not a JSON array: %w", err)
		}
	}
	return events, nil
}

// rawJSON is the event's JSON as received when it came in a batch
// DecodeBatchJSON decoded.
func rawJSON(ev *ingestv1.Event) ([]byte, bool) {
	unknown := ev.ProtoReflect().GetUnknown()
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return nil, false
		}
		unknown = unknown[n:]
		if num == rawJSONField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(unknown)
			if m < 0 {
				return nil, false
			}
			return v, true
		}
		m := protowire.ConsumeFieldValue(num, typ, unknown)
		if m < 0 {
			return nil, false
		}
		unknown = unknown[m:]
	}
	return nil, false
}

// jsonDecoded is an event decoded from its JSON: the event, or the
// rejection, the bytes its dead letter keeps and their payload form.
type jsonDecoded struct {
	event     *ingestv1.Event
	rejection *ingestv1.Rejection
	original  []byte
	form      string
	// data is the JSON form's data as received, not yet decoded, when the
	// event was split by decodeJSONFast; event's JsonEvent then names the
	// event version and has no data (validateJSONData decodes it).
	data []byte
}

// decodeJSON decodes an event's JSON against the catalogue. An event that
// does not decode comes back as an event with what could be read of it
// (its idempotency key, its form and event name) and a rejection.
func (c *Catalogue) decodeJSON(raw []byte) jsonDecoded {
	if x, ok := decodeJSONFast(raw); ok {
		return x
	}
	return c.decodeJSONSlow(raw)
}

// decodeJSONFast splits the JSON form as web sends it, {"idempotencyKey":
// "...", "json": {"name": "...", "data": {...}}} (or the event named by
// eventId and version), into the event and its data's bytes, decoding
// nothing else: the data is decoded once, straight into the event's
// message, by validateJSONData. Decoding it as a google.protobuf.Struct
// first and writing that back as JSON, as the general way does, costs
// more than the rest of the event. Any other shape (another form, a key
// with an escape or given twice, a value protojson would convert) is
// false, for decodeJSONSlow.
func decodeJSONFast(raw []byte) (jsonDecoded, bool) {
	var buf [4]jsonField
	fields, ok := splitObject(raw, buf[:0])
	if !ok {
		return jsonDecoded{}, false
	}
	var (
		key          string
		haveKey      bool
		jsonValue    []byte
		haveJSONForm bool
	)
	for _, f := range fields {
		switch string(f.key) {
		case "idempotencyKey", "idempotency_key":
			if haveKey {
				return jsonDecoded{}, false
			}
			if key, ok = plainString(f.value); !ok {
				return jsonDecoded{}, false
			}
			haveKey = true
		case "json":
			if haveJSONForm {
				return jsonDecoded{}, false
			}
			jsonValue, haveJSONForm = f.value, true
		default:
			return jsonDecoded{}, false
		}
	}
	if !haveJSONForm {
		return jsonDecoded{}, false
	}
	fields, ok = splitObject(jsonValue, buf[:0])
	if !ok {
		return jsonDecoded{}, false
	}
	j := &ingestv1.JsonEvent{}
	var data []byte
	var seen [4]bool // name, eventId, version, data
	for _, f := range fields {
		var at int
		switch string(f.key) {
		case "name":
		case "eventId", "event_id":
			at = 1
		case "version":
			at = 2
		case "data":
			at = 3
		default:
			return jsonDecoded{}, false
		}
		if seen[at] {
			return jsonDecoded{}, false
		}
		seen[at] = true
		switch at {
		case 0:
			if j.Name, ok = plainString(f.value); !ok {
				return jsonDecoded{}, false
			}
		case 1:
			if j.EventId, ok = plainUint32(f.value); !ok {
				return jsonDecoded{}, false
			}
		case 2:
			if j.Version, ok = plainUint32(f.value); !ok {
				return jsonDecoded{}, false
			}
		case 3:
			if jsonKind(f.value) != '{' {
				return jsonDecoded{}, false
			}
			data = f.value
		}
	}
	if data == nil {
		return jsonDecoded{}, false
	}
	ev := &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Json{Json: j}}
	return jsonDecoded{event: ev, data: data}, true
}

// decodeJSONSlow is decodeJSON with protojson, for every shape
// decodeJSONFast does not take.
func (c *Catalogue) decodeJSONSlow(raw []byte) jsonDecoded {
	ev := &ingestv1.Event{}
	opts := protojson.UnmarshalOptions{Resolver: c.resolver(), RecursionLimit: maxJSONDepth}
	err := opts.Unmarshal(raw, ev)
	if err == nil {
		return jsonDecoded{event: ev}
	}
	var fields map[string]json.RawMessage
	if jerr := json.Unmarshal(raw, &fields); jerr != nil || fields == nil {
		return jsonDecoded{event: ev, original: raw, rejection: reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "",
			"the event is not a JSON object: send {\"idempotencyKey\": ..., \"typed\" | \"json\" | \"mobile\": {...}}")}
	}
	ev = &ingestv1.Event{}
	for _, k := range []string{"idempotencyKey", "idempotency_key"} {
		var key string
		if v, ok := fields[k]; ok && json.Unmarshal(v, &key) == nil {
			ev.IdempotencyKey = key
		}
	}
	out := jsonDecoded{event: ev, original: raw}
	switch {
	case fields["typed"] != nil:
		out.original, out.form = fields["typed"], TypedJSONPayloadForm
		out.rejection = c.typedJSONRejection(ev, fields["typed"], err)
	case fields["json"] != nil:
		out.rejection = c.jsonFormRejection(ev, fields["json"], &out, err)
	case fields["mobile"] != nil:
		out.original, out.form = fields["mobile"], MobileJSONPayloadForm
		out.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "mobile", "the map form does not decode: %s", protoMessage(err))
	default:
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out.rejection = reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "",
			"the event does not decode (fields %s): %s; send an idempotencyKey and one of typed, json or mobile", strings.Join(keys, ", "), protoMessage(err))
	}
	return out
}

// typedJSONRejection says why the typed form's JSON did not decode.
func (c *Catalogue) typedJSONRejection(ev *ingestv1.Event, raw json.RawMessage, err error) *ingestv1.Rejection {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "typed", "typed is not a JSON object with an @type and the event's fields")
	}
	var url string
	_ = json.Unmarshal(obj["@type"], &url)
	ev.Payload = &ingestv1.Event_Typed{Typed: &anypb.Any{TypeUrl: url}}
	name := url[strings.LastIndexByte(url, '/')+1:]
	t, ok := c.ByName(name)
	if !ok {
		return reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "typed.type_url",
			"%s is not a registered event message; send one of the registry's event versions, e.g. type.googleapis.com/clickstream.events.v1.ItemViewV2", quote(url))
	}
	delete(obj, "@type")
	if rej := messageJSONRejection(t, obj, ""); rej != nil {
		return rej
	}
	return reject(ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, "", "%s: %s", t.FullName(), protoMessage(err))
}

// jsonFormRejection says why the JSON form's event did not decode.
func (c *Catalogue) jsonFormRejection(ev *ingestv1.Event, raw json.RawMessage, out *jsonDecoded, err error) *ingestv1.Rejection {
	var head struct {
		Name         string          `json:"name"`
		EventID      uint32          `json:"eventId"`
		EventIDProto uint32          `json:"event_id"`
		Version      uint32          `json:"version"`
		Data         json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, "json", "json is not an object with name (or eventId and version) and data: %s", protoMessage(err))
	}
	j := &ingestv1.JsonEvent{Name: head.Name, EventId: max(head.EventID, head.EventIDProto), Version: head.Version}
	ev.Payload = &ingestv1.Event_Json{Json: j}
	if head.Data != nil {
		out.original = head.Data
	}
	t, rej := c.resolveJSON(j)
	if rej != nil {
		return rej
	}
	return dataRejection(t, head.Data, err)
}

// dataRejection says why an event's fields in JSON (the JSON form's data)
// do not decode into its message, err being protojson's word.
func dataRejection(t EventType, data []byte, err error) *ingestv1.Rejection {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil || obj == nil {
		return reject(ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, "json.data", "%s: data must be a JSON object of the event's fields", t.FullName())
	}
	if rej := messageJSONRejection(t, obj, ""); rej != nil {
		return rej
	}
	return reject(ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, "", "%s: %s", t.FullName(), protoMessage(err))
}

// protoMessage is a protobuf error's text without its "proto:" prefix.
func protoMessage(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0")
}

// messageJSONRejection finds the first field, in key order, of a message's
// JSON object that the message does not define (UNKNOWN_FIELD) or whose
// value has a JSON type its field cannot take (WRONG_TYPE), with its path
// in the names the client sent.
func messageJSONRejection(t EventType, obj map[string]json.RawMessage, path string) *ingestv1.Rejection {
	return objectProblem(t, t.Descriptor, obj, path, 0)
}

func objectProblem(t EventType, md protoreflect.MessageDescriptor, obj map[string]json.RawMessage, path string, depth int) *ingestv1.Rejection {
	if depth > maxJSONDepth {
		return reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, path, "%s: the event nests deeper than %d levels", t.FullName(), maxJSONDepth)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fields := md.Fields()
	for _, k := range keys {
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(k))
		}
		at := joinPath(path, k)
		if fd == nil {
			where := "at the top level"
			if path != "" {
				where = "in " + path
			}
			return reject(ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, at,
				"%s: the event has field %q %s, which the registered version (%s) does not define; register a new version with the field, or drop it",
				t.FullName(), k, where, md.FullName())
		}
		if rej := fieldProblem(t, fd, obj[k], at, depth); rej != nil {
			return rej
		}
	}
	return nil
}

// fieldProblem checks one field's JSON value against the field.
func fieldProblem(t EventType, fd protoreflect.FieldDescriptor, raw json.RawMessage, path string, depth int) *ingestv1.Rejection {
	kind := jsonKind(raw)
	if kind == 'n' {
		return nil
	}
	switch {
	case fd.IsMap():
		var m map[string]json.RawMessage
		if kind != '{' || json.Unmarshal(raw, &m) != nil {
			return wrongType(t, fd, path, "a JSON object (a map)", raw)
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			if rej := valueProblem(t, fd.MapValue(), m[k], path+"["+strconv.Quote(k)+"]", depth+1); rej != nil {
				return rej
			}
		}
		return nil
	case fd.IsList():
		var list []json.RawMessage
		if kind != '[' || json.Unmarshal(raw, &list) != nil {
			return wrongType(t, fd, path, "a JSON array (a repeated field)", raw)
		}
		for i, v := range list {
			if rej := valueProblem(t, fd, v, path+"["+strconv.Itoa(i)+"]", depth+1); rej != nil {
				return rej
			}
		}
		return nil
	}
	return valueProblem(t, fd, raw, path, depth)
}

// valueProblem checks one value (a singular field's, or an element of a
// repeated or map field) against the field's kind.
func valueProblem(t EventType, fd protoreflect.FieldDescriptor, raw json.RawMessage, path string, depth int) *ingestv1.Rejection {
	kind := jsonKind(raw)
	if kind == 'n' {
		return nil
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		if kind != '"' {
			return wrongType(t, fd, path, "a JSON string", raw)
		}
	case protoreflect.BytesKind:
		if kind != '"' {
			return wrongType(t, fd, path, "a base64 JSON string", raw)
		}
	case protoreflect.BoolKind:
		if kind != 'b' {
			return wrongType(t, fd, path, "true or false", raw)
		}
	case protoreflect.EnumKind:
		if kind != '"' && kind != '0' {
			return wrongType(t, fd, path, "an enum value's name (a JSON string) or number", raw)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		md := fd.Message()
		switch md.FullName() {
		case "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask":
			if kind != '"' {
				return wrongType(t, fd, path, "a JSON string ("+string(md.Name())+")", raw)
			}
			return nil
		case "google.protobuf.Value":
			return nil
		case "google.protobuf.ListValue":
			if kind != '[' {
				return wrongType(t, fd, path, "a JSON array", raw)
			}
			return nil
		case "google.protobuf.Struct", "google.protobuf.Any", "google.protobuf.Empty":
			if kind != '{' {
				return wrongType(t, fd, path, "a JSON object", raw)
			}
			return nil
		}
		if md.ParentFile().Package() == "google.protobuf" && strings.HasSuffix(string(md.Name()), "Value") {
			// Wrappers take their scalar.
			if kind == '{' || kind == '[' {
				return wrongType(t, fd, path, "a JSON scalar ("+string(md.Name())+")", raw)
			}
			return nil
		}
		var obj map[string]json.RawMessage
		if kind != '{' || json.Unmarshal(raw, &obj) != nil {
			return wrongType(t, fd, path, "a JSON object ("+string(md.FullName())+")", raw)
		}
		return objectProblem(t, md, obj, path, depth+1)
	default: // numbers
		if kind != '0' && kind != '"' {
			return wrongType(t, fd, path, "a JSON number ("+fd.Kind().String()+")", raw)
		}
		if kind == '"' {
			var s string
			_ = json.Unmarshal(raw, &s)
			if _, err := strconv.ParseFloat(s, 64); err != nil && s != "NaN" && s != "Infinity" && s != "-Infinity" {
				return wrongType(t, fd, path, "a JSON number ("+fd.Kind().String()+")", raw)
			}
		}
	}
	return nil
}

// jsonKind classifies a JSON value by its first byte: '{' object, '['
// array, '"' string, '0' number, 'b' true or false, 'n' null.
func jsonKind(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 'n'
	}
	switch c := raw[0]; c {
	case '{', '[', '"', 'n':
		return c
	case 't', 'f':
		return 'b'
	}
	return '0'
}

var jsonKindNames = map[byte]string{'{': "an object", '[': "an array", '"': "a string", '0': "a number", 'b': "a boolean", 'n': "null"}

// excerpt is the start of a JSON value, for a message.
func excerpt(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 40 {
		return strings.ToValidUTF8(string(raw[:40]), "") + "…"
	}
	return string(raw)
}

func wrongType(t EventType, fd protoreflect.FieldDescriptor, path, want string, raw []byte) *ingestv1.Rejection {
	got := jsonKind(raw)
	return reject(ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, path,
		"%s: field %s (%s) must be %s, not %s (%s); send it as the registered version defines it",
		t.FullName(), path, kindName(fd), want, jsonKindNames[got], excerpt(raw))
}

// resolver resolves the typed form's @type against the catalogue (the
// live one: versions pushed while ingest runs included), and other
// messages (well-known types) against those compiled in.
func (c *Catalogue) resolver() *catalogueTypes {
	if c.types == nil {
		return &catalogueTypes{c: c}
	}
	return c.types
}

// catalogueTypes is a protoregistry resolver over a catalogue.
type catalogueTypes struct {
	c     *Catalogue
	types sync.Map // protoreflect.FullName → protoreflect.MessageType
}

func (r *catalogueTypes) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, ok := r.types.Load(name); ok {
		return mt.(protoreflect.MessageType), nil
	}
	if t, ok := r.c.ByName(string(name)); ok {
		mt, _ := r.types.LoadOrStore(name, dynamicpb.NewMessageType(t.Descriptor))
		return mt.(protoreflect.MessageType), nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (r *catalogueTypes) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	return r.FindMessageByName(protoreflect.FullName(url[strings.LastIndexByte(url, '/')+1:]))
}

func (r *catalogueTypes) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(field)
}

func (r *catalogueTypes) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}

// eventOfTypedJSON rebuilds an event whose typed form's JSON did not
// decode, from its dead letter, for replay: it decodes again against the
// catalogue of the replay.
func eventOfTypedJSON(key string, typed []byte) *ingestv1.Event {
	raw, _ := json.Marshal(map[string]any{"idempotencyKey": key, "typed": json.RawMessage(typed)})
	ev := &ingestv1.Event{}
	b := protowire.AppendTag(nil, rawJSONField, protowire.BytesType)
	ev.ProtoReflect().SetUnknown(protowire.AppendBytes(b, raw))
	return ev
}

// validateExpanded validates an event expandJSON returned: the JSON form's
// data straight from its bytes when decodeJSONFast split it.
func (c *Catalogue) validateExpanded(x jsonDecoded, maxBytes int) decoded {
	if x.data != nil {
		return c.validateJSONData(x.event.GetJson(), x.data, maxBytes)
	}
	return c.validate(x.event, maxBytes)
}

// expandJSON replaces an event that came as JSON (rawJSON) with its
// decoded form; events that did not come as JSON come back as they are.
func (c *Catalogue) expandJSON(ev *ingestv1.Event) (jsonDecoded, bool) {
	raw, ok := rawJSON(ev)
	if !ok {
		return jsonDecoded{event: ev}, false
	}
	return c.decodeJSON(raw), true
}

// Descriptors resolves descriptors for server reflection from the live
// catalogue first (versions pushed while ingest runs included), then from
// those compiled in (the service contracts, well-known types).
func (s *Service) Descriptors() protodesc.Resolver { return liveDescriptors{s} }

type liveDescriptors struct{ s *Service }

func (l liveDescriptors) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if c := l.s.currentCatalogue(); c != nil && c.files != nil {
		if fd, err := c.files.FindFileByPath(path); err == nil {
			return fd, nil
		}
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

func (l liveDescriptors) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if c := l.s.currentCatalogue(); c != nil && c.files != nil {
		if d, err := c.files.FindDescriptorByName(name); err == nil {
			return d, nil
		}
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

// rejectionJSON writes a rejection as the REST gateway does.
var rejectionJSON = protojson.MarshalOptions{EmitUnpopulated: true}

// EncodeBatchResponseJSON writes resp as the REST gateway's protobuf JSON
// does (every field, unpopulated ones included, by its JSON name; enums by
// name), without reflection per field: a batch's verdicts are the largest
// answer ingest writes. An error (a field it does not know, an id that is
// not UTF-8) leaves it to protobuf JSON.
func EncodeBatchResponseJSON(resp *ingestv1.SendBatchResponse) ([]byte, error) {
	if !batchResponseShapeKnown {
		return nil, errors.New("SendBatchResponse has fields the JSON encoder does not write")
	}
	b := make([]byte, 0, 64+len(resp.GetResults())*96)
	b = append(b, `{"results":[`...)
	for i, r := range resp.GetResults() {
		if r == nil {
			return nil, errors.New("a nil result")
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(r.GetIndex()), 10)
		b = append(b, `,"id":`...)
		var ok bool
		if b, ok = appendJSONString(b, r.GetId()); !ok {
			return nil, fmt.Errorf("result %d: the id is not UTF-8", i)
		}
		b = append(b, `,"status":`...)
		b = appendJSONEnum(b, r.GetStatus().Descriptor(), protoreflect.EnumNumber(r.GetStatus()))
		b = append(b, `,"rejection":`...)
		if rej := r.GetRejection(); rej == nil {
			b = append(b, "null"...)
		} else {
			rb, err := rejectionJSON.Marshal(rej)
			if err != nil {
				return nil, err
			}
			b = append(b, rb...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"accepted":`...)
	b = strconv.AppendInt(b, int64(resp.GetAccepted()), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(resp.GetDuplicates()), 10)
	b = append(b, `,"rejected":`...)
	b = strconv.AppendInt(b, int64(resp.GetRejected()), 10)
	return append(b, '}'), nil
}

// appendJSONEnum appends an enum value as protobuf JSON does: its name, or
// its number when the enum does not define it.
func appendJSONEnum(b []byte, ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) []byte {
	if v := ed.Values().ByNumber(n); v != nil {
		b = append(b, '"')
		b = append(b, v.Name()...)
		return append(b, '"')
	}
	return strconv.AppendInt(b, int64(n), 10)
}

// batchResponseShapeKnown says SendBatchResponse and EventResult have
// exactly the fields EncodeBatchResponseJSON writes, in that order.
var batchResponseShapeKnown = func() bool {
	has := func(md protoreflect.MessageDescriptor, names ...protoreflect.Name) bool {
		fields := md.Fields()
		if fields.Len() != len(names) || md.Oneofs().Len() != 0 {
			return false
		}
		for i, n := range names {
			if fd := fields.Get(i); fd.Name() != n || fd.Number() != protoreflect.FieldNumber(i+1) {
				return false
			}
		}
		return true
	}
	return has((&ingestv1.SendBatchResponse{}).ProtoReflect().Descriptor(), "results", "accepted", "duplicates", "rejected") &&
		has((&ingestv1.EventResult{}).ProtoReflect().Descriptor(), "index", "id", "status", "rejection")
}()

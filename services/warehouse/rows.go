package warehouse

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
)

// Row is one event as its table stores it: the envelope and a value per
// field column (nil for NULL). Values are Go values: string, bool, int32,
// int64, *big.Int (numeric), float32, float64, []byte, time.Time and
// json.RawMessage (jsonb).
type Row struct {
	Table    *Table
	Sequence uint64
	// ReceivedAt is the envelope's received_at (the partition key).
	ReceivedAt time.Time
	// Values holds the envelope columns then the field columns, as
	// Table.AllColumns at the time the row was decoded.
	Values []any
}

// Day is the UTC day of the row's received_at.
func (r Row) Day() time.Time { return day(r.ReceivedAt) }

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// decodeRow decodes the record's payload with its version's layout.
func (t *Table) decodeRow(rec *busv1.EventRecord, seq uint64, fallbackReceived time.Time) (Row, error) {
	vl, ok := t.versions[rec.GetEventVersion()]
	if !ok {
		return Row{}, fmt.Errorf("table %s has no layout for version %d", t.Name, rec.GetEventVersion())
	}
	received := fallbackReceived
	if rec.GetReceivedAt() != nil {
		received = rec.GetReceivedAt().AsTime()
	}
	var occurred any
	if rec.GetOccurredAt() != nil {
		occurred = rec.GetOccurredAt().AsTime()
	}
	protocol := strings.ToLower(strings.TrimPrefix(rec.GetSource().GetProtocol().String(), "PROTOCOL_"))
	values := make([]any, len(EnvelopeColumns)+len(t.Columns))
	copy(values, []any{rec.GetId(), int32(rec.GetEventVersion()), rec.GetEnvironment(), rec.GetUserId(), occurred, received,
		protocol, rec.GetSource().GetKeyId(), int64(seq)})
	fields := values[len(EnvelopeColumns):]
	if vl.plan != nil && !t.dynamicOnly {
		if err := vl.plan.decode(rec.GetPayload(), fields); err != nil {
			return Row{}, fmt.Errorf("decode the payload of %s (id %s) as %s: %w", rec.GetEventName(), rec.GetId(), vl.md.FullName(), err)
		}
		return Row{Table: t, Sequence: seq, ReceivedAt: received, Values: values}, nil
	}
	msg := dynamicpb.NewMessage(vl.md)
	if err := unmarshalDynamic(rec.GetPayload(), msg); err != nil {
		return Row{}, fmt.Errorf("decode the payload of %s (id %s) as %s: %w", rec.GetEventName(), rec.GetId(), vl.md.FullName(), err)
	}
	for _, l := range vl.leaves {
		v, err := leafValue(msg, l)
		if err != nil {
			return Row{}, fmt.Errorf("%s (id %s) field %s: %w", rec.GetEventName(), rec.GetId(), t.Columns[l.col].Path, err)
		}
		fields[l.col] = v
	}
	return Row{Table: t, Sequence: seq, ReceivedAt: received, Values: values}, nil
}

// unmarshalDynamic decodes b into msg. Some malformed map entries make the
// dynamic message panic ("cannot convert nil to map key") where they should
// fail: that is an error here, so one bad message cannot stop the loader.
func unmarshalDynamic(b []byte, msg *dynamicpb.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("proto: cannot parse invalid wire-format data (%v)", r)
		}
	}()
	return proto.Unmarshal(b, msg)
}

// leafValue is the column value of one leaf of msg: nil when a message on
// its path is absent.
func leafValue(msg protoreflect.Message, l leaf) (any, error) {
	m := msg
	for _, fd := range l.path[:len(l.path)-1] {
		if !m.Has(fd) {
			return nil, nil
		}
		m = m.Get(fd).Message()
	}
	fd := l.path[len(l.path)-1]
	switch l.kind {
	case leafJSON:
		if !m.Has(fd) {
			if fd.IsList() || fd.IsMap() {
				return emptyJSON(fd), nil
			}
			return nil, nil
		}
		v, err := jsonValue(fd, m.Get(fd))
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		return json.RawMessage(b), err
	case leafTimestamp:
		if !m.Has(fd) {
			return nil, nil
		}
		tm := m.Get(fd).Message()
		sf, nf := tm.Descriptor().Fields().ByName("seconds"), tm.Descriptor().Fields().ByName("nanos")
		return time.Unix(tm.Get(sf).Int(), tm.Get(nf).Int()).UTC(), nil
	case leafWrapper:
		if !m.Has(fd) {
			return nil, nil
		}
		wm := m.Get(fd).Message()
		vf := wm.Descriptor().Fields().ByName("value")
		return scalarValue(vf, wm.Get(vf)), nil
	default:
		if fd.HasPresence() && !m.Has(fd) {
			return nil, nil
		}
		return scalarValue(fd, m.Get(fd)), nil
	}
}

// emptyJSON is [] for a repeated field and {} for a map.
func emptyJSON(fd protoreflect.FieldDescriptor) json.RawMessage {
	if fd.IsMap() {
		return json.RawMessage(`{}`)
	}
	return json.RawMessage(`[]`)
}

// scalarValue is the column value of a scalar or enum.
func scalarValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return int32(v.Int())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return int64(v.Uint())
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return new(big.Int).SetUint64(v.Uint())
	case protoreflect.FloatKind:
		return float32(v.Float())
	case protoreflect.DoubleKind:
		return v.Float()
	case protoreflect.BytesKind:
		return append([]byte{}, v.Bytes()...)
	case protoreflect.EnumKind:
		return enumName(fd, v.Enum())
	default:
		return v.String()
	}
}

// enumName is the value's name, or its number when the schema does not
// know it (a newer client's value).
func enumName(fd protoreflect.FieldDescriptor, n protoreflect.EnumNumber) string {
	if ev := fd.Enum().Values().ByNumber(n); ev != nil {
		return string(ev.Name())
	}
	return fmt.Sprint(int32(n))
}

// jsonValue is a repeated, map or message value as a JSON-encodable value:
// lists as arrays, maps as objects, enums by name, 64-bit integers as
// numbers, bytes as base64, messages as protojson.
func jsonValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range l.Len() {
			e, err := jsonElem(fd, l.Get(i))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case fd.IsMap():
		out := map[string]any{}
		var err error
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			var e any
			e, err = jsonElem(fd.MapValue(), mv)
			out[k.String()] = e
			return err == nil
		})
		return out, err
	default:
		return jsonElem(fd, v)
	}
}

// jsonElem is one element (of a list or map, or a single message).
func jsonElem(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(v.Message().Interface())
		return json.RawMessage(b), err
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes()), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprint(f), nil
		}
		return f, nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return json.Number(fmt.Sprint(v.Uint())), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return json.Number(fmt.Sprint(v.Int())), nil
	}
	s := scalarValue(fd, v)
	return s, nil
}

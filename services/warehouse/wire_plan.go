package warehouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// A version's payload is decoded straight from the wire into the row's
// columns by a plan made once per version (wirePlan): the message tree of
// the flattened fields, with the column of every leaf. Decoding a payload
// as a dynamic message first and then reading every leaf back through
// protoreflect costs several times more, and the loader is CPU-bound on
// decoding. What the plan does not handle itself it leaves to the dynamic
// way, field by field: repeated fields, maps and the messages stored as
// JSON are gathered from the wire and decoded as one field of a dynamic
// message of their parent. A version with a real oneof or outside proto3
// has no plan and is decoded the dynamic way whole (decodeRow).

// wirePlan decodes one version's payloads.
type wirePlan struct {
	root *planNode
	// nodes and gathered count the plan's messages and the leaves
	// gathered from the wire (timestamps, wrappers, JSON), for the per-row
	// state.
	nodes, gathered int
}

// planNode is a flattened message: where each of its fields goes.
type planNode struct {
	id     int
	md     protoreflect.MessageDescriptor
	fields map[protowire.Number]*planStep
	// leaves are its own fields stored in columns, with the value they
	// take when the message is present and the field was not sent.
	leaves []*planStep
}

// planStep is one field of a flattened message: a leaf in column col, or
// a nested message flattened further (sub).
type planStep struct {
	fd     protoreflect.FieldDescriptor
	kind   leafKind
	col    int
	sub    *planNode
	parent *planNode
	// gather numbers the leaves gathered from the wire; -1 otherwise.
	gather int
	wire   protowire.Type
}

// newWirePlan makes the plan of a version layout, or nil when the
// version needs the dynamic way.
func newWirePlan(vl *versionLayout) *wirePlan {
	p := &wirePlan{}
	p.root = p.node(vl.md)
	for _, l := range vl.leaves {
		n := p.root
		for _, fd := range l.path[:len(l.path)-1] {
			if !plainField(fd) {
				return nil
			}
			s := n.fields[fd.Number()]
			if s == nil {
				s = &planStep{fd: fd, sub: p.node(fd.Message()), parent: n, gather: -1, wire: protowire.BytesType}
				n.fields[fd.Number()] = s
			}
			n = s.sub
		}
		fd := l.path[len(l.path)-1]
		if !plainField(fd) || n.md.ParentFile().Syntax() != protoreflect.Proto3 {
			return nil
		}
		s := &planStep{fd: fd, kind: l.kind, col: l.col, parent: n, gather: -1, wire: protowire.BytesType}
		switch {
		case l.kind == leafScalar:
			s.wire = wireTypeOf(fd.Kind())
		default:
			s.gather = p.gathered
			p.gathered++
		}
		n.fields[fd.Number()] = s
		n.leaves = append(n.leaves, s)
	}
	return p
}

func (p *wirePlan) node(md protoreflect.MessageDescriptor) *planNode {
	n := &planNode{id: p.nodes, md: md, fields: map[protowire.Number]*planStep{}}
	p.nodes++
	return n
}

// plainField is a field the plan decodes as the dynamic way would: no
// member of a real oneof (setting one clears the others), no group.
func plainField(fd protoreflect.FieldDescriptor) bool {
	if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return false
	}
	return fd.Kind() != protoreflect.GroupKind && fd.Cardinality() != protoreflect.Required
}

// wireTypeOf is the wire type of a singular scalar of kind k.
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

// planRow is the state of decoding one payload.
type planRow struct {
	values   []any // the field columns
	present  []bool
	gathered [][]byte
}

// decode fills values (the row's field columns) from payload.
func (p *wirePlan) decode(payload []byte, values []any) error {
	st := planRow{values: values, present: make([]bool, p.nodes), gathered: make([][]byte, p.gathered)}
	st.enter(p.root)
	if err := st.message(payload, p.root); err != nil {
		return err
	}
	return st.finish(p.root)
}

// enter marks n present: its leaves take their unsent values.
func (st *planRow) enter(n *planNode) {
	if st.present[n.id] {
		return
	}
	st.present[n.id] = true
	for _, s := range n.leaves {
		switch {
		case s.kind == leafScalar && !s.fd.HasPresence():
			st.values[s.col] = zeroValue(s.fd)
		case s.kind == leafJSON && (s.fd.IsList() || s.fd.IsMap()):
			st.values[s.col] = emptyJSON(s.fd)
		}
	}
}

var errTruncated = errors.New("the payload is not valid protobuf (truncated or malformed field)")

// message decodes the fields of one occurrence of n.
func (st *planRow) message(b []byte, n *planNode) error {
	for len(b) > 0 {
		num, typ, tn := protowire.ConsumeTag(b)
		if tn < 0 || num > protowire.MaxValidNumber {
			return errTruncated
		}
		vn := protowire.ConsumeFieldValue(num, typ, b[tn:])
		if vn < 0 {
			return errTruncated
		}
		field, val := b[:tn+vn], b[tn:tn+vn]
		b = b[tn+vn:]
		s := n.fields[num]
		if s == nil {
			continue // an unknown field: no column
		}
		if s.kind == leafJSON && s.sub == nil {
			// Repeated and map fields may come packed or not: the dynamic
			// way decodes what was gathered.
			st.gathered[s.gather] = append(st.gathered[s.gather], field...)
			continue
		}
		if typ != s.wire {
			continue // a wire type that does not fit: an unknown field
		}
		switch {
		case s.sub != nil:
			v, _ := protowire.ConsumeBytes(val)
			st.enter(s.sub)
			if err := st.message(v, s.sub); err != nil {
				return err
			}
		case s.kind == leafScalar:
			v, err := wireScalar(s.fd, typ, val)
			if err != nil {
				return err
			}
			st.values[s.col] = v
		default: // timestamp, wrapper: occurrences merge
			v, _ := protowire.ConsumeBytes(val)
			if !validFields(v) {
				// Each occurrence must parse on its own, as when decoding.
				return errTruncated
			}
			if st.gathered[s.gather] == nil {
				st.gathered[s.gather] = make([]byte, 0, len(v))
			}
			st.gathered[s.gather] = append(st.gathered[s.gather], v...)
		}
	}
	return nil
}

// finish computes the gathered leaves of the present messages.
func (st *planRow) finish(n *planNode) error {
	if !st.present[n.id] {
		return nil
	}
	for _, s := range n.fields {
		if s.sub != nil {
			if err := st.finish(s.sub); err != nil {
				return err
			}
			continue
		}
		if s.gather < 0 || st.gathered[s.gather] == nil {
			continue
		}
		g := st.gathered[s.gather]
		var err error
		switch s.kind {
		case leafTimestamp:
			st.values[s.col], err = wireTimestamp(g)
		case leafWrapper:
			st.values[s.col], err = wireWrapper(s.fd.Message().Fields().ByName("value"), g)
		default:
			if v, ok := wireJSON(s.fd, g); ok {
				st.values[s.col] = v
				continue
			}
			msg := dynamicpb.NewMessage(n.md)
			if err := unmarshalDynamic(g, msg); err != nil {
				return fmt.Errorf("field %s: %w", s.fd.Name(), err)
			}
			st.values[s.col], err = leafValue(msg, leaf{col: s.col, path: []protoreflect.FieldDescriptor{s.fd}, kind: leafJSON})
		}
		if err != nil {
			return fmt.Errorf("field %s: %w", s.fd.Name(), err)
		}
	}
	return nil
}

// validFields reports whether b is a sequence of whole fields.
func validFields(b []byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false
		}
		b = b[n+m:]
	}
	return true
}

// wireTimestamp is a google.protobuf.Timestamp's occurrences, merged.
func wireTimestamp(b []byte) (any, error) {
	var sec, nanos int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return nil, errTruncated
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, errTruncated
			}
			if num == 1 {
				sec = int64(v)
			} else {
				nanos = int64(int32(v))
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, errTruncated
		}
		b = b[m:]
	}
	return time.Unix(sec, nanos).UTC(), nil
}

// wireWrapper is a google.protobuf.*Value's value (its field 1, vf),
// occurrences merged; the zero value when not sent.
func wireWrapper(vf protoreflect.FieldDescriptor, b []byte) (any, error) {
	v := zeroValue(vf)
	want := wireTypeOf(vf.Kind())
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return nil, errTruncated
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, errTruncated
		}
		if num == vf.Number() && typ == want {
			var err error
			if v, err = wireScalar(vf, typ, b[n:n+m]); err != nil {
				return nil, err
			}
		}
		b = b[n+m:]
	}
	return v, nil
}

// wireScalar is a scalar's column value from its encoded value, as
// scalarValue gives it from a decoded message.
func wireScalar(fd protoreflect.FieldDescriptor, typ protowire.Type, b []byte) (any, error) {
	switch typ {
	case protowire.VarintType:
		v, _ := protowire.ConsumeVarint(b)
		switch fd.Kind() {
		case protoreflect.BoolKind:
			return v != 0, nil
		case protoreflect.Int32Kind:
			return int32(v), nil
		case protoreflect.Sint32Kind:
			return int32(protowire.DecodeZigZag(v & math.MaxUint32)), nil
		case protoreflect.Int64Kind:
			return int64(v), nil
		case protoreflect.Sint64Kind:
			return protowire.DecodeZigZag(v), nil
		case protoreflect.Uint32Kind:
			return int64(uint32(v)), nil
		case protoreflect.Uint64Kind:
			return new(big.Int).SetUint64(v), nil
		case protoreflect.EnumKind:
			return enumName(fd, protoreflect.EnumNumber(int32(v))), nil
		}
	case protowire.Fixed32Type:
		v, _ := protowire.ConsumeFixed32(b)
		switch fd.Kind() {
		case protoreflect.Fixed32Kind:
			return int64(v), nil
		case protoreflect.Sfixed32Kind:
			return int32(v), nil
		case protoreflect.FloatKind:
			return math.Float32frombits(v), nil
		}
	case protowire.Fixed64Type:
		v, _ := protowire.ConsumeFixed64(b)
		switch fd.Kind() {
		case protoreflect.Fixed64Kind:
			return new(big.Int).SetUint64(v), nil
		case protoreflect.Sfixed64Kind:
			return int64(v), nil
		case protoreflect.DoubleKind:
			return math.Float64frombits(v), nil
		}
	case protowire.BytesType:
		v, _ := protowire.ConsumeBytes(b)
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !utf8.Valid(v) {
				return nil, fmt.Errorf("field %s: string field contains invalid UTF-8", fd.FullName())
			}
			return string(v), nil
		case protoreflect.BytesKind:
			return append([]byte{}, v...), nil
		}
	}
	return nil, fmt.Errorf("field %s: kind %v does not come as wire type %d", fd.FullName(), fd.Kind(), typ)
}

// zeroValue is the column value of a scalar field not sent.
func zeroValue(fd protoreflect.FieldDescriptor) any {
	return scalarValue(fd, fd.Default())
}

// wireJSON writes a repeated or map field gathered from the wire (every
// occurrence, tag included) as the JSON the dynamic way writes (jsonValue
// then encoding/json), for the common shapes: repeated strings, integers,
// bools and enums; maps of such keys to such values; repeated messages of
// such singular fields. False for anything else, or anything unusual on the
// wire (a wire type that does not fit, an unknown field), which the dynamic
// way then decodes.
func wireJSON(fd protoreflect.FieldDescriptor, g []byte) (json.RawMessage, bool) {
	switch {
	case fd.IsMap():
		return wireJSONMap(fd, g)
	case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
		return wireJSONMessages(fd, g)
	case fd.IsList() && jsonPlainKind(fd) && wireTypeOf(fd.Kind()) == protowire.VarintType || fd.IsList() && fd.Kind() == protoreflect.StringKind:
		return wireJSONList(fd, g)
	}
	return nil, false
}

// jsonPlainKind: strings, bools, enums and integers sent as varints.
func jsonPlainKind(fd protoreflect.FieldDescriptor) bool {
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BoolKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind,
		protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return true
	}
	return false
}

// wireFields calls f with each field of b; false when b is not whole
// fields or f says so.
func wireFields(b []byte, f func(num protowire.Number, typ protowire.Type, val []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 || !f(num, typ, b[n:n+m]) {
			return false
		}
		b = b[n+m:]
	}
	return true
}

// appendJSONScalar appends a plain value as jsonElem and encoding/json
// write it (64-bit integers as numbers, enums by name, strings escaped as
// encoding/json does); quoted64 quotes 64-bit integers as protojson does
// inside a message.
func appendJSONScalar(b []byte, fd protoreflect.FieldDescriptor, typ protowire.Type, val []byte, quoted64 bool) ([]byte, bool) {
	if typ != wireTypeOf(fd.Kind()) {
		return b, false
	}
	v, err := wireScalar(fd, typ, val)
	if err != nil {
		return b, false
	}
	switch x := v.(type) {
	case string:
		if fd.Kind() == protoreflect.EnumKind && fd.Enum().Values().ByName(protoreflect.Name(x)) == nil {
			// A number the enum does not know: the dynamic way writes it.
			return b, false
		}
		enc, err := json.Marshal(x)
		return append(b, enc...), err == nil
	case bool:
		return strconv.AppendBool(b, x), true
	case int32:
		return strconv.AppendInt(b, int64(x), 10), true
	case int64:
		if quoted64 && fd.Kind() != protoreflect.Uint32Kind {
			return strconv.AppendQuote(b, strconv.FormatInt(x, 10)), true
		}
		return strconv.AppendInt(b, x, 10), true
	case *big.Int:
		if quoted64 {
			return strconv.AppendQuote(b, x.String()), true
		}
		return x.Append(b, 10), true
	}
	return b, false
}

func wireJSONList(fd protoreflect.FieldDescriptor, g []byte) (json.RawMessage, bool) {
	b := []byte{'['}
	first := true
	add := func(typ protowire.Type, val []byte) bool {
		if !first {
			b = append(b, ',')
		}
		first = false
		var ok bool
		b, ok = appendJSONScalar(b, fd, typ, val, false)
		return ok
	}
	ok := wireFields(g, func(num protowire.Number, typ protowire.Type, val []byte) bool {
		if num != fd.Number() {
			return false
		}
		if typ == protowire.BytesType && fd.Kind() != protoreflect.StringKind {
			// Packed varints.
			packed, _ := protowire.ConsumeBytes(val)
			for len(packed) > 0 {
				_, n := protowire.ConsumeVarint(packed)
				if n < 0 || !add(protowire.VarintType, packed[:n]) {
					return false
				}
				packed = packed[n:]
			}
			return true
		}
		return add(typ, val)
	})
	return append(b, ']'), ok
}

func wireJSONMap(fd protoreflect.FieldDescriptor, g []byte) (json.RawMessage, bool) {
	kf, vf := fd.MapKey(), fd.MapValue()
	if !jsonPlainKind(kf) || !jsonPlainKind(vf) {
		return nil, false
	}
	entries := map[string][]byte{}
	ok := wireFields(g, func(num protowire.Number, typ protowire.Type, val []byte) bool {
		if num != fd.Number() || typ != protowire.BytesType {
			return false
		}
		entry, _ := protowire.ConsumeBytes(val)
		key, value := zeroValue(kf), []byte(nil)
		ok := wireFields(entry, func(num protowire.Number, typ protowire.Type, val []byte) bool {
			switch num {
			case kf.Number():
				k, err := wireScalar(kf, typ, val)
				if typ != wireTypeOf(kf.Kind()) || err != nil {
					return false
				}
				key = k
			case vf.Number():
				var ok bool
				if value, ok = appendJSONScalar(nil, vf, typ, val, false); !ok {
					return false
				}
			default:
				return false
			}
			return true
		})
		if !ok {
			return false
		}
		if value == nil {
			value, _ = appendJSONScalar(nil, vf, wireTypeOf(vf.Kind()), protowire.AppendVarint(nil, 0), false)
			if vf.Kind() == protoreflect.StringKind {
				value = []byte(`""`)
			}
		}
		entries[fmt.Sprint(key)] = value
		return true
	})
	if !ok {
		return nil, false
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		enc, err := json.Marshal(k)
		if err != nil {
			return nil, false
		}
		b = append(append(append(b, enc...), ':'), entries[k]...)
	}
	return append(b, '}'), true
}

// wireJSONMessages writes repeated messages of singular plain fields
// without presence, each as protojson with the proto field names writes it
// (fields in number order, zero values left out, 64-bit integers quoted),
// compacted and escaped by encoding/json.
func wireJSONMessages(fd protoreflect.FieldDescriptor, g []byte) (json.RawMessage, bool) {
	md := fd.Message()
	fields := md.Fields()
	if md.FullName().Parent() == "google.protobuf" {
		return nil, false
	}
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.IsList() || f.IsMap() || f.HasPresence() || !jsonPlainKind(f) || f.Kind() == protoreflect.EnumKind {
			return nil, false
		}
	}
	b := []byte{'['}
	first := true
	ok := wireFields(g, func(num protowire.Number, typ protowire.Type, val []byte) bool {
		if num != fd.Number() || typ != protowire.BytesType {
			return false
		}
		elem, _ := protowire.ConsumeBytes(val)
		last := make([][]byte, fields.Len()) // each field's last value, by index
		ok := wireFields(elem, func(num protowire.Number, typ protowire.Type, val []byte) bool {
			f := fields.ByNumber(num)
			if f == nil || typ != wireTypeOf(f.Kind()) {
				return false
			}
			if _, err := wireScalar(f, typ, val); err != nil {
				return false // every occurrence must decode (UTF-8)
			}
			last[f.Index()] = val
			return true
		})
		if !ok {
			return false
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '{')
		wrote := false
		for i := range fields.Len() {
			f := fields.Get(i)
			if last[i] == nil {
				continue
			}
			v, err := wireScalar(f, wireTypeOf(f.Kind()), last[i])
			if err != nil || isZero(v) {
				if err != nil {
					return false
				}
				continue
			}
			if wrote {
				b = append(b, ',')
			}
			wrote = true
			b = append(strconv.AppendQuote(b, string(f.Name())), ':')
			var ok bool
			if b, ok = appendJSONScalar(b, f, wireTypeOf(f.Kind()), last[i], true); !ok {
				return false
			}
		}
		b = append(b, '}')
		return true
	})
	return append(b, ']'), ok
}

// isZero reports a scalar column value that protojson leaves out.
func isZero(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case bool:
		return !x
	case int32:
		return x == 0
	case int64:
		return x == 0
	case *big.Int:
		return x.Sign() == 0
	}
	return false
}

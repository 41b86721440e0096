package langpack

import (
	"google.golang.org/protobuf/reflect/protoreflect"
)

// valueKind is how the dynamic languages (Python, TypeScript, PHP) hold
// and encode one value of a field, following protobuf JSON.
type valueKind int

const (
	kindInt     valueKind = iota // 32-bit integers: a JSON number
	kindInt64                    // 64-bit integers: a JSON string
	kindFloat                    // float and double
	kindBool                     //
	kindString                   //
	kindBytes                    // base64 in JSON
	kindEnum                     // the value's name in JSON
	kindMessage                  // a generated class
	kindTime                     // google.protobuf.Timestamp / Duration: a string ("2026-11-22T04:00:00Z", "1.5s")
	kindJSON                     // any other well-known type: its JSON value as is
)

// timeJSONNote documents a kindTime field.
const timeJSONNote = "Protobuf JSON string (RFC 3339 time or duration like \"1.5s\")."

// valueKindOf classifies a singular value of fd (a map's value for a map).
func valueKindOf(fd protoreflect.FieldDescriptor) valueKind {
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return kindInt
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return kindInt64
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return kindFloat
	case protoreflect.BoolKind:
		return kindBool
	case protoreflect.StringKind:
		return kindString
	case protoreflect.BytesKind:
		return kindBytes
	case protoreflect.EnumKind:
		return kindEnum
	}
	md := fd.Message()
	if wellKnown(md) {
		switch md.FullName() {
		case "google.protobuf.Timestamp", "google.protobuf.Duration":
			return kindTime
		}
		return kindJSON
	}
	return kindMessage
}

// slot is a field as the dynamic languages generate it.
type slot struct {
	field
	kind      valueKind
	list      bool
	isMap     bool
	keyKind   valueKind // map key: kindInt, kindInt64, kindBool or kindString
	presence  bool      // singular with explicit presence (message, optional, oneof member)
	typeName  string    // class of an enum or message value
	oneof     []string  // proto names of the other members of its oneof
	oneofJSON []string  // their protobuf JSON names
}

func (c *catalogue) slots(md protoreflect.MessageDescriptor) []slot {
	fs := c.fields(md)
	out := make([]slot, 0, len(fs))
	for _, f := range fs {
		fd := f.desc
		s := slot{field: f, list: fd.IsList(), isMap: fd.IsMap()}
		vd := fd
		if fd.IsMap() {
			vd = fd.MapValue()
			s.keyKind = valueKindOf(fd.MapKey())
		}
		s.kind = valueKindOf(vd)
		switch s.kind {
		case kindEnum:
			s.typeName = c.class[vd.Enum().FullName()]
		case kindMessage:
			s.typeName = c.class[vd.Message().FullName()]
		}
		s.presence = !s.list && !s.isMap && fd.HasPresence()
		if od := oneofOf(fd); od != nil {
			for i := range od.Fields().Len() {
				if o := od.Fields().Get(i); o.Number() != fd.Number() {
					s.oneof = append(s.oneof, string(o.Name()))
					s.oneofJSON = append(s.oneofJSON, o.JSONName())
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// checksNested reports whether the generated check of a message slot
// walks into its values: they have required fields, or messages below them
// do.
func (c *catalogue) checksNested(s slot) bool {
	return s.kind == kindMessage && hasRequired(c, c.messageByClass(s), map[protoreflect.FullName]bool{})
}

// enumValues returns the value names and numbers of an enum, first
// occurrence of each number only (aliases left out).
func enumValues(ed protoreflect.EnumDescriptor) []protoreflect.EnumValueDescriptor {
	var out []protoreflect.EnumValueDescriptor
	seen := map[protoreflect.EnumNumber]bool{}
	vals := ed.Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		if !seen[v.Number()] {
			seen[v.Number()] = true
			out = append(out, v)
		}
	}
	return out
}

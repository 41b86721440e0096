package langpack

import (
	"cmp"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// csharpValue is how C# holds one value of a field and writes it as
// protobuf JSON.
type csharpValue struct {
	typ      string // "long", "string", "ContentStatus", "DateTimeOffset"
	valueTyp bool   // a value type: "T?" for presence
	write    string // JsonWriter method, or "Enum" / "Message"
	// zero and set test that x (%[1]s) is or is not its zero value, for
	// fields without presence; "" for types that only have presence.
	zero, set string
	// note documents what the C# type cannot express.
	note string
}

func csharpValueOf(c *catalogue, fd protoreflect.FieldDescriptor) csharpValue {
	num := csharpValue{valueTyp: true, write: "Number", zero: "%[1]s == 0", set: "%[1]s != 0"}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		num.typ = "int"
		return num
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		num.typ = "uint"
		return num
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		num.typ, num.write = "long", "Int64"
		return num
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		num.typ, num.write = "ulong", "Int64"
		return num
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		// -0 is not the zero value: its bits are not all zero.
		num.typ, num.zero, num.set = "double", "BitConverter.DoubleToInt64Bits(%[1]s) == 0", "BitConverter.DoubleToInt64Bits(%[1]s) != 0"
		if fd.Kind() == protoreflect.FloatKind {
			num.typ, num.write = "float", "Float"
		}
		return num
	case protoreflect.BoolKind:
		return csharpValue{typ: "bool", valueTyp: true, write: "Bool", zero: "!%[1]s", set: "%[1]s"}
	case protoreflect.StringKind:
		return csharpValue{typ: "string", write: "String", zero: "string.IsNullOrEmpty(%[1]s)", set: "!string.IsNullOrEmpty(%[1]s)"}
	case protoreflect.BytesKind:
		return csharpValue{typ: "byte[]", write: "Bytes", zero: "%[1]s == null || %[1]s.Length == 0", set: "%[1]s != null && %[1]s.Length > 0"}
	case protoreflect.EnumKind:
		return csharpValue{typ: c.class[fd.Enum().FullName()], valueTyp: true, write: "Enum", zero: "(int)%[1]s == 0", set: "(int)%[1]s != 0"}
	}
	switch md := fd.Message(); {
	case md.FullName() == "google.protobuf.Timestamp":
		return csharpValue{typ: "DateTimeOffset", valueTyp: true, write: "Timestamp",
			note: "A DateTimeOffset counts 100 ns ticks: finer nanoseconds cannot be expressed."}
	case md.FullName() == "google.protobuf.Duration":
		return csharpValue{typ: "TimeSpan", valueTyp: true, write: "Duration",
			note: "A TimeSpan counts 100 ns ticks: finer nanoseconds cannot be expressed; beyond ±315,576,000,000 seconds Validate() throws ValidationException."}
	case wellKnown(md):
		return csharpValue{typ: "string", write: "Raw", note: "The protobuf JSON of " + string(md.FullName()) + ", as JSON text."}
	}
	return csharpValue{typ: c.class[fd.Message().FullName()], write: "Message"}
}

// csharpWrite is the statement writing value x.
func csharpWrite(v csharpValue, x string) string {
	switch v.write {
	case "Message":
		return x + ".WriteJson(w);"
	case "Enum":
		return "w.Enum(" + x + ");"
	}
	return "w." + v.write + "(" + x + ");"
}

// csharpReserved are member names a property may not take.
var csharpReserved = map[string]bool{
	"Validate": true, "Check": true, "WriteJson": true, "ToString": true, "Equals": true, "GetHashCode": true, "GetType": true,
	"EVENT_ID": true, "EVENT_VERSION": true, "MESSAGE_NAME": true, "DEPRECATED": true,
}

// csharpProperty is a field as a C# property.
type csharpProperty struct {
	slot
	name  string      // "ItemId"
	value csharpValue // of one value (a map's value for a map)
	key   csharpValue // of a map's key
}

func csharpProperties(c *catalogue, md protoreflect.MessageDescriptor) []csharpProperty {
	class := c.class[md.FullName()]
	var out []csharpProperty
	for _, s := range c.slots(md) {
		p := csharpProperty{slot: s, name: camel(s.name), value: csharpValueOf(c, s.desc)}
		if p.name == class || csharpReserved[p.name] {
			p.name += "_"
		}
		if s.isMap {
			p.value, p.key = csharpValueOf(c, s.desc.MapValue()), csharpValueOf(c, s.desc.MapKey())
		}
		out = append(out, p)
	}
	return out
}

// typ is the property's C# type.
func (f csharpProperty) typ() string {
	switch {
	case f.isMap:
		return "Dictionary<" + f.key.typ + ", " + f.value.typ + ">"
	case f.list:
		return "List<" + f.value.typ + ">"
	case f.presence && f.value.valueTyp:
		return f.value.typ + "?"
	}
	return f.value.typ
}

// unset is the test that the property is not set, as Validate() reads
// "required": present for a field with presence, else not the zero value.
func (f csharpProperty) unset() string {
	switch {
	case f.list || f.isMap:
		return f.name + " == null || " + f.name + ".Count == 0"
	case f.presence || f.value.set == "":
		return f.name + " == null"
	}
	return fmt.Sprintf(f.value.zero, f.name)
}

// doc is the property's documentation.
func (f csharpProperty) doc() string {
	var notes []string
	if f.value.note != "" {
		notes = append(notes, f.value.note)
	}
	if len(f.oneof) > 0 {
		notes = append(notes, "Setting it clears "+strings.Join(f.oneof, ", ")+".")
	}
	if f.presence && f.kind != kindMessage && f.kind != kindTime && f.kind != kindJSON {
		notes = append(notes, "Null leaves it unset; any other value, the zero value included, is sent.")
	}
	return f.docWith(notes...)
}

func csharpClass(c *catalogue, md protoreflect.MessageDescriptor, p *printer) {
	class := c.class[md.FullName()]
	ev := c.eventOf[md.FullName()]
	props := csharpProperties(c, md)
	doc := cmp.Or(c.messageDoc(md), string(md.FullName()))
	if ev != nil {
		doc += fmt.Sprintf("\n\nEvent %d version %d (%s).", ev.ID, ev.Version, ev.MessageName)
	}
	p.Doc(csharpComment, doc)
	if ev != nil && ev.Deprecated {
		p.P(`[Obsolete("This event version is deprecated in the catalogue; send a newer version.")]`)
	}
	if ev != nil {
		p.P("public sealed class ", class, " : IClickstreamEvent")
	} else {
		p.P("public sealed class ", class)
	}
	p.Block("{", func() {
		if ev != nil {
			p.P("public const int EVENT_ID = ", ev.ID, ";")
			p.P("public const int EVENT_VERSION = ", ev.Version, ";")
			p.P("public const string MESSAGE_NAME = ", quoted(ev.MessageName, utf16Literal), ";")
			p.P("public const bool DEPRECATED = ", ev.Deprecated, ";")
			p.P()
			p.P("int IClickstreamEvent.EventId { get { return EVENT_ID; } }")
			p.P("int IClickstreamEvent.EventVersion { get { return EVENT_VERSION; } }")
			p.P("string IClickstreamEvent.MessageName { get { return MESSAGE_NAME; } }")
			p.P("bool IClickstreamEvent.Deprecated { get { return DEPRECATED; } }")
		}
		for _, f := range props {
			p.P()
			p.Doc(csharpComment, f.doc())
			csharpPropertyDecl(f, p)
		}
		if ev != nil {
			p.P()
			p.P("/// <summary>Throws ValidationException when a required field is not set.</summary>")
			p.P("public void Validate()")
			p.Block("{", func() {
				p.P("Check(", quoted(class, utf16Literal), ", EVENT_ID, EVENT_VERSION, \"\");")
			}, "}")
		}
		p.P()
		p.P("internal void Check(string evt, int eventId, int version, string path)")
		p.Block("{", func() {
			for _, f := range props {
				csharpCheck(c, f, p)
			}
		}, "}")
		p.P()
		p.P("/// <summary>Writes the protobuf JSON form of the message.</summary>")
		p.P("public void WriteJson(JsonWriter w)")
		p.Block("{", func() {
			p.P("w.BeginObject();")
			for _, f := range props {
				csharpWriteField(f, p)
			}
			p.P("w.EndObject();")
		}, "}")
	}, "}")
}

func csharpPropertyDecl(f csharpProperty, p *printer) {
	switch {
	case f.isMap || f.list:
		p.P("public ", f.typ(), " ", f.name, " { get; set; } = new ", f.typ(), "();")
	case len(f.oneof) > 0:
		backing := "_" + lowerCamel(f.slot.name)
		p.P("private ", f.typ(), " ", backing, ";")
		p.P("public ", f.typ(), " ", f.name)
		p.Block("{", func() {
			p.P("get { return ", backing, "; }")
			p.P("set")
			p.Block("{", func() {
				p.P(backing, " = value;")
				p.P("if (value != null)")
				p.Block("{", func() {
					for _, o := range f.oneof {
						p.P("_", lowerCamel(o), " = null;")
					}
				}, "}")
			}, "}")
		}, "}")
	case !f.presence && f.value.write == "String":
		// A string without presence starts as its zero value; one with
		// presence (proto3 optional) starts unset: null.
		p.P("public string ", f.name, " { get; set; } = \"\";")
	default:
		p.P("public ", f.typ(), " ", f.name, " { get; set; }")
	}
}

func csharpCheck(c *catalogue, f csharpProperty, p *printer) {
	if f.required {
		p.P("if (", f.unset(), ")")
		p.Block("{", func() {
			p.P("throw new ValidationException(evt, eventId, version, path + ", quoted(f.slot.name, utf16Literal), ");")
		}, "}")
	}
	if f.value.write == "Duration" {
		// A TimeSpan protobuf cannot hold fails here rather than when
		// the event is encoded.
		problem := func(x, at string) {
			p.P("if (JsonWriter.DurationProblem(", x, ") != null)")
			p.Block("{", func() {
				p.P("throw new ValidationException(evt, eventId, version, path + ", at, ", JsonWriter.DurationProblem(", x, "));")
			}, "}")
		}
		name := quoted(f.slot.name, utf16Literal)
		switch {
		case f.isMap:
			p.P("foreach (var e in ", f.name, ")")
			p.Block("{", func() { problem("e.Value", name+` + "[" + e.Key + "]"`) }, "}")
		case f.list:
			p.P("for (int i = 0; i < ", f.name, ".Count; i++)")
			p.Block("{", func() { problem(f.name+"[i]", name+` + "[" + i + "]"`) }, "}")
		default:
			p.P("if (", f.name, " != null)")
			p.Block("{", func() { problem(f.name+".Value", name) }, "}")
		}
	}
	if f.kind != kindMessage || !csharpChecksMessage(c, f.message(), map[protoreflect.FullName]bool{}) {
		return
	}
	p.P("if (", f.name, " != null)")
	p.Block("{", func() {
		switch {
		case f.isMap:
			p.P("foreach (var e in ", f.name, ")")
			p.Block("{", func() {
				p.P("e.Value.Check(evt, eventId, version, path + ", quoted(f.slot.name, utf16Literal), ` + "[" + e.Key + "].");`)
			}, "}")
		case f.list:
			p.P("for (int i = 0; i < ", f.name, ".Count; i++)")
			p.Block("{", func() {
				p.P(f.name, "[i].Check(evt, eventId, version, path + ", quoted(f.slot.name, utf16Literal), ` + "[" + i + "].");`)
			}, "}")
		default:
			p.P(f.name, ".Check(evt, eventId, version, path + ", quoted(f.slot.name+".", utf16Literal), ");")
		}
	}, "}")
}

// message is the message of a message field (its value's for a map).
func (f csharpProperty) message() protoreflect.MessageDescriptor {
	if f.isMap {
		return f.desc.MapValue().Message()
	}
	return f.desc.Message()
}

// csharpChecksMessage reports whether Check() of md has anything to do: a
// required field, a Duration to range-check, or a message below with
// either.
func csharpChecksMessage(c *catalogue, md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] || wellKnown(md) {
		return false
	}
	seen[md.FullName()] = true
	for _, f := range csharpProperties(c, md) {
		if f.required || f.value.write == "Duration" {
			return true
		}
		if f.kind == kindMessage && csharpChecksMessage(c, f.message(), seen) {
			return true
		}
	}
	return false
}

func csharpWriteField(f csharpProperty, p *printer) {
	name := quoted(f.json, utf16Literal)
	switch {
	case f.isMap:
		p.P("if (", f.name, " != null && ", f.name, ".Count > 0)")
		p.Block("{", func() {
			p.P("w.Name(", name, ");")
			p.P("w.BeginObject();")
			p.P("foreach (var e in ", f.name, ")")
			p.Block("{", func() {
				p.P("w.Name(JsonWriter.Key(e.Key));")
				p.P(csharpWrite(f.value, "e.Value"))
			}, "}")
			p.P("w.EndObject();")
		}, "}")
	case f.list:
		p.P("if (", f.name, " != null && ", f.name, ".Count > 0)")
		p.Block("{", func() {
			p.P("w.Name(", name, ");")
			p.P("w.BeginArray();")
			p.P("foreach (var x in ", f.name, ")")
			p.Block("{", func() { p.P(csharpWrite(f.value, "x")) }, "}")
			p.P("w.EndArray();")
		}, "}")
	case f.presence || f.value.set == "":
		x := f.name
		if f.value.valueTyp {
			x += ".Value"
		}
		p.P("if (", f.name, " != null)")
		p.Block("{", func() {
			p.P("w.Name(", name, ");")
			p.P(csharpWrite(f.value, x))
		}, "}")
	default:
		p.P("if (", fmt.Sprintf(f.value.set, f.name), ")")
		p.Block("{", func() {
			p.P("w.Name(", name, ");")
			p.P(csharpWrite(f.value, f.name))
		}, "}")
	}
}

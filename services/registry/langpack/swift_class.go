package langpack

import (
	"cmp"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// swiftKeywords are the words an identifier takes in backticks; the
// generated members' own names are reserved with a trailing underscore.
var swiftKeywords = map[string]bool{
	"associatedtype": true, "class": true, "deinit": true, "enum": true, "extension": true, "fileprivate": true,
	"func": true, "import": true, "init": true, "inout": true, "internal": true, "let": true, "open": true,
	"operator": true, "private": true, "protocol": true, "public": true, "rethrows": true, "static": true,
	"struct": true, "subscript": true, "typealias": true, "var": true, "break": true, "case": true,
	"continue": true, "default": true, "defer": true, "do": true, "else": true, "fallthrough": true,
	"for": true, "guard": true, "if": true, "in": true, "repeat": true, "return": true, "switch": true,
	"where": true, "while": true, "as": true, "catch": true, "false": true, "is": true, "nil": true,
	"super": true, "self": true, "Self": true, "throw": true, "throws": true, "true": true, "try": true,
	"Type": true, "Any": true, "await": true, "some": true,
}

var swiftReserved = map[string]bool{
	"eventId": true, "eventVersion": true, "messageName": true, "deprecated": true, "validate": true,
	"serializedData": true, "check": true, "write": true,
}

func swiftIdent(name string) string {
	if swiftReserved[name] {
		return name + "_"
	}
	if swiftKeywords[name] {
		return "`" + name + "`"
	}
	return name
}

// swiftValue is how Swift holds one value of a field and the ProtoWriter
// method that writes it.
type swiftValue struct {
	typ   string // "Int64", "String", "ContentStatus", "Date"
	write string // "int64", "string", "enum", "message", "timestamp", "duration", "bytes"
	zero  string // the literal of the zero value; "" for types held as optionals
}

func swiftValueOf(c *catalogue, fd protoreflect.FieldDescriptor) swiftValue {
	switch fd.Kind() {
	case protoreflect.Int32Kind:
		return swiftValue{"Int32", "int32", "0"}
	case protoreflect.Sint32Kind:
		return swiftValue{"Int32", "sint32", "0"}
	case protoreflect.Sfixed32Kind:
		return swiftValue{"Int32", "sfixed32", "0"}
	case protoreflect.Uint32Kind:
		return swiftValue{"UInt32", "uint32", "0"}
	case protoreflect.Fixed32Kind:
		return swiftValue{"UInt32", "fixed32", "0"}
	case protoreflect.Int64Kind:
		return swiftValue{"Int64", "int64", "0"}
	case protoreflect.Sint64Kind:
		return swiftValue{"Int64", "sint64", "0"}
	case protoreflect.Sfixed64Kind:
		return swiftValue{"Int64", "sfixed64", "0"}
	case protoreflect.Uint64Kind:
		return swiftValue{"UInt64", "uint64", "0"}
	case protoreflect.Fixed64Kind:
		return swiftValue{"UInt64", "fixed64", "0"}
	case protoreflect.FloatKind:
		return swiftValue{"Float", "float", "0"}
	case protoreflect.DoubleKind:
		return swiftValue{"Double", "double", "0"}
	case protoreflect.BoolKind:
		return swiftValue{"Bool", "bool", "false"}
	case protoreflect.StringKind:
		return swiftValue{"String", "string", `""`}
	case protoreflect.BytesKind:
		return swiftValue{"Data", "bytes", "Data()"}
	case protoreflect.EnumKind:
		return swiftValue{c.class[fd.Enum().FullName()], "enum", ""}
	}
	switch md := fd.Message(); {
	case md.FullName() == "google.protobuf.Timestamp":
		return swiftValue{"Date", "timestamp", ""}
	case md.FullName() == "google.protobuf.Duration":
		return swiftValue{"TimeInterval", "duration", ""}
	case wellKnown(md):
		return swiftValue{"Data", "bytes", ""}
	}
	return swiftValue{c.class[fd.Message().FullName()], "message", ""}
}

// swiftWrite is the statement writing x as field number into writer w.
func swiftWrite(v swiftValue, w string, number protoreflect.FieldNumber, x string) string {
	switch v.write {
	case "enum":
		return fmt.Sprintf("%s.int32(%d, %s.rawValue)", w, number, x)
	case "message":
		return fmt.Sprintf("%s.bytes(%d, %s.serializedData())", w, number, x)
	case "timestamp", "duration":
		return fmt.Sprintf("%s.bytes(%d, ProtoWriter.%s(%s))", w, number, v.write, x)
	}
	return fmt.Sprintf("%s.%s(%d, %s)", w, v.write, number, x)
}

// swiftProperty is a field as a Swift property.
type swiftProperty struct {
	slot
	name  string     // "itemId", "`default`"
	value swiftValue // of one value (a map's value for a map)
	typ   string     // "[String: Int64]", "Context?"
	def   string     // the initialiser's default: "[:]", "nil", "0"
}

func swiftProperties(c *catalogue, md protoreflect.MessageDescriptor) []swiftProperty {
	var out []swiftProperty
	for _, s := range c.slots(md) {
		f := swiftProperty{slot: s, name: swiftIdent(lowerCamel(s.name)), value: swiftValueOf(c, s.desc)}
		switch {
		case s.isMap:
			f.value = swiftValueOf(c, s.desc.MapValue())
			f.typ, f.def = fmt.Sprintf("[%s: %s]", swiftValueOf(c, s.desc.MapKey()).typ, f.value.typ), "[:]"
		case s.list:
			f.typ, f.def = "["+f.value.typ+"]", "[]"
		case s.presence || f.value.zero == "":
			f.typ, f.def = f.value.typ+"?", "nil"
		default:
			f.typ, f.def = f.value.typ, f.value.zero
		}
		out = append(out, f)
	}
	return out
}

func (f swiftProperty) doc() string {
	var notes []string
	switch {
	case f.kind == kindJSON:
		notes = append(notes, "The encoded protobuf bytes of "+string(f.desc.Message().FullName())+".")
	case f.value.write == "timestamp":
		notes = append(notes, "Sent rounded to the microsecond; validate() refuses a date outside the years 1 to 9999.")
	case f.value.write == "duration":
		notes = append(notes, "Seconds, sent to the nanosecond; validate() refuses more than 315,576,000,000 either way.")
	}
	if len(f.oneof) > 0 {
		notes = append(notes, "Setting it clears "+strings.Join(f.oneof, ", ")+".")
	}
	return f.docWith(notes...)
}

func swiftClass(c *catalogue, md protoreflect.MessageDescriptor, p *printer) {
	class := c.class[md.FullName()]
	ev := c.eventOf[md.FullName()]
	props := swiftProperties(c, md)
	doc := cmp.Or(c.messageDoc(md), string(md.FullName()))
	if ev != nil {
		doc += fmt.Sprintf("\n\nEvent %d version %d (%s).", ev.ID, ev.Version, ev.MessageName)
	}
	p.Doc(swiftComment, doc)
	if ev != nil && ev.Deprecated {
		p.P(`@available(*, deprecated, message: "This event version is deprecated in the catalogue; send a newer version.")`)
	}
	open := "public final class " + class + " {"
	if ev != nil {
		open = "public final class " + class + ": ClickstreamEvent {"
	}
	p.Block(open, func() {
		if ev != nil {
			p.P("public static let EVENT_ID = ", ev.ID)
			p.P("public static let EVENT_VERSION = ", ev.Version)
			p.P("public static let MESSAGE_NAME = ", quoted(ev.MessageName, swiftLiteral))
			p.P("public static let DEPRECATED = ", ev.Deprecated)
			p.P()
			p.Pf("public var eventId: Int { return %s.EVENT_ID }", class)
			p.Pf("public var eventVersion: Int { return %s.EVENT_VERSION }", class)
			p.Pf("public var messageName: String { return %s.MESSAGE_NAME }", class)
			p.Pf("public var deprecated: Bool { return %s.DEPRECATED }", class)
		}
		for _, f := range props {
			p.P()
			p.Doc(swiftComment, f.doc())
			if len(f.oneof) == 0 {
				p.P("public var ", f.name, ": ", f.typ)
				continue
			}
			p.Block("public var "+f.name+": "+f.typ+" {", func() {
				p.Block("didSet {", func() {
					p.Block("if "+f.name+" != nil {", func() {
						for _, o := range f.oneof {
							p.P(swiftIdent(lowerCamel(o)), " = nil")
						}
					}, "}")
				}, "}")
			}, "}")
		}
		p.P()
		params := make([]string, len(props))
		for i, f := range props {
			params[i] = fmt.Sprintf("%s: %s = %s", f.name, f.typ, f.def)
		}
		p.Block("public init("+strings.Join(params, ", ")+") {", func() {
			for _, f := range props {
				p.P("self.", f.name, " = ", f.name)
			}
		}, "}")
		if ev != nil {
			p.P()
			p.P("/// Throws ValidationError when a required field is not set or a value cannot be sent.")
			p.Block("public func validate() throws {", func() {
				p.Pf("try check(event: %s, eventId: %s.EVENT_ID, version: %[2]s.EVENT_VERSION, path: \"\")", quoted(class, swiftLiteral), class)
			}, "}")
		}
		p.P()
		p.Block("func check(event: String, eventId: Int, version: Int, path: String) throws {", func() {
			for _, f := range props {
				swiftCheck(c, f, p)
			}
		}, "}")
		p.P()
		p.P("/// The message in the protobuf binary format.")
		p.Block("public func serializedData() -> Data {", func() {
			p.P("var w = ProtoWriter()")
			p.P("write(to: &w)")
			p.P("return w.data")
		}, "}")
		p.P()
		p.Block("func write(to w: inout ProtoWriter) {", func() {
			for _, f := range props {
				swiftWriteField(c, f, p)
			}
		}, "}")
	}, "}")
}

// swiftThrow is the statement throwing a ValidationError for the field at
// path expression at, with a problem when not empty.
func swiftThrow(at, problem string) string {
	if problem != "" {
		problem = ", problem: " + problem
	}
	return "throw ValidationError(event: event, eventId: eventId, version: version, field: path + " + at + problem + ")"
}

func swiftCheck(c *catalogue, f swiftProperty, p *printer) {
	self := "self." + f.name
	name := quoted(f.slot.name, swiftLiteral)
	if f.required {
		var unset string
		switch {
		case f.list || f.isMap:
			unset = self + ".isEmpty"
		case f.value.write == "enum":
			unset = "(" + self + "?.rawValue ?? 0) == 0"
		case f.presence || f.value.zero == "":
			unset = self + " == nil"
		case f.value.typ == "Bool":
			unset = "!" + self
		case f.value.typ == "Float" || f.value.typ == "Double":
			unset = self + ".bitPattern == 0" // -0 is set
		case f.value.typ == "String" || f.value.typ == "Data":
			unset = self + ".isEmpty"
		default:
			unset = self + " == 0"
		}
		p.Block("if "+unset+" {", func() { p.P(swiftThrow(name, "")) }, "}")
	}
	// A Date or TimeInterval protobuf cannot hold fails here rather than
	// when the event is encoded.
	if f.value.write == "timestamp" || f.value.write == "duration" {
		problem := "ProtoWriter." + f.value.write + "Problem(v)"
		switch {
		case f.isMap:
			p.Block("for (k, v) in "+self+" {", func() {
				p.Block("if let problem = "+problem+" {", func() { p.P(swiftThrow(name+` + "[\(k)]"`, "problem")) }, "}")
			}, "}")
		case f.list:
			p.Block("for (i, v) in "+self+".enumerated() {", func() {
				p.Block("if let problem = "+problem+" {", func() { p.P(swiftThrow(name+` + "[\(i)]"`, "problem")) }, "}")
			}, "}")
		default:
			p.Block("if let v = "+self+", let problem = "+problem+" {", func() { p.P(swiftThrow(name, "problem")) }, "}")
		}
	}
	if f.kind != kindMessage || !swiftChecksMessage(c, f.message(), map[protoreflect.FullName]bool{}) {
		return
	}
	check := "try v.check(event: event, eventId: eventId, version: version, path: path + "
	switch {
	case f.isMap:
		p.Block("for (k, v) in "+self+" {", func() { p.P(check, name, ` + "[\(k)].")`) }, "}")
	case f.list:
		p.Block("for (i, v) in "+self+".enumerated() {", func() { p.P(check, name, ` + "[\(i)].")`) }, "}")
	default:
		p.Block("if let v = "+self+" {", func() { p.P(check, quoted(f.slot.name+".", swiftLiteral), ")") }, "}")
	}
}

// message is the message of a message field (its value's for a map).
func (f swiftProperty) message() protoreflect.MessageDescriptor {
	if f.isMap {
		return f.desc.MapValue().Message()
	}
	return f.desc.Message()
}

// swiftChecksMessage reports whether check() of md has anything to do: a
// required field, a Timestamp or Duration to range-check, or a message
// below with either.
func swiftChecksMessage(c *catalogue, md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] || wellKnown(md) {
		return false
	}
	seen[md.FullName()] = true
	for _, f := range swiftProperties(c, md) {
		if f.required || f.kind == kindTime {
			return true
		}
		if f.kind == kindMessage && swiftChecksMessage(c, f.message(), seen) {
			return true
		}
	}
	return false
}

func swiftWriteField(c *catalogue, f swiftProperty, p *printer) {
	self := "self." + f.name
	v := f.value
	n := f.desc.Number()
	switch {
	case f.isMap:
		k := swiftValueOf(c, f.desc.MapKey())
		p.Block("for (k, v) in "+self+`.sorted(by: { "\($0.key)" < "\($1.key)" }) {`, func() {
			p.P("var e = ProtoWriter()")
			p.P(swiftWrite(k, "e", 1, "k"))
			p.P(swiftWrite(v, "e", 2, "v"))
			p.P("w.bytes(", n, ", e.data)")
		}, "}")
	case f.list:
		p.Block("for v in "+self+" {", func() { p.P(swiftWrite(v, "w", n, "v")) }, "}")
	case v.write == "enum" && !f.presence:
		p.Block("if let v = "+self+", v.rawValue != 0 {", func() { p.P(swiftWrite(v, "w", n, "v")) }, "}")
	case f.presence || v.zero == "":
		p.Block("if let v = "+self+" {", func() { p.P(swiftWrite(v, "w", n, "v")) }, "}")
	case v.typ == "Bool":
		p.Block("if "+self+" {", func() { p.P(swiftWrite(v, "w", n, self)) }, "}")
	case v.typ == "String" || v.typ == "Data":
		p.Block("if !"+self+".isEmpty {", func() { p.P(swiftWrite(v, "w", n, self)) }, "}")
	case v.typ == "Float" || v.typ == "Double":
		// -0 is not the zero value: its bits are not all zero.
		p.Block("if "+self+".bitPattern != 0 {", func() { p.P(swiftWrite(v, "w", n, self)) }, "}")
	default:
		p.Block("if "+self+" != 0 {", func() { p.P(swiftWrite(v, "w", n, self)) }, "}")
	}
}

package langpack

import (
	"cmp"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// javaValue is how Java holds one value of a field: its type (boxed for
// use in collections and for presence), its primitive type when it has
// one, and the Wire.Writer method suffix that writes it.
type javaValue struct {
	boxed, prim string
	write       string // "Int64": writeInt64 / writeInt64NoTag
	packable    bool
	msg         protoreflect.MessageDescriptor // a generated class's message
}

func javaValueOf(c *catalogue, fd protoreflect.FieldDescriptor) javaValue {
	switch fd.Kind() {
	case protoreflect.Int32Kind:
		return javaValue{"Integer", "int", "Int32", true, nil}
	case protoreflect.Sint32Kind:
		return javaValue{"Integer", "int", "SInt32", true, nil}
	case protoreflect.Sfixed32Kind:
		return javaValue{"Integer", "int", "SFixed32", true, nil}
	case protoreflect.Uint32Kind:
		return javaValue{"Integer", "int", "UInt32", true, nil}
	case protoreflect.Fixed32Kind:
		return javaValue{"Integer", "int", "Fixed32", true, nil}
	case protoreflect.Int64Kind:
		return javaValue{"Long", "long", "Int64", true, nil}
	case protoreflect.Sint64Kind:
		return javaValue{"Long", "long", "SInt64", true, nil}
	case protoreflect.Sfixed64Kind:
		return javaValue{"Long", "long", "SFixed64", true, nil}
	case protoreflect.Uint64Kind:
		return javaValue{"Long", "long", "UInt64", true, nil}
	case protoreflect.Fixed64Kind:
		return javaValue{"Long", "long", "Fixed64", true, nil}
	case protoreflect.FloatKind:
		return javaValue{"Float", "float", "Float", true, nil}
	case protoreflect.DoubleKind:
		return javaValue{"Double", "double", "Double", true, nil}
	case protoreflect.BoolKind:
		return javaValue{"Boolean", "boolean", "Bool", true, nil}
	case protoreflect.StringKind:
		return javaValue{"String", "", "String", false, nil}
	case protoreflect.BytesKind:
		return javaValue{"byte[]", "", "Bytes", false, nil}
	case protoreflect.EnumKind:
		return javaValue{c.class[fd.Enum().FullName()], "", "Enum", true, nil}
	}
	switch md := fd.Message(); {
	case md.FullName() == "google.protobuf.Timestamp":
		return javaValue{"java.time.Instant", "", "Timestamp", false, nil}
	case md.FullName() == "google.protobuf.Duration":
		return javaValue{"java.time.Duration", "", "Duration", false, nil}
	case wellKnown(md):
		return javaValue{"byte[]", "", "Bytes", false, nil}
	}
	return javaValue{boxed: c.class[fd.Message().FullName()], write: "Message", msg: fd.Message()}
}

// javaValueNote documents what a Java value cannot say by its type: the
// unsigned kinds in signed types, the ranges of the times, encoded bytes.
func javaValueNote(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return fmt.Sprintf("Unsigned: the int holds the bits of a %s, -1 is %d (Integer.toUnsignedLong, Integer.parseUnsignedInt).", fd.Kind(), uint32(math.MaxUint32))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return fmt.Sprintf("Unsigned: the long holds the bits of a %s, -1 is %d (Long.toUnsignedString, Long.parseUnsignedLong).", fd.Kind(), uint64(math.MaxUint64))
	case protoreflect.MessageKind:
	default:
		return ""
	}
	switch md := fd.Message(); {
	case md.FullName() == "google.protobuf.Timestamp":
		return "An instant from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z: protobuf cannot carry one outside, so validate() throws ValidationException (and toByteArray() IllegalArgumentException)."
	case md.FullName() == "google.protobuf.Duration":
		return "At most 315,576,000,000 seconds either way: protobuf cannot carry a longer one, so validate() throws ValidationException (and toByteArray() IllegalArgumentException)."
	case wellKnown(md):
		return "The encoded protobuf bytes of " + string(md.FullName()) + "."
	}
	return ""
}

// javaWrite is the statement writing value v of a field as number.
func javaWrite(jv javaValue, out string, number protoreflect.FieldNumber, v, field string) string {
	switch jv.write {
	case "Enum":
		return fmt.Sprintf("%s.writeEnum(%d, %s.getNumber());", out, number, v)
	case "Message":
		return fmt.Sprintf("%s.writeBytes(%d, %s.toByteArray());", out, number, v)
	case "Timestamp", "Duration":
		return fmt.Sprintf("%s.writeBytes(%d, Wire.%s(%s, %s));", out, number, strings.ToLower(jv.write), v, quoted(field, utf16Literal))
	}
	return fmt.Sprintf("%s.write%s(%d, %s);", out, jv.write, number, v)
}

// javaUnset is the condition under which a field counts as not set for
// validate(): absent or the zero value.
func javaUnset(s slot, jv javaValue, attr string) string {
	switch {
	case s.list || s.isMap:
		return attr + ".isEmpty()"
	case s.presence:
		return attr + " == null"
	}
	switch {
	case jv.boxed == "String":
		return attr + " == null || " + attr + ".isEmpty()"
	case jv.boxed == "byte[]":
		return attr + " == null || " + attr + ".length == 0"
	case jv.prim == "boolean":
		return "!" + attr
	case jv.write == "Enum":
		return attr + " == null || " + attr + ".getNumber() == 0"
	case jv.prim != "":
		return attr + " == 0"
	}
	return attr + " == null"
}

// javaWritten is the condition under which a field without presence is
// written: not its zero value. A float or double is compared by its bits,
// so -0.0 is written as protobuf's own runtimes write it.
func javaWritten(s slot, jv javaValue, attr string) string {
	switch jv.prim {
	case "float":
		return "Float.floatToRawIntBits(" + attr + ") != 0"
	case "double":
		return "Double.doubleToRawLongBits(" + attr + ") != 0"
	}
	return "!(" + javaUnset(s, jv, attr) + ")"
}

// javaField is one field of a generated class as Java declares it.
type javaField struct {
	slot
	value javaValue
	key   javaValue // a map's key
	name  string    // the Java field: "itemId"
	typ   string    // the type of the getter and setter
}

func javaFields(c *catalogue, md protoreflect.MessageDescriptor) []javaField {
	var out []javaField
	for _, s := range c.slots(md) {
		f := javaField{slot: s, value: javaValueOf(c, s.desc), name: javaIdent(lowerCamel(s.name))}
		f.typ = f.value.boxed
		switch {
		case s.isMap:
			f.key, f.value = javaValueOf(c, s.desc.MapKey()), javaValueOf(c, s.desc.MapValue())
			f.typ = fmt.Sprintf("java.util.Map<%s, %s>", f.key.boxed, f.value.boxed)
		case s.list:
			f.typ = fmt.Sprintf("java.util.List<%s>", f.value.boxed)
		case !s.presence && f.value.prim != "":
			f.typ = f.value.prim
		}
		out = append(out, f)
	}
	return out
}

// javaClass is the class of a message: an event version (implementing
// ClickstreamEvent) or a message an event references.
func javaClass(c *catalogue, md protoreflect.MessageDescriptor) []byte {
	class := c.class[md.FullName()]
	ev := c.eventOf[md.FullName()]
	fields := javaFields(c, md)
	p := javaFile(c)
	doc := cmp.Or(c.messageDoc(md), string(md.FullName()))
	var tags []string
	open := "public final class " + class + " {"
	if ev != nil {
		doc += fmt.Sprintf("\n\nEvent %d version %d (%s).", ev.ID, ev.Version, ev.MessageName)
		if ev.Deprecated {
			tags = append(tags, "@deprecated This event version is deprecated in the catalogue; send a newer version.")
		}
		open = "public final class " + class + " implements ClickstreamEvent {"
	}
	p.Doc(javadocComment, doc, tags...)
	if ev != nil && ev.Deprecated {
		p.P("@Deprecated")
	}
	p.Block(open, func() {
		if ev != nil {
			p.Pf("public static final int EVENT_ID = %d;", ev.ID)
			p.Pf("public static final int EVENT_VERSION = %d;", ev.Version)
			p.P("public static final String MESSAGE_NAME = ", quoted(ev.MessageName, utf16Literal), ";")
			p.Pf("public static final boolean DEPRECATED = %t;", ev.Deprecated)
			p.P()
		}
		for _, f := range fields {
			switch {
			case f.isMap:
				p.Pf("private %s %s = new java.util.LinkedHashMap<%s, %s>();", f.typ, f.name, f.key.boxed, f.value.boxed)
			case f.list:
				p.Pf("private %s %s = new java.util.ArrayList<%s>();", f.typ, f.name, f.value.boxed)
			case !f.presence && f.value.boxed == "String":
				p.Pf(`private String %s = "";`, f.name)
			default:
				p.Pf("private %s %s;", f.typ, f.name)
			}
		}
		if ev != nil {
			for _, m := range [][2]string{{"int eventId", "EVENT_ID"}, {"int eventVersion", "EVENT_VERSION"}, {"String messageName", "MESSAGE_NAME"}, {"boolean deprecated", "DEPRECATED"}} {
				p.P()
				p.P("@Override")
				p.Block("public "+m[0]+"() {", func() { p.P("return ", m[1], ";") }, "}")
			}
		}
		for _, f := range fields {
			javaAccessors(p, class, f)
		}
		if ev != nil {
			p.P()
			p.P("/** @throws ValidationException when a required field is not set, or a time is out of protobuf's range */")
			p.P("@Override")
			p.Block("public void validate() {", func() {
				p.P("check(", quoted(class, utf16Literal), `, EVENT_ID, EVENT_VERSION, "");`)
			}, "}")
		}
		p.P()
		p.Block("void check(String event, int eventId, int version, String path) {", func() {
			for _, f := range fields {
				javaCheck(c, p, f)
			}
		}, "}")
		p.P()
		p.P("/** Writes the message in the protobuf binary format. */")
		p.Block("void writeTo(Wire.Writer out) {", func() {
			for _, f := range fields {
				javaWriteField(p, f)
			}
		}, "}")
		p.P()
		p.P("/**")
		p.P(" * The message in the protobuf binary format.")
		p.P(" *")
		p.P(" * @throws IllegalArgumentException when a value has no protobuf form (a Timestamp or Duration out of range)")
		p.P(" */")
		if ev != nil {
			p.P("@Override")
		}
		p.Block("public byte[] toByteArray() {", func() {
			p.P("Wire.Writer out = new Wire.Writer();")
			p.P("writeTo(out);")
			p.P("return out.toByteArray();")
		}, "}")
	}, "}")
	return p.Bytes()
}

// javaAccessors prints a field's getter and fluent setter.
func javaAccessors(p *printer, class string, f javaField) {
	attr := "this." + f.name
	var notes []string
	if n := javaValueNote(f.desc); n != "" && !f.isMap {
		notes = append(notes, n)
	}
	if f.isMap {
		if n := javaValueNote(f.desc.MapKey()); n != "" {
			notes = append(notes, "Keys: "+n)
		}
		if n := javaValueNote(f.desc.MapValue()); n != "" {
			notes = append(notes, "Values: "+n)
		}
	}
	if f.presence && f.value.prim != "" || f.presence && f.value.boxed == "String" {
		notes = append(notes, "Null when not set; set, even to "+javaZero(f.value)+", it is sent.")
	}
	if len(f.oneof) > 0 {
		notes = append(notes, "Setting it clears "+strings.Join(f.oneof, ", ")+".")
	}
	accessor := camel(f.slot.name)
	if accessor == "Class" { // getClass() is Object's
		accessor += "_"
	}
	p.P()
	p.Doc(javadocComment, f.docWith(notes...))
	p.Block("public "+f.typ+" get"+accessor+"() {", func() { p.P("return ", attr, ";") }, "}")
	p.P()
	p.Block("public "+class+" set"+accessor+"("+f.typ+" value) {", func() {
		switch {
		case f.isMap:
			p.Pf("%s = new java.util.LinkedHashMap<%s, %s>(value);", attr, f.key.boxed, f.value.boxed)
		case f.list:
			p.Pf("%s = new java.util.ArrayList<%s>(value);", attr, f.value.boxed)
		case !f.presence && f.value.boxed == "String":
			p.Pf(`%s = value == null ? "" : value;`, attr)
		default:
			p.Pf("%s = value;", attr)
		}
		if len(f.oneof) > 0 {
			p.Block("if (value != null) {", func() {
				for _, o := range f.oneof {
					p.Pf("this.%s = null;", javaIdent(lowerCamel(o)))
				}
			}, "}")
		}
		p.P("return this;")
	}, "}")
}

// javaZero is the zero value of a Java value, as documentation says it.
func javaZero(jv javaValue) string {
	switch jv.prim {
	case "boolean":
		return "false"
	case "":
		return `""`
	}
	return "0"
}

// javaCheck prints the validation of one field: required, then the
// required fields of the messages it holds.
func javaCheck(c *catalogue, p *printer, f javaField) {
	attr := "this." + f.name
	if f.required {
		p.Block("if ("+javaUnset(f.slot, f.value, attr)+") {", func() {
			p.P("throw new ValidationException(event, eventId, version, path + ", quoted(f.slot.name, utf16Literal), ");")
		}, "}")
	}
	if t := f.value.write; t == "Timestamp" || t == "Duration" {
		javaCheckTimes(p, f)
		return
	}
	if f.kind != kindMessage || !javaValidates(c, f.value.msg, map[protoreflect.FullName]bool{}) {
		return
	}
	switch {
	case f.isMap:
		p.Block(fmt.Sprintf("for (java.util.Map.Entry<%s, %s> e : %s.entrySet()) {", f.key.boxed, f.value.boxed, attr), func() {
			p.P(`e.getValue().check(event, eventId, version, path + `, quoted(f.slot.name, utf16Literal), ` + "[" + e.getKey() + "].");`)
		}, "}")
	case f.list:
		p.Block("for (int i = 0; i < "+attr+".size(); i++) {", func() {
			p.P(attr, `.get(i).check(event, eventId, version, path + `, quoted(f.slot.name, utf16Literal), ` + "[" + i + "].");`)
		}, "}")
	default:
		p.Block("if ("+attr+" != null) {", func() {
			p.P(attr, ".check(event, eventId, version, path + ", quoted(f.slot.name+".", utf16Literal), ");")
		}, "}")
	}
}

// javaValidates reports whether check() of md has anything to check: a
// required field or a time, in md or in a message below it.
func javaValidates(c *catalogue, md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] || wellKnown(md) {
		return false
	}
	seen[md.FullName()] = true
	for _, f := range c.fields(md) {
		vd := f.desc
		if vd.IsMap() {
			vd = vd.MapValue()
		}
		switch {
		case f.required:
			return true
		case vd.Kind() != protoreflect.MessageKind && vd.Kind() != protoreflect.GroupKind:
		case vd.Message().FullName() == "google.protobuf.Timestamp", vd.Message().FullName() == "google.protobuf.Duration":
			return true
		case javaValidates(c, vd.Message(), seen):
			return true
		}
	}
	return false
}

// javaCheckTimes prints the range check of a Timestamp or Duration field:
// a value protobuf cannot carry fails validate(), before anything is sent.
func javaCheckTimes(p *printer, f javaField) {
	attr, name := "this."+f.name, quoted(f.slot.name, utf16Literal)
	switch {
	case f.isMap:
		p.Block(fmt.Sprintf("for (java.util.Map.Entry<%s, %s> e : %s.entrySet()) {", f.key.boxed, f.value.boxed, attr), func() {
			p.P(`Wire.check(e.getValue(), event, eventId, version, path + `, name, ` + "[" + e.getKey() + "]");`)
		}, "}")
	case f.list:
		p.Block("for (int i = 0; i < "+attr+".size(); i++) {", func() {
			p.P("Wire.check(", attr, `.get(i), event, eventId, version, path + `, name, ` + "[" + i + "]");`)
		}, "}")
	default:
		p.P("Wire.check(", attr, ", event, eventId, version, path + ", name, ");")
	}
}

// javaWriteField prints the encoding of one field.
func javaWriteField(p *printer, f javaField) {
	attr := "this." + f.name
	n := f.desc.Number()
	switch {
	case f.isMap:
		// A map entry is a message of key = 1 and value = 2, both always written.
		p.Block(fmt.Sprintf("for (java.util.Map.Entry<%s, %s> e : %s.entrySet()) {", f.key.boxed, f.value.boxed, attr), func() {
			p.P("Wire.Writer entry = new Wire.Writer();")
			p.P(javaWrite(f.key, "entry", 1, "e.getKey()", f.slot.name))
			p.P(javaWrite(f.value, "entry", 2, "e.getValue()", f.slot.name))
			p.Pf("out.writeBytes(%d, entry.toByteArray());", n)
		}, "}")
	case f.list && f.value.packable:
		p.Block("if (!"+attr+".isEmpty()) {", func() {
			p.P("Wire.Writer packed = new Wire.Writer();")
			p.Block(fmt.Sprintf("for (%s v : %s) {", f.value.boxed, attr), func() {
				if f.value.write == "Enum" {
					p.P("packed.writeEnumNoTag(v.getNumber());")
				} else {
					p.Pf("packed.write%sNoTag(v);", f.value.write)
				}
			}, "}")
			p.Pf("out.writeBytes(%d, packed.toByteArray());", n)
		}, "}")
	case f.list:
		p.Block(fmt.Sprintf("for (%s v : %s) {", f.value.boxed, attr), func() {
			p.P(javaWrite(f.value, "out", n, "v", f.slot.name))
		}, "}")
	default:
		cond := attr + " != null"
		if !f.presence {
			cond = javaWritten(f.slot, f.value, attr)
		}
		p.Block("if ("+cond+") {", func() {
			p.P(javaWrite(f.value, "out", n, attr, f.slot.name))
		}, "}")
	}
}

package langpack

import (
	"cmp"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// pyValue is how the Python pack holds, checks and writes one value of a
// field (one element of a list or map).
type pyValue struct {
	hint  string // type of a held value: "int", "str", "Color", …
	param string // type a setter takes, when wider than hint
	kind  string // the runtime Kind checking it: "_rt.INT32", "_rt.EnumOf(Color)", …
	// encode is its protobuf JSON form, for a held value v; nil when the
	// value is its own JSON form.
	encode func(v string) string
	note   string // what the field's documentation says about the Python form
}

func (v pyValue) paramHint() string { return cmp.Or(v.param, v.hint) }

func (v pyValue) json(x string) string {
	if v.encode == nil {
		return x
	}
	return v.encode(x)
}

// pyValueOf classifies a value of fd (a map's value for a map); typeName
// is the class of an enum or message value.
func pyValueOf(fd protoreflect.FieldDescriptor, typeName string) pyValue {
	call := func(kind string) func(string) string {
		return func(v string) string { return kind + ".encode(" + v + ")" }
	}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return pyValue{hint: "int", kind: "_rt.INT32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return pyValue{hint: "int", kind: "_rt.UINT32"}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return pyValue{hint: "int", kind: "_rt.INT64", encode: func(v string) string { return "str(" + v + ")" }}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return pyValue{hint: "int", kind: "_rt.UINT64", encode: func(v string) string { return "str(" + v + ")" }}
	case protoreflect.FloatKind:
		return pyValue{hint: "float", kind: "_rt.FLOAT", encode: call("_rt.FLOAT")}
	case protoreflect.DoubleKind:
		return pyValue{hint: "float", kind: "_rt.DOUBLE", encode: call("_rt.DOUBLE")}
	case protoreflect.BoolKind:
		return pyValue{hint: "bool", kind: "_rt.BOOL"}
	case protoreflect.StringKind:
		return pyValue{hint: "str", kind: "_rt.STRING"}
	case protoreflect.BytesKind:
		return pyValue{hint: "bytes", kind: "_rt.BYTES", encode: call("_rt.BYTES")}
	case protoreflect.EnumKind:
		return pyValue{hint: typeName, kind: "_rt.EnumOf(" + typeName + ")", encode: func(v string) string { return v + ".name" }}
	}
	switch fd.Message().FullName() {
	case "google.protobuf.Timestamp":
		return pyValue{hint: "str", param: "datetime.datetime | str", kind: "_rt.TIMESTAMP",
			note: "A timezone-aware datetime.datetime (sent in UTC, to the microsecond) or an RFC 3339 string; read back as the RFC 3339 string."}
	case "google.protobuf.Duration":
		return pyValue{hint: "str", param: "datetime.timedelta | str", kind: "_rt.DURATION",
			note: "A datetime.timedelta (to the microsecond) or a string of seconds like \"-1.5s\"; read back as the string."}
	}
	if wellKnown(fd.Message()) {
		return pyValue{hint: "Any", kind: "_rt.ANY", note: "Its protobuf JSON value."}
	}
	return pyValue{hint: typeName, kind: "_rt.MessageOf(" + typeName + ")", encode: func(v string) string { return v + ".to_json()" }}
}

// pyField is a slot with how Python holds its values.
type pyField struct {
	slot
	val pyValue
	key pyValue // map key
}

// hint is the type of the property; param the type its setter takes.
func (f pyField) hint(param bool) string {
	v := f.val.hint
	if param {
		v = f.val.paramHint()
	}
	switch {
	case f.isMap:
		return "dict[" + f.key.hint + ", " + v + "]"
	case f.list:
		return "list[" + v + "]"
	}
	return v + " | None"
}

// pyUnset is the condition under which a required field counts as not set.
func pyUnset(f pyField, attr string) string {
	switch {
	case f.list || f.isMap:
		return "not " + attr
	case f.presence:
		return attr + " is None"
	}
	switch f.val.hint {
	case "str", "bytes", "bool":
		return "not " + attr
	}
	return attr + " is None or " + attr + " == 0"
}

func pythonClass(p *printer, c *catalogue, md protoreflect.MessageDescriptor) {
	class := c.class[md.FullName()]
	ev := c.eventOf[md.FullName()]
	var fields []pyField
	for _, s := range c.slots(md) {
		f := pyField{slot: s}
		vd := s.desc
		if s.isMap {
			vd = s.desc.MapValue()
			f.key = pyValueOf(s.desc.MapKey(), "")
		}
		f.val = pyValueOf(vd, s.typeName)
		fields = append(fields, f)
	}
	base := "_rt.Message"
	if ev != nil {
		base = "_rt.Event"
	}
	p.P()
	p.P()
	p.Block("class "+class+"("+base+"):", func() {
		doc := cmp.Or(c.messageDoc(md), string(md.FullName()))
		if ev != nil {
			doc += fmt.Sprintf("\n\nEvent %d version %d (%s).", ev.ID, ev.Version, ev.MessageName)
			if ev.Deprecated {
				doc += "\n\n.. deprecated:: This event version is deprecated in the catalogue; send a newer version."
			}
		}
		pyDocstring(p, doc)
		p.P()
		if ev != nil {
			p.P("EVENT_ID: ClassVar[int] = ", ev.ID)
			p.P("EVENT_VERSION: ClassVar[int] = ", ev.Version)
			p.P("MESSAGE_NAME: ClassVar[str] = ", quoted(ev.MessageName, pythonLiteral))
			p.P("DEPRECATED: ClassVar[bool] = ", map[bool]string{true: "True", false: "False"}[ev.Deprecated])
			p.P()
		}
		pythonInit(p, ev, fields)
		for _, f := range fields {
			pythonProperty(p, class, f)
		}
		p.P()
		p.Block("def _check(self, event: str, event_id: int, version: int, path: str) -> None:", func() {
			pythonChecks(p, c, fields)
		}, "")
		p.P()
		p.Block("def to_json(self) -> dict[str, Any]:", func() {
			p.P("out: dict[str, Any] = {}")
			for _, f := range fields {
				attr := "self._" + f.name
				key := "out[" + quoted(f.json, pythonLiteral) + "]"
				switch {
				case f.isMap:
					k := "str(k)"
					switch f.key.hint {
					case "str":
						k = "k"
					case "bool":
						k = "_rt.BOOL.key(k)"
					}
					p.Block("if "+attr+":", func() { p.P(key, " = {", k, ": ", f.val.json("v"), " for k, v in ", attr, ".items()}") }, "")
				case f.list:
					each := "list(" + attr + ")"
					if f.val.encode != nil {
						each = "[" + f.val.json("v") + " for v in " + attr + "]"
					}
					p.Block("if "+attr+":", func() { p.P(key, " = ", each) }, "")
				default:
					p.Block("if "+attr+" is not None:", func() { p.P(key, " = ", f.val.json(attr)) }, "")
				}
			}
			p.P("return out")
		}, "")
	}, "")
}

// pythonInit prints the keyword-only constructor.
func pythonInit(p *printer, ev *eventType, fields []pyField) {
	var args strings.Builder
	args.WriteString("def __init__(self")
	if len(fields) > 0 {
		args.WriteString(", *")
		for _, f := range fields {
			fmt.Fprintf(&args, ", %s: %s = None", pyName(f.name), strings.TrimSuffix(f.hint(true), " | None")+" | None")
		}
	}
	args.WriteString(") -> None:")
	p.Block(args.String(), func() {
		if ev != nil && ev.Deprecated {
			p.P("warnings.warn(", quoted(ev.MessageName+" is deprecated in the catalogue; send a newer version", pythonLiteral), ", DeprecationWarning, stacklevel=2)")
		}
		for _, f := range fields {
			init := "None"
			if f.isMap {
				init = "{}"
			} else if f.list {
				init = "[]"
			}
			p.P("self._", f.name, ": ", f.hint(false), " = ", init)
		}
		for _, f := range fields {
			p.Block("if "+pyName(f.name)+" is not None:", func() { p.P("self.", pyName(f.name), " = ", pyName(f.name)) }, "")
		}
		if len(fields) == 0 {
			p.P("pass")
		}
	}, "")
}

// pythonProperty prints the getter and the checking setter of one field.
func pythonProperty(p *printer, class string, f pyField) {
	name := pyName(f.name)
	where := quoted(class+"."+f.name, pythonLiteral)
	p.P()
	p.P("@property")
	p.Block("def "+name+"(self) -> "+f.hint(false)+":", func() {
		if doc := f.docWith(f.val.note); doc != "" {
			pyDocstring(p, doc)
		}
		p.P("return self._", f.name)
	}, "")
	p.P()
	p.P("@", name, ".setter")
	p.Block("def "+name+"(self, value: "+strings.TrimSuffix(f.hint(true), " | None")+" | None) -> None:", func() {
		switch {
		case f.isMap:
			p.P("self._", f.name, " = {} if value is None else _rt.check_map(", where, ", value, ", f.key.kind, ", ", f.val.kind, ")")
		case f.list:
			p.P("self._", f.name, " = [] if value is None else _rt.check_list(", where, ", value, ", f.val.kind, ")")
		default:
			p.P("self._", f.name, " = None if value is None else ", f.val.kind, ".check(", where, ", value)")
			if len(f.oneof) > 0 {
				p.Block("if value is not None:", func() {
					for _, o := range f.oneof {
						p.P("self._", o, " = None")
					}
				}, "")
			}
		}
	}, "")
}

// pythonChecks prints the body of _check: required fields, then the
// messages below that have required fields themselves.
func pythonChecks(p *printer, c *catalogue, fields []pyField) {
	n := 0
	for _, f := range fields {
		attr := "self._" + f.name
		if f.required {
			p.Block("if "+pyUnset(f, attr)+":", func() {
				p.P("raise _rt.ValidationError(event, event_id, version, path + ", quoted(f.name, pythonLiteral), ")")
			}, "")
			n++
		}
		if !c.checksNested(f.slot) {
			continue
		}
		n++
		switch {
		case f.isMap:
			p.Block("for k, v in "+attr+".items():", func() {
				p.P("v._check(event, event_id, version, f\"{path}", f.name, "[{k}].\")")
			}, "")
		case f.list:
			p.Block("for i, v in enumerate("+attr+"):", func() {
				p.P("v._check(event, event_id, version, f\"{path}", f.name, "[{i}].\")")
			}, "")
		default:
			p.Block("if "+attr+" is not None:", func() {
				p.P(attr, "._check(event, event_id, version, path + ", quoted(f.name+".", pythonLiteral), ")")
			}, "")
		}
	}
	if n == 0 {
		p.P("return")
	}
}

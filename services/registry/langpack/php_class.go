package langpack

import (
	"cmp"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// phpField is a slot with how PHP holds its values.
type phpField struct {
	slot
	val      phpValue
	keyCheck string // map key: the Json method checking it
	keyType  string // map key: the PHP type it is held as
	prop     string // property name: "itemId"
}

// phpNullable is typ accepting null as well.
func phpNullable(typ string) string {
	switch {
	case typ == "mixed":
		return typ
	case strings.Contains(typ, "|"):
		return typ + "|null"
	}
	return "?" + typ
}

func phpFields(c *catalogue, md protoreflect.MessageDescriptor) []phpField {
	var out []phpField
	for _, s := range c.slots(md) {
		f := phpField{slot: s, prop: lowerCamel(s.name)}
		vd := s.desc
		if s.isMap {
			vd = s.desc.MapValue()
			f.keyCheck, f.keyType = phpKey(s.desc.MapKey())
		}
		f.val = phpValueOf(vd, s.typeName)
		out = append(out, f)
	}
	return out
}

func phpClass(c *catalogue, md protoreflect.MessageDescriptor) []byte {
	class := c.class[md.FullName()]
	ev := c.eventOf[md.FullName()]
	fields := phpFields(c, md)
	p := phpFile(c)
	doc := cmp.Or(c.messageDoc(md), string(md.FullName()))
	var tags []string
	if ev != nil {
		doc += fmt.Sprintf("\n\nEvent %d version %d (%s).", ev.ID, ev.Version, ev.MessageName)
		if ev.Deprecated {
			tags = append(tags, "@deprecated This event version is deprecated in the catalogue; send a newer version.")
		}
	}
	p.Doc(phpdocComment, doc, tags...)
	open := "final class " + class
	if ev != nil {
		open += " implements Event"
	}
	p.P(open)
	p.Block("{", func() {
		if ev != nil {
			p.P("public const EVENT_ID = ", ev.ID, ";")
			p.P("public const EVENT_VERSION = ", ev.Version, ";")
			p.P("public const MESSAGE_NAME = ", singleQuoted(ev.MessageName), ";")
			p.P("public const DEPRECATED = ", ev.Deprecated, ";")
			p.P()
		}
		for _, f := range fields {
			switch {
			case f.isMap:
				p.P("/** @var array<", f.keyType, ", ", f.val.typ, "> */")
				p.P("private array $", f.prop, " = [];")
			case f.list:
				p.P("/** @var list<", f.val.typ, "> */")
				p.P("private array $", f.prop, " = [];")
			default:
				p.P("private ", phpNullable(f.val.typ), " $", f.prop, " = null;")
			}
		}
		if ev != nil {
			for _, m := range [][3]string{{"eventId", "int", "EVENT_ID"}, {"eventVersion", "int", "EVENT_VERSION"}, {"messageName", "string", "MESSAGE_NAME"}, {"deprecated", "bool", "DEPRECATED"}} {
				p.P()
				p.P("public function ", m[0], "(): ", m[1])
				p.Block("{", func() { p.P("return self::", m[2], ";") }, "}")
			}
		}
		for _, f := range fields {
			phpAccessors(p, class, f)
		}
		if ev != nil {
			p.P()
			p.P("/** @throws ValidationError when a required field is not set */")
			p.P("public function validate(): void")
			p.Block("{", func() {
				p.P("$this->check(", singleQuoted(class), ", self::EVENT_ID, self::EVENT_VERSION, '');")
			}, "}")
		}
		p.P()
		p.P("/** @internal */")
		p.P("public function check(string $event, int $eventId, int $version, string $path): void")
		p.Block("{", func() { phpChecks(c, p, fields) }, "}")
		p.P()
		p.P("/** @return array<string, mixed> the protobuf JSON form of the message */")
		p.P("public function toJson(): array")
		p.Block("{", func() { phpToJSON(p, fields) }, "}")
	}, "}")
	return p.Bytes()
}

// phpAccessors prints the getter and setter of one field; setters check
// every value (and normalise it: map<bool, …> keys to "true"/"false", a
// \DateTimeInterface to its RFC 3339 string).
func phpAccessors(p *printer, class string, f phpField) {
	attr := "$this->" + f.prop
	getter, setter := "get"+camel(f.name), "set"+camel(f.name)
	where := singleQuoted(class + "::" + setter + "()")
	doc := f.docWith(f.val.note)
	p.P()
	if f.isMap || f.list {
		kind := "list<" + f.val.typ + ">"
		if f.isMap {
			kind = "array<" + f.keyType + ", " + f.val.typ + ">"
		}
		p.Doc(phpdocComment, doc, "@return "+kind)
		p.P("public function ", getter, "(): array")
		p.Block("{", func() { p.P("return ", attr, ";") }, "}")
		p.P()
		p.Doc(phpdocComment, "", "@param "+strings.Replace(kind, "list<", "array<", 1)+" $value")
		p.P("public function ", setter, "(array $value): self")
		p.Block("{", func() {
			p.P("$checked = [];")
			if f.isMap {
				p.Block("foreach ($value as $k => $v) {", func() {
					keyWhere := singleQuoted(class + "::" + setter + "() key")
					p.P("$checked[", phpCheck(phpValue{check: f.keyCheck}, keyWhere, "$k"), "] = ", phpCheck(f.val, where, "$v"), ";")
				}, "}")
			} else {
				p.Block("foreach ($value as $v) {", func() {
					p.P("$checked[] = ", phpCheck(f.val, where, "$v"), ";")
				}, "}")
			}
			p.P(attr, " = $checked;")
			p.P("return $this;")
		}, "}")
		return
	}
	p.Doc(phpdocComment, doc)
	p.P("public function ", getter, "(): ", phpNullable(f.val.typ))
	p.Block("{", func() { p.P("return ", attr, ";") }, "}")
	p.P()
	p.P("public function ", setter, "(", phpNullable(f.val.paramType()), " $value): self")
	p.Block("{", func() {
		if f.val.typed {
			p.P(attr, " = $value;")
		} else {
			p.P(attr, " = $value === null ? null : ", phpCheck(f.val, where, "$value"), ";")
		}
		if len(f.oneof) > 0 {
			p.Block("if ($value !== null) {", func() {
				for _, o := range f.oneof {
					p.P("$this->", lowerCamel(o), " = null;")
				}
			}, "}")
		}
		p.P("return $this;")
	}, "}")
}

// phpChecks prints the body of check(): required fields, then the
// messages below that have required fields themselves.
func phpChecks(c *catalogue, p *printer, fields []phpField) {
	for _, f := range fields {
		attr := "$this->" + f.prop
		if f.required {
			p.Block("if ("+phpUnset(f.slot, f.val, attr)+") {", func() {
				p.P("throw new ValidationError($event, $eventId, $version, $path . ", singleQuoted(f.name), ");")
			}, "}")
		}
		if !c.checksNested(f.slot) {
			continue
		}
		if f.isMap || f.list {
			p.Block("foreach ("+attr+" as $k => $v) {", func() {
				p.P("$v->check($event, $eventId, $version, $path . ", singleQuoted(f.name), " . '[' . $k . '].');")
			}, "}")
		} else {
			p.P(attr, "?->check($event, $eventId, $version, $path . ", singleQuoted(f.name+"."), ");")
		}
	}
}

// phpToJSON prints the body of toJson(): every set field in its protobuf
// JSON form.
func phpToJSON(p *printer, fields []phpField) {
	p.P("$out = [];")
	for _, f := range fields {
		attr := "$this->" + f.prop
		key := "$out[" + singleQuoted(f.json) + "]"
		each := attr
		if enc := f.val.encode("$v"); enc != "$v" {
			each = "array_map(fn ($v) => " + enc + ", " + attr + ")"
		}
		switch {
		case f.isMap:
			// (object): a map keyed 0, 1, … is still a JSON object.
			p.Block("if (count("+attr+") > 0) {", func() { p.P(key, " = (object) ", each, ";") }, "}")
		case f.list:
			p.Block("if (count("+attr+") > 0) {", func() { p.P(key, " = ", each, ";") }, "}")
		default:
			p.Block("if ("+attr+" !== null) {", func() { p.P(key, " = ", f.val.encode(attr), ";") }, "}")
		}
	}
	p.P("return $out;")
}

package schema

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// DiffMessages describes, one human line each, how the shape of new differs
// from the shape of old: fields added, removed, renamed, renumbered, or with a
// changed type, cardinality, presence, JSON name or packing; enum values added,
// removed or renamed; nested types added or removed. Changes inside a message
// or enum that both versions reference (such as the shared Context) are
// described too, each line prefixed with that type's full name:
//
//	field 4 "status" renamed to "state"
//	clickstream.events.v1.Context: field 9 "locale" added (string)
//
// It covers what Fingerprint covers, so it returns nothing exactly when both
// have the same fingerprint (for the same message name).
func DiffMessages(old, new protoreflect.MessageDescriptor) []string {
	d := differ{seen: map[[2]protoreflect.FullName]bool{}}
	if old.FullName() != new.FullName() {
		d.addf("", "message renamed from %s to %s", old.FullName(), new.FullName())
	}
	d.messages("", old, new)
	return d.lines
}

type differ struct {
	lines []string
	seen  map[[2]protoreflect.FullName]bool // pairs of types already compared
}

func (d *differ) addf(prefix, format string, args ...any) {
	d.lines = append(d.lines, prefix+fmt.Sprintf(format, args...))
}

// visit reports whether the pair old, new is compared for the first time.
func (d *differ) visit(old, new protoreflect.Descriptor) bool {
	key := [2]protoreflect.FullName{old.FullName(), new.FullName()}
	if d.seen[key] {
		return false
	}
	d.seen[key] = true
	return true
}

// messages compares the fields and nested types of old and new; prefix is ""
// for the compared message itself and "<full name>: " for types it references.
func (d *differ) messages(prefix string, old, new protoreflect.MessageDescriptor) {
	if !d.visit(old, new) {
		return
	}
	var related [][2]protoreflect.Descriptor // referenced types to compare after this message
	oldFields, newFields := old.Fields(), new.Fields()
	for _, of := range fieldsByNumber(old) {
		nf := newFields.ByNumber(of.Number())
		if nf == nil {
			if moved := newFields.ByName(of.Name()); moved != nil && oldFields.ByNumber(moved.Number()) == nil {
				d.addf(prefix, "field %q renumbered from %d to %d", of.Name(), of.Number(), moved.Number())
				nf = moved
			} else {
				d.addf(prefix, "field %d %q removed", of.Number(), of.Name())
				continue
			}
		}
		d.field(prefix, of, nf)
		switch {
		case of.Message() != nil && nf.Message() != nil && of.Message().FullName() == nf.Message().FullName():
			related = append(related, [2]protoreflect.Descriptor{of.Message(), nf.Message()})
		case of.Enum() != nil && nf.Enum() != nil && of.Enum().FullName() == nf.Enum().FullName():
			related = append(related, [2]protoreflect.Descriptor{of.Enum(), nf.Enum()})
		}
	}
	for _, nf := range fieldsByNumber(new) {
		if oldFields.ByNumber(nf.Number()) != nil {
			continue
		}
		if of := oldFields.ByName(nf.Name()); of != nil && newFields.ByNumber(of.Number()) == nil {
			continue // reported as renumbered
		}
		d.addf(prefix, "field %d %q added (%s)", nf.Number(), nf.Name(), fieldType(nf))
	}

	// Nested declarations, by name.
	for _, name := range nestedNames(old, new) {
		om, nm := old.Messages().ByName(name), new.Messages().ByName(name)
		oe, ne := old.Enums().ByName(name), new.Enums().ByName(name)
		switch {
		case om != nil && nm != nil:
			related = append(related, [2]protoreflect.Descriptor{om, nm})
		case oe != nil && ne != nil:
			related = append(related, [2]protoreflect.Descriptor{oe, ne})
		case (om != nil || oe != nil) && nm == nil && ne == nil:
			if om == nil || !om.IsMapEntry() { // a map field's entry goes with the field
				d.addf(prefix, "nested type %s removed", name)
			}
		case (nm != nil || ne != nil) && om == nil && oe == nil:
			if nm == nil || !nm.IsMapEntry() {
				d.addf(prefix, "nested type %s added", name)
			}
		default:
			d.addf(prefix, "nested type %s changed between message and enum", name)
		}
	}

	for _, pair := range related {
		switch o := pair[0].(type) {
		case protoreflect.MessageDescriptor:
			n := pair[1].(protoreflect.MessageDescriptor)
			if o.IsMapEntry() {
				continue // compared through the map field's type
			}
			d.messages(string(n.FullName())+": ", o, n)
		case protoreflect.EnumDescriptor:
			d.enums(string(pair[1].FullName())+": ", o, pair[1].(protoreflect.EnumDescriptor))
		}
	}
}

// field compares two fields with the same number (or the same name, when
// renumbered).
func (d *differ) field(prefix string, of, nf protoreflect.FieldDescriptor) {
	label := fmt.Sprintf("field %d %q", of.Number(), of.Name())
	if of.Name() != nf.Name() {
		d.addf(prefix, "%s renamed to %q", label, nf.Name())
	}
	if of.JSONName() != nf.JSONName() && (of.Name() == nf.Name() || nf.JSONName() != jsonCamelCase(string(nf.Name()))) {
		d.addf(prefix, "%s JSON name changed from %q to %q", label, of.JSONName(), nf.JSONName())
	}
	if ot, nt := fieldType(of), fieldType(nf); ot != nt { // the type includes the label
		d.addf(prefix, "%s type changed from %s to %s", label, ot, nt)
	}
	if op, np := presence(of), presence(nf); op != np {
		d.addf(prefix, "%s presence changed from %s to %s", label, op, np)
	}
	if of.IsPacked() != nf.IsPacked() && of.IsList() && nf.IsList() {
		d.addf(prefix, "%s encoding changed from %s to %s", label, packing(of), packing(nf))
	}
}

// enums compares the values of two enums with the same full name.
func (d *differ) enums(prefix string, old, new protoreflect.EnumDescriptor) {
	if !d.visit(old, new) {
		return
	}
	oldNames, newNames := valueNames(old), valueNames(new)
	var numbers []protoreflect.EnumNumber
	for n := range oldNames {
		numbers = append(numbers, n)
	}
	for n := range newNames {
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)
	for _, n := range slices.Compact(numbers) {
		on, nn := oldNames[n], newNames[n]
		if len(on) == 1 && len(nn) == 1 && on[0] != nn[0] {
			d.addf(prefix, "value %d %s renamed to %s", n, on[0], nn[0])
			continue
		}
		for _, name := range on {
			if !slices.Contains(nn, name) {
				d.addf(prefix, "value %d %s removed", n, name)
			}
		}
		for _, name := range nn {
			if !slices.Contains(on, name) {
				d.addf(prefix, "value %d %s added", n, name)
			}
		}
	}
}

// valueNames returns the names of ed's values by number (more than one for aliases).
func valueNames(ed protoreflect.EnumDescriptor) map[protoreflect.EnumNumber][]protoreflect.Name {
	names := map[protoreflect.EnumNumber][]protoreflect.Name{}
	for _, v := range valuesByNumber(ed) {
		names[v.Number()] = append(names[v.Number()], v.Name())
	}
	return names
}

// fieldType describes a field's type with its cardinality: "string",
// "repeated int64", "map<string, string>", "enum pkg.Status", "message pkg.Money".
func fieldType(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return fmt.Sprintf("map<%s, %s>", fieldType(f.MapKey()), fieldType(f.MapValue()))
	}
	var t string
	switch {
	case f.Message() != nil:
		t = fmt.Sprintf("%s %s", f.Kind(), f.Message().FullName())
	case f.Enum() != nil:
		t = fmt.Sprintf("enum %s", f.Enum().FullName())
	default:
		t = f.Kind().String()
	}
	switch f.Cardinality() {
	case protoreflect.Repeated:
		return "repeated " + t
	case protoreflect.Required:
		return "required " + t
	}
	return t
}

// presence describes how a field tracks whether it is set.
func presence(f protoreflect.FieldDescriptor) string {
	switch o := f.ContainingOneof(); {
	case o != nil && !o.IsSynthetic():
		return fmt.Sprintf("oneof %s", o.Name())
	case f.HasOptionalKeyword():
		return "optional (explicit)"
	case f.HasPresence():
		return "explicit"
	}
	return "implicit"
}

func packing(f protoreflect.FieldDescriptor) string {
	if f.IsPacked() {
		return "packed"
	}
	return "unpacked"
}

// nestedNames returns the names of the messages and enums declared in old or
// new, sorted.
func nestedNames(old, new protoreflect.MessageDescriptor) []protoreflect.Name {
	var names []protoreflect.Name
	for _, md := range []protoreflect.MessageDescriptor{old, new} {
		for i := range md.Messages().Len() {
			names = append(names, md.Messages().Get(i).Name())
		}
		for i := range md.Enums().Len() {
			names = append(names, md.Enums().Get(i).Name())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// jsonCamelCase is protoc's default JSON name of a field.
func jsonCamelCase(name string) string {
	var b strings.Builder
	upper := false
	for i := range len(name) {
		c := name[i]
		switch {
		case c == '_':
			upper = true
		case upper && 'a' <= c && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
			upper = false
		default:
			b.WriteByte(c)
			upper = false
		}
	}
	return b.String()
}

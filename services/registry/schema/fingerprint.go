package schema

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// fingerprintScheme opens the canonical text, so that a future change of what
// the fingerprint covers cannot collide with today's fingerprints.
const fingerprintScheme = "clickstream-fingerprint 1"

// Fingerprint returns "sha256:<hex>" of a canonical text of the wire and JSON
// shape of md: its full name and, for each field in number order, the number,
// name, JSON name, kind, cardinality, presence (explicit or implicit, the
// proto3 optional keyword, the oneof it belongs to), packed-ness and map-ness,
// and the full name of its message or enum type. Every message and enum md
// reaches (through fields and nested declarations, transitively, each once)
// is part of the text too: enums with their value names and numbers.
//
// Comments, options (event and field options are governance metadata:
// descriptions, required, pii) and the file the message lives in are not part
// of it. So renaming a field, changing its type or number, or changing a
// shared message that the event references (Context) changes the fingerprint;
// editing a comment or a description does not.
func Fingerprint(md protoreflect.MessageDescriptor) string {
	sum := sha256.Sum256([]byte(shapeText(md)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// shapeText is the canonical text Fingerprint hashes: md first, then every
// other type it reaches sorted by full name.
func shapeText(md protoreflect.MessageDescriptor) string {
	reached := map[protoreflect.FullName]protoreflect.Descriptor{}
	collectTypes(md, reached)
	delete(reached, md.FullName())
	others := make([]protoreflect.Descriptor, 0, len(reached))
	for _, d := range reached {
		others = append(others, d)
	}
	slices.SortFunc(others, func(a, b protoreflect.Descriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})

	var b strings.Builder
	b.WriteString(fingerprintScheme + "\n")
	writeMessageShape(&b, md)
	for _, d := range others {
		switch d := d.(type) {
		case protoreflect.MessageDescriptor:
			writeMessageShape(&b, d)
		case protoreflect.EnumDescriptor:
			writeEnumShape(&b, d)
		}
	}
	return b.String()
}

// collectTypes adds md and every message and enum it reaches to reached.
func collectTypes(md protoreflect.MessageDescriptor, reached map[protoreflect.FullName]protoreflect.Descriptor) {
	if _, ok := reached[md.FullName()]; ok {
		return // seen, or a cycle
	}
	reached[md.FullName()] = md
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Message() != nil {
			collectTypes(f.Message(), reached)
		}
		if f.Enum() != nil {
			reached[f.Enum().FullName()] = f.Enum()
		}
	}
	nested := md.Messages()
	for i := range nested.Len() {
		collectTypes(nested.Get(i), reached)
	}
	enums := md.Enums()
	for i := range enums.Len() {
		reached[enums.Get(i).FullName()] = enums.Get(i)
	}
}

func writeMessageShape(b *strings.Builder, md protoreflect.MessageDescriptor) {
	fmt.Fprintf(b, "message %s\n", md.FullName())
	for _, f := range fieldsByNumber(md) {
		fmt.Fprintf(b, "  field %d %s json=%s %s %s", f.Number(), f.Name(), f.JSONName(), f.Cardinality(), f.Kind())
		switch {
		case f.Message() != nil:
			fmt.Fprintf(b, " type=%s", f.Message().FullName())
		case f.Enum() != nil:
			fmt.Fprintf(b, " type=%s", f.Enum().FullName())
		}
		if f.HasPresence() {
			b.WriteString(" presence=explicit")
		} else {
			b.WriteString(" presence=implicit")
		}
		if f.HasOptionalKeyword() {
			b.WriteString(" optional-keyword")
		}
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			fmt.Fprintf(b, " oneof=%s", o.Name())
		}
		if f.IsPacked() {
			b.WriteString(" packed")
		}
		if f.IsMap() {
			b.WriteString(" map")
		}
		b.WriteString("\n")
	}
}

func writeEnumShape(b *strings.Builder, ed protoreflect.EnumDescriptor) {
	fmt.Fprintf(b, "enum %s\n", ed.FullName())
	for _, v := range valuesByNumber(ed) {
		fmt.Fprintf(b, "  value %d %s\n", v.Number(), v.Name())
	}
}

// fieldsByNumber returns md's fields in field-number order.
func fieldsByNumber(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	fields := md.Fields()
	out := make([]protoreflect.FieldDescriptor, fields.Len())
	for i := range out {
		out[i] = fields.Get(i)
	}
	slices.SortFunc(out, func(a, b protoreflect.FieldDescriptor) int { return cmp.Compare(a.Number(), b.Number()) })
	return out
}

// valuesByNumber returns ed's values by number, aliases by name.
func valuesByNumber(ed protoreflect.EnumDescriptor) []protoreflect.EnumValueDescriptor {
	values := ed.Values()
	out := make([]protoreflect.EnumValueDescriptor, values.Len())
	for i := range out {
		out[i] = values.Get(i)
	}
	slices.SortFunc(out, func(a, b protoreflect.EnumValueDescriptor) int {
		return cmp.Or(cmp.Compare(a.Number(), b.Number()), strings.Compare(string(a.Name()), string(b.Name())))
	})
	return out
}

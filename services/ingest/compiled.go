package ingest

import (
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// An event version compiled into the binary (the starter catalogue's
// generated Go) is decoded from JSON and encoded with its generated code,
// which needs no reflection per field, rather than as a dynamic message:
// the JSON form's hot path. The live catalogue's descriptor is what
// counts: the generated type serves only when its shape is the same in
// every respect that decoding and encoding see (sameShape), which a
// published version's frozen fingerprint makes the rule; a catalogue that
// defines the name otherwise is decoded dynamically as always.

// compiledType is the generated type of md when the binary has one of the
// same shape; nil otherwise.
func compiledType(md protoreflect.MessageDescriptor) protoreflect.MessageType {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil || !sameShape(md, mt.Descriptor(), map[protoreflect.FullName]bool{}) {
		return nil
	}
	return mt
}

// sameShape reports whether two message descriptors decode and encode
// alike in binary and JSON: the same fields (numbers, names, JSON names,
// kinds, cardinality, presence, packing, oneofs, defaults), with nested
// messages and enums alike, recursively. seen holds the messages under
// comparison (recursive types).
func sameShape(a, b protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if a.FullName() != b.FullName() || a.IsMapEntry() != b.IsMapEntry() {
		return false
	}
	if seen[a.FullName()] {
		return true
	}
	seen[a.FullName()] = true
	af, bf := a.Fields(), b.Fields()
	if af.Len() != bf.Len() || a.Oneofs().Len() != b.Oneofs().Len() {
		return false
	}
	for i := range af.Len() {
		fa := af.Get(i)
		fb := bf.ByNumber(fa.Number())
		if fb == nil || !sameField(fa, fb, seen) {
			return false
		}
	}
	return true
}

func sameField(a, b protoreflect.FieldDescriptor, seen map[protoreflect.FullName]bool) bool {
	if a.Name() != b.Name() || a.JSONName() != b.JSONName() || a.Kind() != b.Kind() ||
		a.Cardinality() != b.Cardinality() || a.HasPresence() != b.HasPresence() ||
		a.IsPacked() != b.IsPacked() || a.IsMap() != b.IsMap() || a.HasDefault() != b.HasDefault() {
		return false
	}
	if a.HasDefault() && !a.Default().Equal(b.Default()) {
		return false
	}
	oa, ob := a.ContainingOneof(), b.ContainingOneof()
	if (oa == nil) != (ob == nil) || oa != nil && oa.Name() != ob.Name() {
		return false
	}
	switch {
	case a.Message() != nil:
		return b.Message() != nil && sameShape(a.Message(), b.Message(), seen)
	case a.Enum() != nil:
		return b.Enum() != nil && sameEnum(a.Enum(), b.Enum())
	}
	return true
}

func sameEnum(a, b protoreflect.EnumDescriptor) bool {
	if a.FullName() != b.FullName() || a.IsClosed() != b.IsClosed() {
		return false
	}
	av, bv := a.Values(), b.Values()
	if av.Len() != bv.Len() {
		return false
	}
	for i := range av.Len() {
		va, vb := av.Get(i), bv.Get(i)
		if va.Name() != vb.Name() || va.Number() != vb.Number() {
			return false
		}
	}
	return true
}

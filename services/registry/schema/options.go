package schema

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
)

// Custom options reach us in several forms: as unknown fields (protocompile
// interprets options against descriptor.proto without knowing our Go types),
// as dynamic messages, or as generated messages (descriptors built from a
// FileDescriptorSet unmarshalled with the global registry). Re-marshalling the
// options message and unmarshalling it into descriptorpb with a resolver that
// knows exactly our extensions gives the generated types in every case.

// eventOption returns the (clickstream.options.v1.event) option of md, or nil.
func eventOption(md protoreflect.MessageDescriptor) *optionsv1.EventOptions {
	var opts descriptorpb.MessageOptions
	if !reparseOptions(md.Options(), &opts) || !proto.HasExtension(&opts, optionsv1.E_Event) {
		return nil
	}
	return proto.GetExtension(&opts, optionsv1.E_Event).(*optionsv1.EventOptions)
}

// fieldOption returns the (clickstream.options.v1.field) option of fd, or nil.
func fieldOption(fd protoreflect.FieldDescriptor) *optionsv1.FieldOptions {
	var opts descriptorpb.FieldOptions
	if !reparseOptions(fd.Options(), &opts) || !proto.HasExtension(&opts, optionsv1.E_Field) {
		return nil
	}
	return proto.GetExtension(&opts, optionsv1.E_Field).(*optionsv1.FieldOptions)
}

// reparseOptions copies the options message src into dst through the wire
// format, resolving our extensions to their generated types. It reports
// whether src had anything to copy.
func reparseOptions(src proto.Message, dst proto.Message) bool {
	if src == nil || !src.ProtoReflect().IsValid() {
		return false
	}
	b, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(src)
	if err != nil || len(b) == 0 {
		return false
	}
	err = proto.UnmarshalOptions{AllowPartial: true, Resolver: optionResolver{}}.Unmarshal(b, dst)
	return err == nil
}

// optionResolver resolves the clickstream custom options and nothing else.
type optionResolver struct{}

var _ protoregistry.ExtensionTypeResolver = optionResolver{}

func (optionResolver) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	for _, xt := range []protoreflect.ExtensionType{optionsv1.E_Event, optionsv1.E_Field} {
		if xt.TypeDescriptor().FullName() == name {
			return xt, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (optionResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	for _, xt := range []protoreflect.ExtensionType{optionsv1.E_Event, optionsv1.E_Field} {
		xd := xt.TypeDescriptor()
		if xd.ContainingMessage().FullName() == message && xd.Number() == field {
			return xt, nil
		}
	}
	return nil, protoregistry.NotFound
}

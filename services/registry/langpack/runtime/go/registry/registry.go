// Package registry holds the protobuf descriptors and types of this
// langpack's generated code. They are registered here, not in protobuf's
// global registry: every environment's pack and the project's Go client
// declare the same proto files and message names (with the messages each
// may send), and protobuf's global registry panics when a program registers
// a file or a name twice. With a registry per pack, any number of packs and
// the client link into one program.
//
// A pack's messages marshal, unmarshal and travel in a google.protobuf.Any
// as usual. Where a library looks types up by name (protojson and prototext
// reading an Any, anypb.UnmarshalNew), pass Types as the resolver:
//
//	protojson.UnmarshalOptions{Resolver: registry.Types}
package registry

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

var (
	// Files are the pack's proto files, then protobuf's own
	// (google/protobuf/*), which the pack imports rather than copies.
	Files = &FileRegistry{own: new(protoregistry.Files)}
	// Types are the pack's messages, enums and extensions, then the
	// global registry's types (the well-known types among them).
	Types = &TypeRegistry{own: new(protoregistry.Types)}
)

// wellKnown reports whether a file or name is protobuf's own, which the
// pack resolves from the global registry.
func wellKnown(name string) bool {
	return strings.HasPrefix(name, "google/protobuf/") || strings.HasPrefix(name, "google.protobuf.")
}

// FileRegistry resolves the pack's files, and protobuf's own from the
// global registry. The generated code registers its files here.
type FileRegistry struct{ own *protoregistry.Files }

// FindFileByPath looks up a file by its path, e.g. "clickstream/ingest/v1/ingest.proto".
func (r *FileRegistry) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	fd, err := r.own.FindFileByPath(path)
	if err != nil && wellKnown(path) {
		return protoregistry.GlobalFiles.FindFileByPath(path)
	}
	return fd, err
}

// FindDescriptorByName looks up a declaration by its full name.
func (r *FileRegistry) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := r.own.FindDescriptorByName(name)
	if err != nil && wellKnown(string(name)) {
		return protoregistry.GlobalFiles.FindDescriptorByName(name)
	}
	return d, err
}

// RegisterFile registers a file of the pack.
func (r *FileRegistry) RegisterFile(fd protoreflect.FileDescriptor) error {
	return r.own.RegisterFile(fd)
}

// RangeFiles calls f for each of the pack's files until f returns false.
func (r *FileRegistry) RangeFiles(f func(protoreflect.FileDescriptor) bool) {
	r.own.RangeFiles(f)
}

// TypeRegistry resolves the pack's types first, then the global
// registry's. The generated code registers its types here.
type TypeRegistry struct{ own *protoregistry.Types }

// RegisterMessage registers a message type of the pack.
func (r *TypeRegistry) RegisterMessage(mt protoreflect.MessageType) error {
	return r.own.RegisterMessage(mt)
}

// RegisterEnum registers an enum type of the pack.
func (r *TypeRegistry) RegisterEnum(et protoreflect.EnumType) error {
	return r.own.RegisterEnum(et)
}

// RegisterExtension registers an extension type of the pack.
func (r *TypeRegistry) RegisterExtension(xt protoreflect.ExtensionType) error {
	return r.own.RegisterExtension(xt)
}

// FindMessageByName looks up a message type by its full name.
func (r *TypeRegistry) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := r.own.FindMessageByName(name); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

// FindMessageByURL looks up a message type by a google.protobuf.Any type URL.
func (r *TypeRegistry) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if mt, err := r.own.FindMessageByURL(url); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(url)
}

// FindEnumByName looks up an enum type by its full name.
func (r *TypeRegistry) FindEnumByName(name protoreflect.FullName) (protoreflect.EnumType, error) {
	if et, err := r.own.FindEnumByName(name); err == nil {
		return et, nil
	}
	return protoregistry.GlobalTypes.FindEnumByName(name)
}

// FindExtensionByName looks up an extension by its full name.
func (r *TypeRegistry) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if xt, err := r.own.FindExtensionByName(name); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByName(name)
}

// FindExtensionByNumber looks up an extension of a message by its field number.
func (r *TypeRegistry) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if xt, err := r.own.FindExtensionByNumber(message, field); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}

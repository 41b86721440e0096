// Package sender is the Go langpack's runtime as a real package, so that the
// Go toolchain builds, vets and tests it here: sender.go and checks.go are
// copied into every pack's root package with the package clause ("package
// sender") made the pack's and, in sender.go, the ingest import path (this
// module's gen/go/clickstream/ingest/v1) made the pack's own copy; see
// goRuntimeFiles in ../../golang_sender.go. registry/registry.go is copied
// as the pack's registry package unchanged.
//
// This file is not copied: it stands in for the declarations every pack
// generates in its events.go (Environment, CatalogueRevision, Lookup), so
// that the runtime compiles here as it does in a pack.
package sender

import "google.golang.org/protobuf/proto"

// Environment is the environment a pack sends for.
const Environment = "runtime"

// CatalogueRevision is the catalogue revision a pack was generated from.
const CatalogueRevision uint64 = 0

// Lookup returns the event version m is, if the pack may send it. Here every
// message is an event without required fields.
func Lookup(m proto.Message) (EventInfo, bool) {
	if m == nil {
		return EventInfo{}, false
	}
	name := string(m.ProtoReflect().Descriptor().FullName())
	return EventInfo{MessageName: name, validate: func(proto.Message) error { return nil }}, true
}

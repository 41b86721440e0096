package ingest

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
)

// EventType is one registered event version as ingest validates it.
type EventType struct {
	ID         uint32
	Version    uint32
	Name       string // without the version suffix: "PhotoStatusChanged"
	Descriptor protoreflect.MessageDescriptor
}

// FullName is the full message name, e.g. "clickstream.events.v1.ItemViewV2";
// empty for the zero EventType.
func (t EventType) FullName() string {
	if t.Descriptor == nil {
		return ""
	}
	return string(t.Descriptor.FullName())
}

type idVersion struct{ id, version uint32 }

// Catalogue is an immutable index of the event versions ingest accepts,
// built from a FileDescriptorSet (the registry's schema set).
type Catalogue struct {
	revision uint64
	byName   map[string]EventType
	byID     map[idVersion]EventType
	versions map[uint32][]uint32
	// required lists the fields marked required, by message.
	required map[protoreflect.FullName][]protoreflect.FieldDescriptor
	// pii lists the fields marked pii, by message; piiWithin holds the
	// messages that have a pii field themselves or in a message they reach.
	pii       map[protoreflect.FullName][]protoreflect.FieldDescriptor
	piiWithin map[protoreflect.FullName]bool
	// wire holds the wire tables of the typed form's check, by message.
	wire map[protoreflect.FullName]*wireMessage
	// compiled holds the generated types of the event versions compiled
	// into the binary with the catalogue's shape (compiledType).
	compiled map[protoreflect.FullName]protoreflect.MessageType
	// governance is the registry's word on lifecycle and access; the zero
	// value retires nothing and lets every environment send every version.
	governance Governance
	// types resolves the typed form's @type in JSON (resolver).
	types *catalogueTypes
	// files are the catalogue's files, for server reflection.
	files *protoregistry.Files
}

// NewCatalogue indexes every message with the event option in fds.
func NewCatalogue(fds *descriptorpb.FileDescriptorSet, revision uint64) (*Catalogue, error) {
	files, err := protodesc.NewFiles(fds)
	if err != nil {
		return nil, fmt.Errorf("build catalogue (revision %d): %w", revision, err)
	}
	c := &Catalogue{
		revision:  revision,
		byName:    map[string]EventType{},
		byID:      map[idVersion]EventType{},
		versions:  map[uint32][]uint32{},
		required:  map[protoreflect.FullName][]protoreflect.FieldDescriptor{},
		pii:       map[protoreflect.FullName][]protoreflect.FieldDescriptor{},
		piiWithin: map[protoreflect.FullName]bool{},
		wire:      map[protoreflect.FullName]*wireMessage{},
		compiled:  map[protoreflect.FullName]protoreflect.MessageType{},
	}
	c.types = &catalogueTypes{c: c}
	c.files = files
	var walkErr error
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		walkErr = c.addMessages(fd.Messages())
		return walkErr == nil
	})
	if walkErr != nil {
		return nil, fmt.Errorf("build catalogue (revision %d): %w", revision, walkErr)
	}
	for _, versions := range c.versions {
		slices.Sort(versions)
	}
	return c, nil
}

func (c *Catalogue) addMessages(msgs protoreflect.MessageDescriptors) error {
	for i := range msgs.Len() {
		md := msgs.Get(i)
		opt, ok := eventOption(md)
		if ok {
			t := EventType{
				ID:         opt.GetId(),
				Version:    opt.GetVersion(),
				Name:       strings.TrimSuffix(string(md.Name()), fmt.Sprintf("V%d", opt.GetVersion())),
				Descriptor: md,
			}
			k := idVersion{t.ID, t.Version}
			if prev, dup := c.byID[k]; dup {
				return fmt.Errorf("event %d v%d is defined twice: %s and %s", t.ID, t.Version, prev.FullName(), t.FullName())
			}
			c.byID[k] = t
			c.byName[t.FullName()] = t
			c.versions[t.ID] = append(c.versions[t.ID], t.Version)
			c.indexRequired(md)
			c.indexPII(md, map[protoreflect.FullName]bool{})
			c.wireMessageOf(md)
			if mt := compiledType(md); mt != nil {
				c.compiled[md.FullName()] = mt
			}
		}
		if err := c.addMessages(md.Messages()); err != nil {
			return err
		}
	}
	return nil
}

// eventOption reads (clickstream.options.v1.event) from a message.
func eventOption(md protoreflect.MessageDescriptor) (*optionsv1.EventOptions, bool) {
	ev, ok := extension(md.Options(), optionsv1.E_Event).(*optionsv1.EventOptions)
	return ev, ok && ev != nil
}

// fieldOption reads (clickstream.options.v1.field) from a field; nil when absent.
func fieldOption(fd protoreflect.FieldDescriptor) *optionsv1.FieldOptions {
	fo, _ := extension(fd.Options(), optionsv1.E_Field).(*optionsv1.FieldOptions)
	return fo
}

// extension returns the value of xt on an options message, or nil. Options
// are parsed again from their bytes with the global registry, which links in
// optionsv1: descriptors built elsewhere (a compiler, another process) may
// hold the option as unknown fields or as a dynamic message.
func extension(opts proto.Message, xt protoreflect.ExtensionType) any {
	if opts == nil || !opts.ProtoReflect().IsValid() {
		return nil
	}
	b, err := proto.Marshal(opts)
	if err != nil {
		return nil
	}
	parsed := opts.ProtoReflect().Type().New().Interface()
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(b, parsed); err != nil {
		return nil
	}
	if !proto.HasExtension(parsed, xt) {
		return nil
	}
	return proto.GetExtension(parsed, xt)
}

// indexRequired records the required fields of md and of every message it
// reaches, once, so validation never parses options.
func (c *Catalogue) indexRequired(md protoreflect.MessageDescriptor) {
	if _, done := c.required[md.FullName()]; done {
		return
	}
	var req []protoreflect.FieldDescriptor
	c.required[md.FullName()] = nil
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fieldOption(fd).GetRequired() {
			req = append(req, fd)
		}
		if fd.Message() != nil {
			c.indexRequired(fd.Message())
		}
		if fd.IsMap() && fd.MapValue().Message() != nil {
			c.indexRequired(fd.MapValue().Message())
		}
	}
	c.required[md.FullName()] = req
}

// Revision is the registry catalogue revision this catalogue was built from.
func (c *Catalogue) Revision() uint64 { return c.revision }

// ByName finds an event version by full message name.
func (c *Catalogue) ByName(name string) (EventType, bool) {
	t, ok := c.byName[name]
	return t, ok
}

// ByID finds an event version by id and version. known reports whether the
// event id exists at all, to tell an unknown event from an unknown version.
func (c *Catalogue) ByID(id, version uint32) (t EventType, found, known bool) {
	t, found = c.byID[idVersion{id, version}]
	return t, found, len(c.versions[id]) > 0
}

// Versions lists the known versions of an event id, in order.
func (c *Catalogue) Versions(id uint32) []uint32 { return c.versions[id] }

// VersionRef names one event version.
type VersionRef struct{ EventID, Version uint32 }

// Lifecycle is the registry's lifecycle status of an event version.
type Lifecycle int

// Lifecycle statuses. The zero value is active.
const (
	LifecycleActive Lifecycle = iota
	LifecycleDeprecated
	LifecycleRetired
)

// Governance is what the registry says about event versions beyond their
// shape: lifecycle status, and which environments may send which versions.
type Governance struct {
	// Status of each version; versions not listed are active.
	Status map[VersionRef]Lifecycle
	// Access lists, for every environment the registry knows, the versions
	// it may send. Nil enforces no access rules (every environment may send
	// every version), which is what catalogues built for tests want.
	Access map[string]map[VersionRef]bool
}

// WithGovernance returns a catalogue with the same event versions as c and
// the lifecycle statuses and access rules of g. c is not changed.
func (c *Catalogue) WithGovernance(g Governance) *Catalogue {
	out := *c
	out.governance = g
	return &out
}

// Status is the lifecycle status of an event version.
func (c *Catalogue) Status(id, version uint32) Lifecycle {
	return c.governance.Status[VersionRef{id, version}]
}

// admit says why env may not send t now, or nil when it may: the version is
// retired, or the environment is not allowed to send it.
func (c *Catalogue) admit(t EventType, env string) *ingestv1.Rejection {
	ref := VersionRef{t.ID, t.Version}
	if c.governance.Status[ref] == LifecycleRetired {
		newest := uint32(0)
		for _, v := range c.versions[t.ID] {
			if c.governance.Status[VersionRef{t.ID, v}] == LifecycleActive {
				newest = v
			}
		}
		if newest == 0 {
			return reject(ingestv1.RejectReason_REJECT_REASON_RETIRED, "",
				"%s (event %d version %d) is retired and the event has no active version: stop sending it, or ask its owners in the registry",
				t.FullName(), t.ID, t.Version)
		}
		return reject(ingestv1.RejectReason_REJECT_REASON_RETIRED, "",
			"%s (event %d version %d) is retired: send version %d (%s%d), the newest active one",
			t.FullName(), t.ID, t.Version, newest, t.Name, newest)
	}
	if c.governance.Access == nil {
		return nil
	}
	allowed, known := c.governance.Access[env]
	if !known {
		return reject(ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED, "",
			"environment %q is not known to the registry (catalogue revision %d), so it may send nothing: create it and allow %s there",
			env, c.revision, t.FullName())
	}
	if !allowed[ref] {
		var others []uint32
		for _, v := range c.versions[t.ID] {
			if allowed[VersionRef{t.ID, v}] {
				others = append(others, v)
			}
		}
		hint := "no version of this event is allowed there"
		if len(others) > 0 {
			hint = fmt.Sprintf("versions allowed there: %v", others)
		}
		return reject(ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED, "",
			"%s (event %d version %d) is not allowed in environment %q (%s): send an allowed version, or ask the registry admins to allow it (SetEventAccess)",
			t.FullName(), t.ID, t.Version, env, hint)
	}
	return nil
}

package langpack

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
)

// catalogue is the part of an Input the generators read: the environment's
// event versions with their descriptors, and every message and enum they
// reference, each with a class name unique in the pack.
type catalogue struct {
	in       Input
	names    Names
	files    *protoregistry.Files
	events   []eventType
	messages []protoreflect.MessageDescriptor // referenced messages (events included), by full name
	enums    []protoreflect.EnumDescriptor    // referenced enums, by full name
	class    map[protoreflect.FullName]string
	eventOf  map[protoreflect.FullName]*eventType
}

// eventType is one event version and its message.
type eventType struct {
	Event
	desc  protoreflect.MessageDescriptor
	class string
}

// field is a field of a generated class.
type field struct {
	desc     protoreflect.FieldDescriptor
	name     string // proto name: "item_id"
	json     string // protobuf JSON name: "itemId"
	required bool
	doc      string
	example  string
	pii      bool
}

// docWith is the field's documentation for every langpack: its description,
// then the notes on what is required, personal or an example, then the
// language's own notes.
func (f field) docWith(notes ...string) string {
	var all []string
	if f.required {
		all = append(all, "Required.")
	}
	if f.pii {
		all = append(all, "Personal data: hashed by ingest.")
	}
	if f.example != "" {
		all = append(all, "Example: "+f.example+".")
	}
	all = append(all, notes...)
	return strings.TrimSpace(f.doc + "\n\n" + strings.Join(all, " "))
}

// wellKnown are the google.protobuf messages the dynamic languages map to
// plain values rather than classes: their protobuf JSON form is a string or
// any JSON value.
func wellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

func newCatalogue(in Input) (*catalogue, error) {
	if in.Environment == "" {
		return nil, fmt.Errorf("generate langpack: the environment is empty")
	}
	if in.Files == nil {
		return nil, fmt.Errorf("generate langpack for %s: no descriptor files", in.Environment)
	}
	files, err := protodesc.NewFiles(in.Files)
	if err != nil {
		return nil, fmt.Errorf("generate langpack for %s: build descriptors: %w", in.Environment, err)
	}
	c := &catalogue{
		in:      in,
		names:   NamesFor(in.Environment),
		files:   files,
		class:   map[protoreflect.FullName]string{},
		eventOf: map[protoreflect.FullName]*eventType{},
	}
	events := slices.Clone(in.Events)
	slices.SortStableFunc(events, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Version, b.Version), strings.Compare(a.MessageName, b.MessageName))
	})
	msgs := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	enums := map[protoreflect.FullName]protoreflect.EnumDescriptor{}
	for _, ev := range events {
		d, err := files.FindDescriptorByName(protoreflect.FullName(ev.MessageName))
		if err != nil {
			return nil, fmt.Errorf("generate langpack for %s: event %d v%d: message %s is not in the descriptor files", in.Environment, ev.ID, ev.Version, ev.MessageName)
		}
		md, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			return nil, fmt.Errorf("generate langpack for %s: event %d v%d: %s is not a message", in.Environment, ev.ID, ev.Version, ev.MessageName)
		}
		c.events = append(c.events, eventType{Event: ev, desc: md})
		collect(md, msgs, enums)
	}
	for _, md := range msgs {
		c.messages = append(c.messages, md)
	}
	for _, ed := range enums {
		c.enums = append(c.enums, ed)
	}
	slices.SortFunc(c.messages, func(a, b protoreflect.MessageDescriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	slices.SortFunc(c.enums, func(a, b protoreflect.EnumDescriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	c.assignClassNames()
	for i := range c.events {
		c.events[i].class = c.class[c.events[i].desc.FullName()]
		c.eventOf[c.events[i].desc.FullName()] = &c.events[i]
	}
	return c, nil
}

// collect adds md and every message and enum it references, transitively.
// Well-known types are leaves: they are mapped, not generated.
func collect(md protoreflect.MessageDescriptor, msgs map[protoreflect.FullName]protoreflect.MessageDescriptor, enums map[protoreflect.FullName]protoreflect.EnumDescriptor) {
	if _, ok := msgs[md.FullName()]; ok || wellKnown(md) {
		return
	}
	msgs[md.FullName()] = md
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		switch fd.Kind() {
		case protoreflect.MessageKind, protoreflect.GroupKind:
			collect(fd.Message(), msgs, enums)
		case protoreflect.EnumKind:
			enums[fd.Enum().FullName()] = fd.Enum()
		}
	}
}

// assignClassNames names every message and enum after its name inside its
// package ("Outer_Inner" for nested ones); names that two packages share
// get their package as a prefix ("FixtureEventsV1Context").
func (c *catalogue) assignClassNames() {
	type named struct {
		full protoreflect.FullName
		pkg  protoreflect.FullName
	}
	var all []named
	for _, md := range c.messages {
		all = append(all, named{md.FullName(), md.ParentFile().Package()})
	}
	for _, ed := range c.enums {
		all = append(all, named{ed.FullName(), ed.ParentFile().Package()})
	}
	local := func(n named) string {
		s := strings.TrimPrefix(string(n.full), string(n.pkg)+".")
		return strings.ReplaceAll(s, ".", "_")
	}
	count := map[string]int{}
	for _, n := range all {
		count[local(n)]++
	}
	for _, n := range all {
		name := local(n)
		if count[name] > 1 {
			name = camel(string(n.pkg)) + name
		}
		c.class[n.full] = name
	}
}

// fields returns the fields of md in declaration order with their options.
func (c *catalogue) fields(md protoreflect.MessageDescriptor) []field {
	fds := md.Fields()
	out := make([]field, 0, fds.Len())
	for i := range fds.Len() {
		fd := fds.Get(i)
		f := field{desc: fd, name: string(fd.Name()), json: fd.JSONName()}
		if opt := fieldOption(fd); opt != nil {
			f.required, f.doc, f.example, f.pii = opt.GetRequired(), opt.GetDescription(), opt.GetExample(), opt.GetPii()
		}
		if f.doc == "" {
			f.doc = leadingComment(fd)
		}
		out = append(out, f)
	}
	return out
}

// requiredFields returns the names of md's fields marked required.
func (c *catalogue) requiredFields(md protoreflect.MessageDescriptor) []field {
	var out []field
	for _, f := range c.fields(md) {
		if f.required {
			out = append(out, f)
		}
	}
	return out
}

// messageDoc is the description of a message: the event description for an
// event version, else its leading comment.
func (c *catalogue) messageDoc(md protoreflect.MessageDescriptor) string {
	if ev := c.eventOf[md.FullName()]; ev != nil && ev.Description != "" {
		return ev.Description
	}
	return leadingComment(md)
}

// exampleEvent is the event a README's example constructs: the first that
// is not deprecated, else the first.
func (c *catalogue) exampleEvent() eventType {
	for _, e := range c.events {
		if !e.Deprecated {
			return e
		}
	}
	return c.events[0]
}

// writeEventList writes a README's list of the pack's events, one line
// each.
func (c *catalogue) writeEventList(b *strings.Builder) {
	for _, ev := range c.events {
		dep := ""
		if ev.Deprecated {
			dep = " (deprecated)"
		}
		fmt.Fprintf(b, "- `%s` — event %d v%d%s: %s\n", ev.class, ev.ID, ev.Version, dep, ev.Description)
	}
}

func leadingComment(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	return strings.TrimSpace(loc.LeadingComments)
}

// oneofOf returns the real oneof fd belongs to (not a proto3 optional's
// synthetic one), or nil.
func oneofOf(fd protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		return od
	}
	return nil
}

// fieldOption returns the (clickstream.options.v1.field) option of fd, or nil.
// Options arrive as generated messages or as unknown fields (descriptors
// compiled without our Go types); re-parsing them through the wire format
// with a resolver that knows our extension gives the generated type.
func fieldOption(fd protoreflect.FieldDescriptor) *optionsv1.FieldOptions {
	src := fd.Options()
	if src == nil || !src.ProtoReflect().IsValid() {
		return nil
	}
	b, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(src)
	if err != nil || len(b) == 0 {
		return nil
	}
	var opts descriptorpb.FieldOptions
	if err := (proto.UnmarshalOptions{AllowPartial: true, Resolver: optionResolver{}}).Unmarshal(b, &opts); err != nil {
		return nil
	}
	if !proto.HasExtension(&opts, optionsv1.E_Field) {
		return nil
	}
	return proto.GetExtension(&opts, optionsv1.E_Field).(*optionsv1.FieldOptions)
}

// isEventMessage reports whether a message declaration carries the
// (clickstream.options.v1.event) option.
func isEventMessage(m *descriptorpb.DescriptorProto) bool {
	if m.GetOptions() == nil {
		return false
	}
	b, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(m.GetOptions())
	if err != nil || len(b) == 0 {
		return false
	}
	var opts descriptorpb.MessageOptions
	if err := (proto.UnmarshalOptions{AllowPartial: true, Resolver: optionResolver{}}).Unmarshal(b, &opts); err != nil {
		return false
	}
	return proto.HasExtension(&opts, optionsv1.E_Event)
}

// optionResolver resolves the clickstream custom options and nothing else.
type optionResolver struct{}

func (optionResolver) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	for _, xt := range []protoreflect.ExtensionType{optionsv1.E_Event, optionsv1.E_Field} {
		if xt.TypeDescriptor().FullName() == name {
			return xt, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (optionResolver) FindExtensionByNumber(message protoreflect.FullName, number protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	for _, xt := range []protoreflect.ExtensionType{optionsv1.E_Event, optionsv1.E_Field} {
		xd := xt.TypeDescriptor()
		if xd.ContainingMessage().FullName() == message && xd.Number() == number {
			return xt, nil
		}
	}
	return nil, protoregistry.NotFound
}

// camel turns "fixture.events.v1" or "item_id" into "FixtureEventsV1" or
// "ItemId".
func camel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '.' || r == '_' || r == '-' {
			up = true
			continue
		}
		if up {
			b.WriteRune(unicode.ToUpper(r))
			up = false
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lowerCamel turns "item_id" into "itemId".
func lowerCamel(s string) string {
	c := camel(s)
	if c == "" {
		return c
	}
	return strings.ToLower(c[:1]) + c[1:]
}

// wordsOf splits an environment name into lower-case words: "Partner_Tickets
// 2" → ["partner", "tickets", "2"].
func wordsOf(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
}

var xmlAttrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// xmlEscape escapes text for an XML attribute or element (POM, .csproj).
func xmlEscape(s string) string {
	return xmlAttrEscaper.Replace(s)
}

// checkTypeNames fails when a generated class would take one of names,
// which the language's runtime files or standard library use.
func (c *catalogue) checkTypeNames(lang Language, names []string) error {
	taken := map[string]bool{}
	for _, n := range names {
		taken[n] = true
	}
	var full []protoreflect.FullName
	for _, md := range c.messages {
		full = append(full, md.FullName())
	}
	for _, ed := range c.enums {
		full = append(full, ed.FullName())
	}
	for _, n := range full {
		if class := c.class[n]; taken[class] {
			return fmt.Errorf("%s is generated as the class %s, which the %s langpack's own code uses: "+
				"rename the message or enum in a new event version", n, class, lang)
		}
	}
	return nil
}

package warehouse

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
)

// ColumnType is the PostgreSQL type of a column; the lake maps each to a
// Parquet type.
type ColumnType string

// The column types a field can get.
const (
	TypeText        ColumnType = "text"
	TypeBoolean     ColumnType = "boolean"
	TypeInteger     ColumnType = "integer"
	TypeBigint      ColumnType = "bigint"
	TypeNumeric     ColumnType = "numeric"
	TypeReal        ColumnType = "real"
	TypeDouble      ColumnType = "double precision"
	TypeBytea       ColumnType = "bytea"
	TypeTimestamptz ColumnType = "timestamptz"
	TypeJSONB       ColumnType = "jsonb"
)

// suffix names the type in a column name (the rule for a field whose type
// changed between versions).
func (t ColumnType) suffix() string {
	if t == TypeDouble {
		return "double"
	}
	return string(t)
}

// maxIdentifier is PostgreSQL's identifier limit in bytes (NAMEDATALEN-1).
const maxIdentifier = 63

// maxDepth bounds how deep nested messages are flattened; deeper (or
// recursive) messages become one jsonb column.
const maxDepth = 8

// Column is one field column of an event's table.
type Column struct {
	// Name is the SQL identifier (see Identifier for the naming rules).
	Name string
	Type ColumnType
	// Path is the field path in the event message, e.g. "context.geo.latitude".
	Path string
	// Comment is the field's description, shown by BI tools.
	Comment string
	// Since is the first event version that has the column.
	Since uint32
}

// EnvelopeColumns are the columns every event table starts with, in order.
var EnvelopeColumns = []Column{
	{Name: "event_id", Type: TypeText, Comment: "The event's id: the idempotency key the client sent, or the one ingest generated."},
	{Name: "event_version", Type: TypeInteger, Comment: "The event version the payload was validated against."},
	{Name: "environment", Type: TypeText, Comment: "The sending environment (app, site, backend, partner)."},
	{Name: "user_id", Type: TypeText, Comment: "The user the event is about, as authenticated by ingest; empty for anonymous traffic."},
	{Name: "occurred_at", Type: TypeTimestamptz, Comment: "When the event happened on the client; NULL when the client did not say."},
	{Name: "received_at", Type: TypeTimestamptz, Comment: "When ingest accepted the event; the daily partitions follow it."},
	{Name: "source_protocol", Type: TypeText, Comment: "The protocol the event arrived by (grpc, grpc_web, connect, rest, fluent)."},
	{Name: "key_id", Type: TypeText, Comment: "The id of the API key that sent the event (never the key)."},
	{Name: "stream_sequence", Type: TypeBigint, Comment: "The event's sequence on the EVENTS stream."},
}

// Table is the layout of one event's table: the envelope and a column per
// field across every version, and for each version where its fields go.
type Table struct {
	EventID uint32
	// Subject is the event's name without version, e.g. "ItemView".
	Subject string
	// Name is the table's name in schema warehouse, e.g. "item_view".
	Name string
	// Package is the protobuf package of the event messages.
	Package string
	// Columns are the field columns in creation order (envelope excluded).
	Columns []Column
	// Versions are the versions the layout covers, oldest first.
	Versions []uint32

	versions map[uint32]*versionLayout
	// dynamicOnly decodes every payload as a dynamic message, never by a
	// wire plan (the tests compare the two).
	dynamicOnly bool
}

// versionLayout maps one version's fields to the table's columns.
type versionLayout struct {
	md     protoreflect.MessageDescriptor
	leaves []leaf
	// plan decodes payloads straight into the columns; nil decodes them
	// as dynamic messages.
	plan *wirePlan
}

// leaf is a field (at the end of path) stored in column col.
type leaf struct {
	col  int
	path []protoreflect.FieldDescriptor
	kind leafKind
}

type leafKind int

const (
	leafScalar    leafKind = iota // a scalar or enum
	leafTimestamp                 // google.protobuf.Timestamp
	leafWrapper                   // google.protobuf.*Value: the value field
	leafJSON                      // repeated, map, Struct/Value/Any, or too deep
)

// AllColumns is the envelope followed by the field columns.
func (t *Table) AllColumns() []Column {
	return append(append([]Column(nil), EnvelopeColumns...), t.Columns...)
}

// Covers reports whether the layout knows the version.
func (t *Table) Covers(version uint32) bool {
	_, ok := t.versions[version]
	return ok
}

// NewTable lays out the table of one event from the messages of its
// versions, oldest first. Names depend only on the versions in order, so a
// layout with a new version keeps every earlier column's name and adds
// columns after them.
//
// The naming rules (documented in docs/warehouse.md):
//   - a field's column is its path joined with "_", lower-cased
//     (context.geo.latitude → context_geo_latitude);
//   - a field whose type differs from its type in an earlier version gets a
//     column per type: the later type's column is named <name>_<type>
//     (price_text, count_bigint, amount_double);
//   - a name already taken (by the envelope or an earlier column) gets _2,
//     _3, … the first free one;
//   - a name over 63 bytes is cut to 54 bytes and suffixed with "_" and the
//     first 8 hex digits of the SHA-256 of the whole name.
func NewTable(eventID uint32, subject string, versions []protoreflect.MessageDescriptor) *Table {
	t := &Table{EventID: eventID, Subject: subject, Name: Identifier(snakeCase(subject)), versions: map[uint32]*versionLayout{}}
	taken := map[string]bool{}
	for _, c := range EnvelopeColumns {
		taken[c.Name] = true
	}
	byPathType := map[string]int{}
	firstType := map[string]ColumnType{}
	for _, md := range versions {
		v := messageVersion(md)
		if t.Package == "" {
			t.Package = string(md.ParentFile().Package())
		}
		vl := &versionLayout{md: md}
		var walk func(md protoreflect.MessageDescriptor, path []protoreflect.FieldDescriptor, depth int, seen map[protoreflect.FullName]bool)
		walk = func(md protoreflect.MessageDescriptor, path []protoreflect.FieldDescriptor, depth int, seen map[protoreflect.FullName]bool) {
			fields := md.Fields()
			for i := range fields.Len() {
				fd := fields.Get(i)
				p := append(append([]protoreflect.FieldDescriptor(nil), path...), fd)
				kind, typ, nested := classify(fd, depth, seen)
				if nested != nil {
					seen[nested.FullName()] = true
					walk(nested, p, depth+1, seen)
					delete(seen, nested.FullName())
					continue
				}
				dotted, joined := fieldPath(p)
				key := dotted + "|" + string(typ)
				col, ok := byPathType[key]
				if !ok {
					name := joined
					if ft, seenPath := firstType[dotted]; seenPath && ft != typ {
						name += "_" + typ.suffix()
					} else if !seenPath {
						firstType[dotted] = typ
					}
					name = freeName(Identifier(name), taken)
					taken[name] = true
					col = len(t.Columns)
					byPathType[key] = col
					t.Columns = append(t.Columns, Column{Name: name, Type: typ, Path: dotted, Comment: comment(p), Since: v})
				}
				vl.leaves = append(vl.leaves, leaf{col: col, path: p, kind: kind})
			}
		}
		walk(md, nil, 0, map[protoreflect.FullName]bool{md.FullName(): true})
		vl.plan = newWirePlan(vl)
		t.versions[v] = vl
		t.Versions = append(t.Versions, v)
	}
	return t
}

// classify says how a field is stored: its leaf kind and column type, or
// the message to flatten into columns.
func classify(fd protoreflect.FieldDescriptor, depth int, seen map[protoreflect.FullName]bool) (leafKind, ColumnType, protoreflect.MessageDescriptor) {
	if fd.IsList() || fd.IsMap() {
		return leafJSON, TypeJSONB, nil
	}
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		md := fd.Message()
		switch md.FullName() {
		case "google.protobuf.Timestamp":
			return leafTimestamp, TypeTimestamptz, nil
		case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
			"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
			"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
			return leafWrapper, scalarType(md.Fields().ByName("value")), nil
		}
		if md.FullName().Parent() == "google.protobuf" || depth+1 >= maxDepth || seen[md.FullName()] {
			return leafJSON, TypeJSONB, nil
		}
		return 0, "", md
	}
	return leafScalar, scalarType(fd), nil
}

// scalarType is the column type of a scalar or enum field.
func scalarType(fd protoreflect.FieldDescriptor) ColumnType {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return TypeBoolean
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return TypeInteger
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind, protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return TypeBigint
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return TypeNumeric
	case protoreflect.FloatKind:
		return TypeReal
	case protoreflect.DoubleKind:
		return TypeDouble
	case protoreflect.BytesKind:
		return TypeBytea
	default: // string, enum (stored by name)
		return TypeText
	}
}

// fieldPath is the dotted path of p and its column name before the rules.
func fieldPath(p []protoreflect.FieldDescriptor) (dotted, joined string) {
	names := make([]string, len(p))
	for i, fd := range p {
		names[i] = string(fd.Name())
	}
	return strings.Join(names, "."), strings.ToLower(strings.Join(names, "_"))
}

// comment is the description of the last field of p: its option's
// description or leading comment, with a note for pii fields.
func comment(p []protoreflect.FieldDescriptor) string {
	fd := p[len(p)-1]
	opts, _ := fd.Options().(*descriptorpb.FieldOptions)
	var fo *optionsv1.FieldOptions
	if opts != nil && proto.HasExtension(opts, optionsv1.E_Field) {
		fo, _ = proto.GetExtension(opts, optionsv1.E_Field).(*optionsv1.FieldOptions)
	}
	d := strings.TrimSpace(fo.GetDescription())
	if d == "" {
		d = strings.TrimSpace(fd.ParentFile().SourceLocations().ByDescriptor(fd).LeadingComments)
	}
	if fo.GetPii() {
		d = strings.TrimSpace(d + " (pii: holds what ingest published, an HMAC-SHA256 of the value unless the environment keeps pii)")
	}
	return d
}

var notIdentifier = regexp.MustCompile(`[^a-z0-9_]`)

// Identifier makes name a PostgreSQL identifier that needs no quoting
// beyond the reserved words: lower case, [a-z0-9_], not starting with a
// digit, and at most 63 bytes — a longer name is cut to 54 bytes and
// suffixed with "_" and the first 8 hex digits of the SHA-256 of the whole
// name, so two long names sharing a prefix stay apart, and the same name
// always gets the same identifier.
func Identifier(name string) string {
	name = notIdentifier.ReplaceAllString(strings.ToLower(name), "_")
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		name = "_" + name
	}
	if len(name) <= maxIdentifier {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:54] + "_" + hex.EncodeToString(sum[:4])
}

// freeName is name, or name_2, name_3, … the first not taken (each cut to
// the identifier limit).
func freeName(name string, taken map[string]bool) string {
	if !taken[name] {
		return name
	}
	for n := 2; ; n++ {
		s := fmt.Sprintf("_%d", n)
		base := name
		if len(base)+len(s) > maxIdentifier {
			base = base[:maxIdentifier-len(s)]
		}
		if !taken[base+s] {
			return base + s
		}
	}
}

// snakeCase turns "ItemView" into "item_view" and "HTTPRequest" into
// "http_request".
func snakeCase(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		upper := c >= 'A' && c <= 'Z'
		if upper && i > 0 {
			prevLower := r[i-1] >= 'a' && r[i-1] <= 'z' || r[i-1] >= '0' && r[i-1] <= '9'
			nextLower := i+1 < len(r) && r[i+1] >= 'a' && r[i+1] <= 'z'
			if prevLower || (nextLower && r[i-1] >= 'A' && r[i-1] <= 'Z') {
				b.WriteByte('_')
			}
		}
		if upper {
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// eventOptions is the event option of an event message (nil when none).
func eventOptions(md protoreflect.MessageDescriptor) *optionsv1.EventOptions {
	opts, ok := md.Options().(*descriptorpb.MessageOptions)
	if !ok || !proto.HasExtension(opts, optionsv1.E_Event) {
		return nil
	}
	ev, _ := proto.GetExtension(opts, optionsv1.E_Event).(*optionsv1.EventOptions)
	return ev
}

// messageVersion is the version of an event message from its event option.
func messageVersion(md protoreflect.MessageDescriptor) uint32 {
	return eventOptions(md).GetVersion()
}

// subjectOf is the event's name without version: "ItemViewV2" → "ItemView".
func subjectOf(md protoreflect.MessageDescriptor) string {
	name := string(md.Name())
	if i := strings.LastIndex(name, "V"); i > 0 && strings.Trim(name[i+1:], "0123456789") == "" && i+1 < len(name) {
		return name[:i]
	}
	return name
}

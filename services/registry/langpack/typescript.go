package langpack

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// typescriptRuntime is the TypeScript langpack's fixed runtime: the base
// classes of messages and events with their checks and protobuf JSON
// (message.ts) and the sender (sender.ts), compiled by `make generate`
// with tools/npm's tsc into runtime/typescript/dist (committed; the
// registry host has no Node). TestTypeScriptRuntimeCompiled fails when dist
// is not what tsc writes from the sources.
//
//go:embed runtime/typescript/dist
var typescriptRuntime embed.FS

// typescriptGenerator writes an npm package of compiled ES modules:
// dist/*.js with .d.ts declarations (and source maps for the runtime), so
// an app needs no compile step and its compiler flags never reach the
// pack's code. The runtime is copied as compiled; the per-event code,
// dist/events.js and dist/events.d.ts, is printed here: a class per message
// declaring its fields (a MessageSpec the runtime works from) with typed
// getters and setters, and a frozen object of names per enum.
type typescriptGenerator struct{}

// typescriptExports is package.json's exports: types first, as TypeScript
// reads the conditions in order.
type typescriptExports struct {
	Main struct {
		Types   string `json:"types"`
		Default string `json:"default"`
	} `json:"."`
	PackageJSON string `json:"./package.json"`
}

// typescriptPackage is the pack's package.json, in the order npm writes it.
type typescriptPackage struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Description string            `json:"description"`
	Type        string            `json:"type"`
	Main        string            `json:"main"`
	Types       string            `json:"types"`
	Exports     typescriptExports `json:"exports"`
	Files       []string          `json:"files"`
	SideEffects bool              `json:"sideEffects"`
	Engines     map[string]string `json:"engines"`
	License     string            `json:"license"`
}

func (typescriptGenerator) versioned(c *catalogue, version Version) []File {
	pkg := typescriptPackage{
		Name:        c.names.NPMPackage,
		Version:     version.String(),
		Description: fmt.Sprintf("Clickstream events of the %s environment (catalogue revision %d). Generated; do not edit.", c.in.Environment, c.in.Revision),
		Type:        "module",
		Main:        "./dist/index.js",
		Types:       "./dist/index.d.ts",
		Files:       []string{"dist", "README.md", ManifestPath},
		SideEffects: false,
		Engines:     map[string]string{"node": ">=18"},
		License:     "UNLICENSED",
	}
	pkg.Exports.Main.Types, pkg.Exports.Main.Default = pkg.Types, pkg.Main
	pkg.Exports.PackageJSON = "./package.json"
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // ">=18", not "\u003e=18"
	enc.SetIndent("", "  ")
	_ = enc.Encode(pkg)
	return []File{{Path: "package.json", Data: b.Bytes()}}
}

func (typescriptGenerator) files(c *catalogue) ([]File, error) {
	runtime, err := typescriptRuntimeFiles()
	if err != nil {
		return nil, err
	}
	exported := map[string]bool{"ENVIRONMENT": true, "CATALOGUE_REVISION": true}
	for _, m := range typescriptPublic {
		for _, n := range append(slices.Clone(m.values), m.types...) {
			exported[n] = true
		}
	}
	for _, md := range c.messages {
		if err := typescriptFreeName(c, md.FullName(), exported); err != nil {
			return nil, err
		}
	}
	for _, ed := range c.enums {
		if err := typescriptFreeName(c, ed.FullName(), exported); err != nil {
			return nil, err
		}
	}
	js, dts := typescriptEvents(c)
	files := append(runtime,
		File{Path: "dist/events.js", Data: js},
		File{Path: "dist/events.d.ts", Data: dts},
		File{Path: "dist/index.js", Data: typescriptIndex(c, false)},
		File{Path: "dist/index.d.ts", Data: typescriptIndex(c, true)},
		File{Path: "README.md", Data: typescriptReadme(c)},
	)
	return files, nil
}

// typescriptPublic is the runtime's API the pack's index exports beside
// the events, by module: values, then types. A catalogue type generated
// under one of these names fails generation.
var typescriptPublic = []struct {
	module        string
	values, types []string
}{
	{"./message.js", []string{"ValidationError"}, []string{"Event", "Duration", "DurationInput", "Int64Input", "JsonValue", "Timestamp", "TimestampInput"}},
	{"./sender.js", []string{"Sender", "SendError", "RETRYABLE_CODES", "TRANSPORT_CODES"}, []string{"EventStatus", "Fetch", "FetchInit", "FetchResponse", "Rejection", "Result", "SenderOptions"}},
}

// typescriptRuntimeFiles are the compiled runtime files, under dist/.
func typescriptRuntimeFiles() ([]File, error) {
	var files []File
	err := fs.WalkDir(typescriptRuntime, "runtime/typescript/dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := typescriptRuntime.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, File{Path: "dist/" + path.Base(p), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the embedded TypeScript runtime: %w", err)
	}
	return files, nil
}

// typescriptFreeName fails when a catalogue type would be generated under a
// name the runtime exports: the pack's index exports both.
func typescriptFreeName(c *catalogue, full protoreflect.FullName, exported map[string]bool) error {
	if name := c.class[full]; exported[name] {
		return fmt.Errorf("%s is generated as the class %s, which the TypeScript langpack's runtime also exports: rename the message in the catalogue (a new version)", full, name)
	}
	return nil
}

func typescriptIndex(c *catalogue, declaration bool) []byte {
	p := newPrinter("    ")
	p.P("// Generated by clickstream langpack. DO NOT EDIT.")
	for _, m := range typescriptPublic {
		p.Pf("export { %s } from %q;", strings.Join(m.values, ", "), m.module)
		if declaration {
			p.Pf("export type { %s } from %q;", strings.Join(m.types, ", "), m.module)
		}
	}
	p.P(`export * from "./events.js";`)
	p.P()
	p.Doc(tsdocComment, "The environment this langpack sends for.")
	if declaration {
		p.Pf("export declare const ENVIRONMENT: %s;", quoted(c.in.Environment, utf16Literal))
	} else {
		p.Pf("export const ENVIRONMENT = %s;", quoted(c.in.Environment, utf16Literal))
	}
	p.Doc(tsdocComment, "The registry catalogue revision it was generated from.")
	if declaration {
		p.Pf("export declare const CATALOGUE_REVISION: %d;", c.in.Revision)
	} else {
		p.Pf("export const CATALOGUE_REVISION = %d;", c.in.Revision)
	}
	return p.Bytes()
}

// tsKind is the runtime's Kind of a field's value (a map's value).
func tsKind(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "int32"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "uint32"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "int64"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "uint64"
	case protoreflect.FloatKind:
		return "float"
	case protoreflect.DoubleKind:
		return "double"
	case protoreflect.BoolKind:
		return "bool"
	case protoreflect.StringKind:
		return "string"
	case protoreflect.BytesKind:
		return "bytes"
	case protoreflect.EnumKind:
		return "enum"
	}
	switch md := fd.Message(); {
	case md.FullName() == "google.protobuf.Timestamp":
		return "timestamp"
	case md.FullName() == "google.protobuf.Duration":
		return "duration"
	case wellKnown(md):
		return "json"
	}
	return "message"
}

// tsTypes are the TypeScript types of one value of kind: what a getter
// returns and what a setter accepts. The runtime's types are imported
// with a $ prefix, so no catalogue type can shadow them.
func tsTypes(kind, class string) (get, set string) {
	switch kind {
	case "int32", "uint32", "float", "double":
		return "number", "number"
	case "int64", "uint64":
		return "bigint", "$Int64Input"
	case "bool":
		return "boolean", "boolean"
	case "string":
		return "string", "string"
	case "bytes":
		return "Uint8Array", "Uint8Array"
	case "timestamp":
		return "$Timestamp", "$TimestampInput"
	case "duration":
		return "$Duration", "$DurationInput"
	case "json":
		return "$JsonValue", "$JsonValue"
	}
	return class, class // enum, message
}

// tsField is one field as the TypeScript pack generates it.
type tsField struct {
	slot
	kind     string // the runtime's Kind of a value
	key      string // a map's key kind
	get, set string // the getter's and the setter's types
	method   string // "ItemId" of getItemId and setItemId
}

func (c *catalogue) tsFields(md protoreflect.MessageDescriptor) []tsField {
	var out []tsField
	for _, s := range c.slots(md) {
		f := tsField{slot: s, kind: tsKind(s.desc), method: camel(s.name)}
		if s.isMap {
			f.kind = tsKind(s.desc.MapValue())
			f.key = tsKind(s.desc.MapKey())
		}
		get, set := tsTypes(f.kind, s.typeName)
		switch {
		case s.isMap:
			kget, kset := tsTypes(f.key, "")
			if f.key == "int64" || f.key == "uint64" {
				kset = "bigint | number" // a string key would read as a string-keyed map's
			}
			f.get = "Map<" + kget + ", " + get + ">"
			f.set = "Iterable<readonly [" + kset + ", " + set + "]>"
			if f.key == "string" {
				f.set += " | Readonly<Record<string, " + set + ">>"
			}
		case s.list:
			f.get, f.set = "readonly "+tsParens(get)+"[]", "Iterable<"+set+">"
		default:
			f.get, f.set = get+" | undefined", set
		}
		out = append(out, f)
	}
	return out
}

func tsParens(t string) string {
	if strings.Contains(t, " ") {
		return "(" + t + ")"
	}
	return t
}

// typescriptEvents prints dist/events.js and dist/events.d.ts.
func typescriptEvents(c *catalogue) (js, dts []byte) {
	j, d := newPrinter("    "), newPrinter("    ")
	header := fmt.Sprintf("// Generated by clickstream langpack. DO NOT EDIT.\n// environment: %s, catalogue revision %d", c.in.Environment, c.in.Revision)
	j.P(header)
	j.P(`import { EventMessage as $EventMessage, Message as $Message } from "./message.js";`)
	d.P(header)
	d.P(`import { EventMessage as $EventMessage, Message as $Message } from "./message.js";`)
	d.P(`import type { Duration as $Duration, DurationInput as $DurationInput, Int64Input as $Int64Input, JsonValue as $JsonValue, Timestamp as $Timestamp, TimestampInput as $TimestampInput } from "./message.js";`)
	for _, ed := range c.enums {
		typescriptEnum(j, d, c, ed)
	}
	for _, md := range c.messages {
		typescriptClass(j, d, c, md)
	}
	return j.Bytes(), d.Bytes()
}

// typescriptEnum prints an enum as a frozen object of its value names and a
// union type of them: enum values are their names, as in protobuf JSON
// (and no TypeScript enum, which --erasableSyntaxOnly rejects).
func typescriptEnum(j, d *printer, c *catalogue, ed protoreflect.EnumDescriptor) {
	name := c.class[ed.FullName()]
	doc := cmp.Or(leadingComment(ed), string(ed.FullName()))
	j.P()
	j.Doc(tsdocComment, doc)
	j.Block("export const "+name+" = Object.freeze({", func() {
		for _, v := range enumValues(ed) {
			j.Pf("%s: %s,", v.Name(), quoted(string(v.Name()), utf16Literal))
		}
	}, "});")
	d.P()
	d.Doc(tsdocComment, doc)
	d.Block("export declare const "+name+": {", func() {
		for _, v := range enumValues(ed) {
			d.Doc(tsdocComment, leadingComment(v), fmt.Sprintf("@remarks The value numbered %d.", v.Number()))
			d.Pf("readonly %s: %s;", v.Name(), quoted(string(v.Name()), utf16Literal))
		}
	}, "};")
	d.Doc(tsdocComment, "A value name of "+string(ed.FullName())+".")
	d.Pf("export type %s = (typeof %s)[keyof typeof %s];", name, name, name)
}

func typescriptClass(j, d *printer, c *catalogue, md protoreflect.MessageDescriptor) {
	class := c.class[md.FullName()]
	ev := c.eventOf[md.FullName()]
	fields := c.tsFields(md)
	base := "$Message"
	doc := cmp.Or(c.messageDoc(md), string(md.FullName()))
	var tags []string
	if ev != nil {
		base = "$EventMessage"
		doc += fmt.Sprintf("\n\nEvent %d version %d (%s).", ev.ID, ev.Version, ev.MessageName)
		if ev.Deprecated {
			tags = append(tags, "@deprecated This event version is deprecated in the catalogue; send a newer version.")
		}
	}

	// The JavaScript: the spec, a constructor and one getter and setter per field.
	j.P()
	j.Doc(tsdocComment, doc)
	j.Block("export class "+class+" extends "+base+" {", func() {
		if ev != nil {
			j.Pf("static EVENT_ID = %d;", ev.ID)
			j.Pf("static EVENT_VERSION = %d;", ev.Version)
			j.Pf("static MESSAGE_NAME = %s;", quoted(ev.MessageName, utf16Literal))
			j.Pf("static DEPRECATED = %t;", ev.Deprecated)
		}
		j.P("/** The fields, read by the runtime (message.js). */")
		j.Block("static spec = Object.freeze({", func() {
			j.Pf("name: %s,", quoted(string(md.FullName()), utf16Literal))
			j.Pf("class: %s,", quoted(class, utf16Literal))
			if ev != nil {
				j.Pf("event: { id: %d, version: %d, deprecated: %t },", ev.ID, ev.Version, ev.Deprecated)
			}
			j.Block("fields: [", func() {
				for _, f := range fields {
					j.P(typescriptFieldSpec(f), ",")
				}
			}, "],")
		}, "});")
		j.Block("constructor(init) {", func() { j.Pf("super(%s.spec, init);", class) }, "}")
		for _, f := range fields {
			j.Pf("get%s() { return this.getField(%q); }", f.method, f.json)
			j.Pf("set%s(value) { return this.setField(%q, value); }", f.method, f.json)
		}
	}, "}")

	// The declarations.
	d.P()
	d.Doc(tsdocComment, "What the constructor of "+class+" takes: any of its fields, by their protobuf JSON names.")
	d.Block("export interface "+class+"Init {", func() {
		for _, f := range fields {
			d.Pf("readonly %s?: %s | undefined;", f.json, f.set)
		}
	}, "}")
	d.Doc(tsdocComment, doc, tags...)
	d.Block("export declare class "+class+" extends "+base+" {", func() {
		if ev != nil {
			d.Pf("static readonly EVENT_ID: %d;", ev.ID)
			d.Pf("static readonly EVENT_VERSION: %d;", ev.Version)
			d.Pf("static readonly MESSAGE_NAME: %s;", quoted(ev.MessageName, utf16Literal))
			d.Pf("static readonly DEPRECATED: %t;", ev.Deprecated)
		}
		d.Doc(tsdocComment, "Throws TypeError or RangeError naming the field when a value does not fit it.")
		d.Pf("constructor(init?: %sInit);", class)
		for _, f := range fields {
			var notes []string
			if len(f.oneof) > 0 {
				notes = append(notes, "Setting it clears "+strings.Join(f.oneof, ", ")+" (one of).")
			}
			d.Doc(tsdocComment, f.docWith(notes...))
			d.Pf("get%s(): %s;", f.method, f.get)
			d.Doc(tsdocComment, "Sets "+f.name+"; undefined clears it. Throws TypeError or RangeError when the value does not fit.")
			d.Pf("set%s(value: %s | undefined): this;", f.method, f.set)
		}
	}, "}")
}

// typescriptFieldSpec is one field's FieldSpec as a JavaScript object.
func typescriptFieldSpec(f tsField) string {
	parts := []string{"name: " + quoted(f.name, utf16Literal), "json: " + quoted(f.json, utf16Literal), "kind: " + quoted(f.kind, utf16Literal)}
	switch f.kind {
	case "enum":
		parts = append(parts, "values: Object.keys("+f.typeName+")")
	case "message":
		parts = append(parts, "message: () => "+f.typeName)
	}
	switch {
	case f.isMap:
		parts = append(parts, "key: "+quoted(f.key, utf16Literal))
	case f.list:
		parts = append(parts, "list: true")
	}
	if f.required {
		parts = append(parts, "required: true")
	}
	if len(f.oneofJSON) > 0 {
		others := make([]string, len(f.oneofJSON))
		for i, o := range f.oneofJSON {
			others[i] = quoted(o, utf16Literal)
		}
		parts = append(parts, "oneof: ["+strings.Join(others, ", ")+"]")
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// typescriptReadme is the pack's README: install, a Node and a page example.
func typescriptReadme(c *catalogue) []byte {
	ev := c.exampleEvent()
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\nClickstream langpack for the %q environment (catalogue revision %d). Generated; do not edit.\n\n", c.names.NPMPackage, c.in.Environment, c.in.Revision)
	b.WriteString("Compiled ES modules with `.d.ts` declarations: no compile step in the app, and the app's compiler\n" +
		"flags never reach the pack's code. Node 18 or later, or a browser (no bundler needed).\n\n" +
		"Install the tarball the registry serves: `npm install ./" + strings.TrimPrefix(c.names.NPMPackage, "@clickstream/") + ".tgz`.\n" +
		"Events are validated before sending (a missing required field throws `ValidationError`) and posted as\n" +
		"protobuf JSON to the ingest REST gateway, `POST /v1/events:batch`; every event gets its own `Result`.\n\n")
	b.WriteString("```js\nimport { Sender, " + ev.class + " } from \"" + c.names.NPMPackage + "\";\n\n" +
		"// Node: a server key. In a page: a browser key, allowed for the page's origin.\n" +
		"const sender = new Sender(\"https://ingest.example.com\", { apiKey: process.env.CLICKSTREAM_KEY });\n" +
		"sender.add(new " + ev.class + "({ /* fields by their JSON names" + typescriptRequired(c, ev) + " */ }));\n" +
		"for (const r of await sender.close()) console.log(r.key, r.status, r.rejection);\n```\n\n")
	b.WriteString("In a page the sender flushes what waits with `navigator.sendBeacon` when the page is hidden or left.\n\nEvents:\n\n")
	c.writeEventList(&b)
	return []byte(b.String())
}

// typescriptRequired names an event's required fields for the README.
func typescriptRequired(c *catalogue, ev eventType) string {
	var names []string
	for _, f := range c.requiredFields(ev.desc) {
		names = append(names, f.json)
	}
	if len(names) == 0 {
		return ""
	}
	return "; required: " + strings.Join(names, ", ")
}

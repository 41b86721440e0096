// Package langpack generates langpacks: typed client packages for the events
// one environment may send, in Go, Python, TypeScript and PHP. Generation is
// a pure function of its Input, so equal input gives equal bytes.
package langpack

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/descriptorpb"
)

// GeneratorVersion names this generator in every manifest. Bump it whenever
// generated output changes for an unchanged input.
const GeneratorVersion = "clickstream-langpack/1"

// ManifestPath is where a pack carries its manifest.
const ManifestPath = "clickstream-langpack.json"

// Language is a langpack language.
type Language string

// The langpack languages.
const (
	Go         Language = "go"
	Python     Language = "python"
	TypeScript Language = "typescript"
	PHP        Language = "php"
)

// Languages returns every langpack language in a fixed order.
func Languages() []Language { return []Language{Go, Python, TypeScript, PHP} }

// ParseLanguage parses a language name as used in URLs and flags.
func ParseLanguage(s string) (Language, error) {
	for _, l := range Languages() {
		if strings.EqualFold(s, string(l)) {
			return l, nil
		}
	}
	names := make([]string, 0, 4)
	for _, l := range Languages() {
		names = append(names, string(l))
	}
	return "", fmt.Errorf("unknown langpack language %q: use one of %s", s, strings.Join(names, ", "))
}

// Event is one event version the environment may send.
type Event struct {
	ID          uint32
	Version     uint32
	MessageName string // full name, e.g. "clickstream.events.v1.ItemViewV2"
	Description string
	Deprecated  bool // lifecycle deprecated: marked deprecated in generated code
	OwnerTeam   string
}

// Input is what a langpack is generated from.
type Input struct {
	Environment string
	Revision    uint64 // catalogue revision
	// Version is the langpack version N; the package version is "1.N.0".
	// 0 when only hashing.
	Version int
	// Files declare the Events and all their imports, as the registry's
	// GetSchemaSet returns them (with clickstream/options/v1/options.proto
	// and google/protobuf/*).
	Files  *descriptorpb.FileDescriptorSet
	Events []Event // sorted by (ID, Version)
}

// Names are the package coordinates of an environment's langpack in each
// ecosystem.
type Names struct {
	GoModule      string // "langpack.clickstream.dev/web": fetchable through a GOPROXY only
	PythonDist    string // "clickstream-events-web" (PEP 503 normalised)
	PythonPackage string // "clickstream_events_web"
	NPMPackage    string // "@clickstream/events-web"
	ComposerName  string // "clickstream/events-web"
	PHPNamespace  string // "Clickstream\\Events\\Web"
}

// File is one generated file.
type File struct {
	Path string
	Data []byte
}

// Manifest describes a langpack; it is also written into the pack as
// clickstream-langpack.json.
type Manifest struct {
	Language         Language `json:"language"`
	Environment      string   `json:"environment"`
	Version          int      `json:"version"`
	PackageVersion   string   `json:"package_version"` // "1.N.0"
	Revision         uint64   `json:"catalogue_revision"`
	GeneratorVersion string   `json:"generator_version"`
	// ContentHash is "sha256:<hex>" over the files generated with Version 0,
	// manifest excluded: equal input gives an equal hash whatever the version.
	ContentHash string   `json:"content_hash"`
	Events      []string `json:"events"` // message names
}

// Pack is a generated langpack: files sorted by path.
type Pack struct {
	Manifest Manifest
	Files    []File
}

var errNotImplemented = errors.New("langpack: not implemented yet")

// NamesFor returns the package coordinates of an environment's langpack.
func NamesFor(environment string) Names { return Names{} }

// Generate generates the langpack of one language.
func Generate(lang Language, in Input) (*Pack, error) { return nil, errNotImplemented }

// TarGz packs the files under the top-level directory
// "<lang>-<env>-<package version>/".
func (p *Pack) TarGz() ([]byte, error) { return nil, errNotImplemented }

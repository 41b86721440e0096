package langpack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/descriptorpb"
)

// GeneratorVersion names this generator in every manifest, as
// "clickstream-langpack/MAJOR.MINOR". Bump it whenever generated output
// changes for an unchanged input: the minor when what a program can use
// stays (a fix inside a method, documentation), the major when it does not
// (a type, method or value representation removed or changed). Packs of
// unchanged catalogue content then get a new patch or a new major version
// (langpackChange in the registry).
const GeneratorVersion = "clickstream-langpack/2.0"

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
	Java       Language = "java"
	Swift      Language = "swift"
	CSharp     Language = "csharp"
)

// Languages returns every langpack language in a fixed order.
func Languages() []Language { return []Language{Go, Python, TypeScript, PHP, Java, Swift, CSharp} }

// ParseLanguage parses a language name as used in URLs and flags.
func ParseLanguage(s string) (Language, error) {
	for _, l := range Languages() {
		if strings.EqualFold(s, string(l)) {
			return l, nil
		}
	}
	names := make([]string, 0, len(Languages()))
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
	// Version is the pack's semantic version, the same in every language;
	// the zero Version when only hashing.
	Version Version
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
	JavaPackage   string // "dev.clickstream.events.web"
	MavenGroup    string // "dev.clickstream"
	MavenArtifact string // "events-web"
	SwiftModule   string // "ClickstreamEventsWeb": the SwiftPM package, product and module
	CSharpName    string // "Clickstream.Events.Web": the C# namespace and the NuGet package id
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
	PackageVersion   string   `json:"package_version"` // the semantic version, "1.4.0"
	Revision         uint64   `json:"catalogue_revision"`
	GeneratorVersion string   `json:"generator_version"`
	// ContentHash is "sha256:<hex>" over the files generated at the zero Version,
	// manifest excluded: equal input gives an equal hash whatever the version.
	ContentHash string   `json:"content_hash"`
	Events      []string `json:"events"` // message names
}

// Pack is a generated langpack: files sorted by path.
type Pack struct {
	Manifest Manifest
	Files    []File
}

// NamesFor returns the package coordinates of an environment's langpack.
// The environment name is lower-cased and split into words at anything but
// a letter or a digit: "Partner_Tickets" gives "clickstream-events-partner-tickets".
func NamesFor(environment string) Names {
	words := wordsOf(environment)
	if len(words) == 0 {
		words = []string{"default"}
	}
	dashed := strings.Join(words, "-")
	ns := camel(strings.Join(words, "_"))
	if ns[0] >= '0' && ns[0] <= '9' {
		ns = "Env" + ns
	}
	javaPkg := strings.Join(words, "_")
	if javaPkg[0] >= '0' && javaPkg[0] <= '9' {
		javaPkg = "env" + javaPkg
	}
	javaPkg = javaIdent(javaPkg)
	return Names{
		GoModule:      "langpack.clickstream.dev/" + dashed,
		PythonDist:    "clickstream-events-" + dashed,
		PythonPackage: "clickstream_events_" + strings.Join(words, "_"),
		NPMPackage:    "@clickstream/events-" + dashed,
		ComposerName:  "clickstream/events-" + dashed,
		PHPNamespace:  `Clickstream\Events\` + ns,
		JavaPackage:   "dev.clickstream.events." + javaPkg,
		MavenGroup:    "dev.clickstream",
		MavenArtifact: "events-" + dashed,
		SwiftModule:   "ClickstreamEvents" + ns,
		CSharpName:    "Clickstream.Events." + ns,
	}
}

// Version is a langpack's semantic version (semver.org): the same number
// names the same content in every language.
type Version struct{ Major, Minor, Patch int }

// String is the version as packages write it: "1.4.0".
func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// IsZero reports whether v is the zero Version, the one packs are hashed at.
func (v Version) IsZero() bool { return v == Version{} }

// generator writes one language. files depend only on the catalogue;
// versioned writes the few files that carry the package version, so the
// content hash is taken at the zero Version without generating everything twice.
type generator interface {
	files(c *catalogue) ([]File, error)
	versioned(c *catalogue, v Version) []File
}

func generatorFor(lang Language) (generator, error) {
	switch lang {
	case Go:
		return goGenerator{}, nil
	case Python:
		return pythonGenerator{}, nil
	case TypeScript:
		return typescriptGenerator{}, nil
	case PHP:
		return phpGenerator{}, nil
	case Java:
		return javaGenerator{}, nil
	case Swift:
		return swiftGenerator{}, nil
	case CSharp:
		return csharpGenerator{}, nil
	}
	_, err := ParseLanguage(string(lang))
	return nil, err
}

// Generate generates the langpack of one language. The result depends only
// on lang and in: equal input gives equal bytes.
func Generate(lang Language, in Input) (*Pack, error) {
	gen, err := generatorFor(lang)
	if err != nil {
		return nil, err
	}
	if in.Version.Major < 0 || in.Version.Minor < 0 || in.Version.Patch < 0 {
		return nil, fmt.Errorf("generate %s langpack for %s: version %s has a negative part", lang, in.Environment, in.Version)
	}
	cat, err := newCatalogue(in)
	if err != nil {
		return nil, err
	}
	files, err := gen.files(cat)
	if err != nil {
		return nil, fmt.Errorf("generate %s langpack for %s (revision %d): %w", lang, in.Environment, in.Revision, err)
	}
	hash := contentHash(append(slices.Clone(files), gen.versioned(cat, Version{})...))
	files = append(files, gen.versioned(cat, in.Version)...)

	m := Manifest{
		Language:         lang,
		Environment:      in.Environment,
		PackageVersion:   in.Version.String(),
		Revision:         in.Revision,
		GeneratorVersion: GeneratorVersion,
		ContentHash:      hash,
		Events:           make([]string, 0, len(cat.events)),
	}
	for _, ev := range cat.events {
		m.Events = append(m.Events, ev.MessageName)
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("generate %s langpack for %s: manifest: %w", lang, in.Environment, err)
	}
	files = append(files, File{Path: ManifestPath, Data: append(manifest, '\n')})
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	for i := 1; i < len(files); i++ {
		if files[i].Path == files[i-1].Path {
			return nil, fmt.Errorf("generate %s langpack for %s: two files at %s", lang, in.Environment, files[i].Path)
		}
	}
	return &Pack{Manifest: m, Files: files}, nil
}

// contentHash is "sha256:<hex>" over the files sorted by path, each as its
// path, its length and its bytes.
func contentHash(files []File) string {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	h := sha256.New()
	for _, f := range sorted {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Path, len(f.Data))
		h.Write(f.Data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// File returns the file at path, if the pack has it.
func (p *Pack) File(path string) ([]byte, bool) {
	i, ok := slices.BinarySearchFunc(p.Files, path, func(f File, path string) int { return strings.Compare(f.Path, path) })
	if !ok {
		return nil, false
	}
	return p.Files[i].Data, true
}

// Dir is the top-level directory of the pack's archive:
// "<lang>-<environment words>-<package version>", e.g. "python-web-1.3.0".
func (p *Pack) Dir() string {
	words := wordsOf(p.Manifest.Environment)
	return fmt.Sprintf("%s-%s-%s", p.Manifest.Language, strings.Join(words, "-"), p.Manifest.PackageVersion)
}

// archiveTime is the modification time of every archive entry: a fixed
// date, so equal packs give equal archives.
var archiveTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// TarGz packs the files under the top-level directory Dir(), so
// `curl … | tar xz` gives one directory holding the package. The archive is
// deterministic: entries sorted by path with their directories first, a
// fixed modification time, owner 0, mode 0644 (0755 for directories), no
// absolute paths and a gzip header without name or time.
func (p *Pack) TarGz() ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	root := p.Dir()
	dirs := map[string]bool{}
	writeDir := func(dir string) error {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: archiveTime, Format: tar.FormatPAX}
		return tw.WriteHeader(hdr)
	}
	if err := writeDir(root); err != nil {
		return nil, fmt.Errorf("pack %s: %w", root, err)
	}
	for _, f := range p.Files {
		if f.Path == "" || path.IsAbs(f.Path) || strings.Contains("/"+f.Path+"/", "/../") {
			return nil, fmt.Errorf("pack %s: unsafe path %q", root, f.Path)
		}
		parts := strings.Split(f.Path, "/")
		for i := 1; i < len(parts); i++ {
			dir := strings.Join(parts[:i], "/")
			if !dirs[dir] {
				dirs[dir] = true
				if err := writeDir(root + "/" + dir); err != nil {
					return nil, fmt.Errorf("pack %s: %w", root, err)
				}
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: root + "/" + f.Path, Mode: 0o644, Size: int64(len(f.Data)), ModTime: archiveTime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("pack %s: %s: %w", root, f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("pack %s: %s: %w", root, f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("pack %s: %w", root, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("pack %s: %w", root, err)
	}
	return buf.Bytes(), nil
}

// GeneratorMajor is the major of a GeneratorVersion string
// ("clickstream-langpack/2.0" gives 2; "clickstream-langpack/1" gives 1),
// or -1 when it has none.
func GeneratorMajor(generator string) int {
	_, v, ok := strings.Cut(generator, "/")
	if !ok {
		return -1
	}
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return -1
	}
	return n
}

package langpack_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// fixtureInput is the schema package's small fixed catalogue as the
// registry hands it to the generators: PhotoStatusChangedV1 deprecated,
// owners set, the files with all their imports.
func fixtureInput(t testing.TB, version int) langpack.Input {
	t.Helper()
	set, err := schema.Compile(context.Background(), os.DirFS(filepath.Join("..", "schema", "testdata", "catalogue")), protosrc.FS)
	if err != nil {
		t.Fatalf("compile the fixture catalogue: %v", err)
	}
	events, vs := set.Events()
	if len(vs) > 0 {
		t.Fatalf("fixture catalogue violations: %v", vs)
	}
	in := langpack.Input{Environment: "web", Revision: 7, Version: langpack.Version{Major: 1, Minor: version}, Files: fileSet(set.Files)}
	for _, ev := range events {
		in.Events = append(in.Events, langpack.Event{
			ID: ev.ID, Version: ev.Version, MessageName: ev.MessageName, Description: ev.Description,
			Deprecated: ev.MessageName == "fixture.events.v1.PhotoStatusChangedV1",
			OwnerTeam:  "ugc",
		})
	}
	return in
}

// fileSet returns files and everything they import, each after its imports.
func fileSet(files []protoreflect.FileDescriptor) *descriptorpb.FileDescriptorSet {
	out := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			visit(imports.Get(i).FileDescriptor)
		}
		out.File = append(out.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range files {
		visit(fd)
	}
	return out
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// writePack writes the pack's files under dir.
// withRuntimeCopiesNamed returns p with each file that is a copy of a file
// under runtime/<lang>/ (the same lines but at most five: a generated-code
// header, the package or namespace clause, an import path) replaced by a note
// at <path>.runtime-copy.txt naming that file and the changed lines, as the
// golden files keep them:
// the runtime files are checked on their own by the language's toolchain,
// and a golden copy of each would be a second copy to keep in step. A
// runtime copy that stops being one shows in the golden diff in full.
func withRuntimeCopiesNamed(t testing.TB, lang langpack.Language, p *langpack.Pack) *langpack.Pack {
	t.Helper()
	root := filepath.Join("runtime", string(lang))
	runtime := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		runtime[filepath.ToSlash(path)] = strings.Split(string(data), "\n")
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	out := &langpack.Pack{Manifest: p.Manifest}
	for _, f := range p.Files {
		lines := strings.Split(string(f.Data), "\n")
	copies:
		for _, src := range slices.Sorted(maps.Keys(runtime)) {
			r := runtime[src]
			// A copy may start with a generated-code header of a few lines.
			for k := 0; k <= 3; k++ {
				if len(lines)-k != len(r) || len(r) < 10 {
					continue
				}
				var changed []string
				for i := range lines {
					if i < k || lines[i] != r[i-k] {
						changed = append(changed, fmt.Sprintf("%d: %s", i+1, lines[i]))
					}
				}
				if len(changed) <= 5 {
					note := fmt.Sprintf("runtime copy of %s (%d lines); the lines generation adds or changes:\n%s\n", src, len(lines), strings.Join(changed, "\n"))
					f = langpack.File{Path: f.Path + ".runtime-copy.txt", Data: []byte(note)}
					break copies
				}
			}
		}
		out.Files = append(out.Files, f)
	}
	return out
}

func writePack(t testing.TB, p *langpack.Pack, dir string) {
	t.Helper()
	for _, f := range p.Files {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns every file under dir, by slash path.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// TestGolden compares each language's langpack of the fixture catalogue
// with testdata/golden/<lang>; -update rewrites them.
func TestGolden(t *testing.T) {
	for _, lang := range langpack.Languages() {
		t.Run(string(lang), func(t *testing.T) {
			p, err := langpack.Generate(lang, fixtureInput(t, 3))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", string(lang))
			p = withRuntimeCopiesNamed(t, lang, p)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				writePack(t, p, dir)
				return
			}
			want := readTree(t, dir)
			if len(want) == 0 {
				t.Fatalf("no golden files in %s: run go test ./services/registry/langpack -update", dir)
			}
			got := map[string][]byte{}
			for _, f := range p.Files {
				got[f.Path] = f.Data
			}
			for path, w := range want {
				g, ok := got[path]
				switch {
				case !ok:
					t.Errorf("%s: golden file is not generated any more", path)
				case !bytes.Equal(g, w):
					t.Errorf("%s differs from the golden file (run with -update and review the diff):\n%s", path, firstDiff(g, w))
				}
			}
			for path := range got {
				if _, ok := want[path]; !ok {
					t.Errorf("%s: generated but has no golden file", path)
				}
			}
		})
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n  got:  " + gl + "\n  want: " + wl
		}
	}
	return "(lengths differ)"
}

// TestDeterministic: generating twice gives the same bytes and the same
// archive; the content hash does not depend on the langpack version but
// does on the content.
func TestDeterministic(t *testing.T) {
	for _, lang := range langpack.Languages() {
		t.Run(string(lang), func(t *testing.T) {
			a, err := langpack.Generate(lang, fixtureInput(t, 3))
			if err != nil {
				t.Fatal(err)
			}
			b, err := langpack.Generate(lang, fixtureInput(t, 3))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(a.Files, b.Files, func(x, y langpack.File) bool { return x.Path == y.Path && bytes.Equal(x.Data, y.Data) }) {
				t.Fatal("two generations of the same input differ")
			}
			ta, err := a.TarGz()
			if err != nil {
				t.Fatal(err)
			}
			tb, err := b.TarGz()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ta, tb) {
				t.Fatal("two archives of the same input differ")
			}

			v0, err := langpack.Generate(lang, fixtureInput(t, 0))
			if err != nil {
				t.Fatal(err)
			}
			v9, err := langpack.Generate(lang, fixtureInput(t, 9))
			if err != nil {
				t.Fatal(err)
			}
			if a.Manifest.ContentHash != v0.Manifest.ContentHash || a.Manifest.ContentHash != v9.Manifest.ContentHash {
				t.Fatalf("content hash depends on the version: v3 %s, v0 %s, v9 %s", a.Manifest.ContentHash, v0.Manifest.ContentHash, v9.Manifest.ContentHash)
			}
			if v9.Manifest.PackageVersion != "1.9.0" {
				t.Fatalf("version 9 manifest: %+v", v9.Manifest)
			}
			if slices.EqualFunc(a.Files, v9.Files, func(x, y langpack.File) bool { return x.Path == y.Path && bytes.Equal(x.Data, y.Data) }) {
				t.Fatal("versions 3 and 9 have identical files: the package version is not written anywhere")
			}

			less := fixtureInput(t, 3)
			less.Events = less.Events[:len(less.Events)-1]
			other, err := langpack.Generate(lang, less)
			if err != nil {
				t.Fatal(err)
			}
			if other.Manifest.ContentHash == a.Manifest.ContentHash {
				t.Fatal("dropping an event left the content hash unchanged")
			}
			if !strings.HasPrefix(a.Manifest.ContentHash, "sha256:") || len(a.Manifest.ContentHash) != len("sha256:")+64 {
				t.Fatalf("content hash %q is not sha256:<hex>", a.Manifest.ContentHash)
			}
		})
	}
}

// TestManifest: the manifest is in the pack and names exactly the input's events.
func TestManifest(t *testing.T) {
	in := fixtureInput(t, 3)
	in.Events = slices.DeleteFunc(in.Events, func(e langpack.Event) bool { return e.ID == 9001 })
	for _, lang := range langpack.Languages() {
		p, err := langpack.Generate(lang, in)
		if err != nil {
			t.Fatal(err)
		}
		data, ok := p.File(langpack.ManifestPath)
		if !ok {
			t.Fatalf("%s: no %s in the pack", lang, langpack.ManifestPath)
		}
		var m langpack.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		want := langpack.Manifest{
			Language: lang, Environment: "web", PackageVersion: "1.3.0", Revision: 7,
			GeneratorVersion: langpack.GeneratorVersion, ContentHash: p.Manifest.ContentHash,
			Events: []string{"fixture.events.v1.ItemViewV1", "fixture.events.v1.PhotoStatusChangedV1", "fixture.events.v1.PhotoStatusChangedV2"},
		}
		if !slices.Equal(m.Events, want.Events) || m.Language != want.Language || m.Environment != want.Environment ||
			m.PackageVersion != want.PackageVersion || m.Revision != want.Revision ||
			m.GeneratorVersion != want.GeneratorVersion || m.ContentHash != want.ContentHash {
			t.Errorf("%s manifest:\n got %+v\nwant %+v", lang, m, want)
		}
		for _, f := range p.Files {
			if bytes.Contains(f.Data, []byte("HeartbeatV1")) {
				t.Errorf("%s: %s mentions HeartbeatV1, which the environment may not send", lang, f.Path)
			}
		}
	}
}

// TestTarGz: the archive holds the files under one top-level directory,
// directories first, with fixed times, owners and modes.
func TestTarGz(t *testing.T) {
	p, err := langpack.Generate(langpack.Python, fixtureInput(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	data, err := p.TarGz()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q, time %v", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	root := "python-web-1.3.0/"
	if p.Dir()+"/" != root {
		t.Fatalf("Dir() = %q, want %q", p.Dir(), root)
	}
	files := map[string][]byte{}
	dirs := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hdr.Name, root) {
			t.Fatalf("entry %q is outside %s", hdr.Name, root)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || !hdr.ModTime.Equal(hdr.ModTime.UTC()) || hdr.ModTime.Year() != 2020 {
			t.Errorf("%s: uid %d gid %d uname %q mtime %v", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.ModTime)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if hdr.Mode != 0o755 {
				t.Errorf("%s: mode %o", hdr.Name, hdr.Mode)
			}
			dirs[strings.TrimSuffix(hdr.Name, "/")] = true
		case tar.TypeReg:
			if hdr.Mode != 0o644 {
				t.Errorf("%s: mode %o", hdr.Name, hdr.Mode)
			}
			if !dirs[filepath.ToSlash(filepath.Dir(hdr.Name))] {
				t.Errorf("%s comes before its directory", hdr.Name)
			}
			b, _ := io.ReadAll(tr)
			files[strings.TrimPrefix(hdr.Name, root)] = b
		default:
			t.Errorf("%s: entry type %c", hdr.Name, hdr.Typeflag)
		}
	}
	if len(files) != len(p.Files) {
		t.Fatalf("archive has %d files, pack %d", len(files), len(p.Files))
	}
	for _, f := range p.Files {
		if !bytes.Equal(files[f.Path], f.Data) {
			t.Errorf("%s differs in the archive", f.Path)
		}
	}
}

func TestParseLanguage(t *testing.T) {
	for _, l := range langpack.Languages() {
		got, err := langpack.ParseLanguage(strings.ToUpper(string(l)))
		if err != nil || got != l {
			t.Errorf("ParseLanguage(%q) = %q, %v", strings.ToUpper(string(l)), got, err)
		}
	}
	_, err := langpack.ParseLanguage("ruby")
	if err == nil || !strings.Contains(err.Error(), "go, python, typescript, php, java, swift, csharp") {
		t.Errorf("ParseLanguage(ruby) error %v does not list the languages", err)
	}
	if _, err := langpack.Generate("ruby", fixtureInput(t, 1)); err == nil {
		t.Error("Generate(ruby) succeeded")
	}
}

func TestNamesFor(t *testing.T) {
	got := langpack.NamesFor("Partner_Tickets")
	want := langpack.Names{
		GoModule:      "langpack.clickstream.dev/partner-tickets",
		PythonDist:    "clickstream-events-partner-tickets",
		PythonPackage: "clickstream_events_partner_tickets",
		NPMPackage:    "@clickstream/events-partner-tickets",
		ComposerName:  "clickstream/events-partner-tickets",
		PHPNamespace:  "Clickstream\\Events\\PartnerTickets",
		JavaPackage:   "dev.clickstream.events.partner_tickets",
		MavenGroup:    "dev.clickstream",
		MavenArtifact: "events-partner-tickets",
		SwiftModule:   "ClickstreamEventsPartnerTickets",
		CSharpName:    "Clickstream.Events.PartnerTickets",
	}
	if got != want {
		t.Errorf("NamesFor:\n got %+v\nwant %+v", got, want)
	}
	for env, pkg := range map[string]string{"2go": "dev.clickstream.events.env2go", "new": "dev.clickstream.events.new_"} {
		if got := langpack.NamesFor(env).JavaPackage; got != pkg {
			t.Errorf("NamesFor(%q).JavaPackage = %q, want %q", env, got, pkg)
		}
	}
}

package langpack_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// TestBuildComposerDist: the dist zip holds composer.json and src/ at its
// root, states its SHA-1, and is the same bytes for the same files; a pack
// without composer.json gets one with a PSR-4 autoload of src/.
func TestBuildComposerDist(t *testing.T) {
	names := langpack.NamesFor("web")
	files := []langpack.File{
		{Path: "README.md", Data: []byte("# web\n")},
		{Path: "src/Events/ItemViewV2.php", Data: []byte("<?php\n")},
		{Path: "src/Sender.php", Data: []byte("<?php\n")},
		{Path: "tests/SenderTest.php", Data: []byte("<?php\n")},
	}
	dist, err := langpack.BuildComposerDist(names, files)
	if err != nil {
		t.Fatal(err)
	}
	again, err := langpack.BuildComposerDist(names, files)
	if err != nil || !bytes.Equal(again.Data, dist.Data) {
		t.Fatalf("the same files give other bytes (%v)", err)
	}
	if sum := sha1.Sum(dist.Data); hex.EncodeToString(sum[:]) != dist.Shasum {
		t.Errorf("Shasum %s, want %x", dist.Shasum, sum)
	}
	zr, err := zip.NewReader(bytes.NewReader(dist.Data), int64(len(dist.Data)))
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, f := range zr.File {
		entries = append(entries, f.Name)
	}
	if got, want := strings.Join(entries, " "), "composer.json README.md src/Events/ItemViewV2.php src/Sender.php"; got != want {
		t.Errorf("dist entries %q, want %q", got, want)
	}
	autoload, _ := dist.Package["autoload"].(map[string]any)
	psr4, _ := autoload["psr-4"].(map[string]any)
	if dist.Package["name"] != "clickstream/events-web" || psr4[`Clickstream\Events\Web\`] != "src/" {
		t.Errorf("composer.json %v, want clickstream/events-web autoloading src/", dist.Package)
	}

	withOwn := append([]langpack.File{{Path: "composer.json", Data: []byte(`{"name": "clickstream/events-app"}`)}}, files...)
	if _, err := langpack.BuildComposerDist(names, withOwn); err == nil || !strings.Contains(err.Error(), "clickstream/events-app") {
		t.Errorf("a composer.json of another package: %v, want an error naming it", err)
	}
	if _, err := langpack.BuildComposerDist(names, files[:1]); err == nil || !strings.Contains(err.Error(), "src/") {
		t.Errorf("a pack without src/: %v, want an error", err)
	}
}

// BenchmarkBuildComposerDist builds the dist zip of the PHP langpack of
// 1,000 event versions (what /composer/packages.json pays per stored
// version when nothing is cached).
func BenchmarkBuildComposerDist(b *testing.B) {
	in := syntheticInput()
	p, err := langpack.Generate(langpack.PHP, in)
	if err != nil {
		b.Fatal(err)
	}
	names := langpack.NamesFor(in.Environment)
	var size int
	for b.Loop() {
		d, err := langpack.BuildComposerDist(names, p.Files)
		if err != nil {
			b.Fatal(err)
		}
		size = len(d.Data)
	}
	b.ReportMetric(float64(len(p.Files)), "files")
	b.ReportMetric(float64(size), "zip-bytes")
}

// TestComposerDistSum: the streamed SHA-1 and composer.json equal those of
// the built zip, and the zip of a fixed input keeps its pinned SHA-1 — a
// composer.lock holds it, so a registry upgrade must not change the bytes of
// a version's dist.
func TestComposerDistSum(t *testing.T) {
	names := langpack.NamesFor("web")
	files := []langpack.File{
		{Path: "README.md", Data: []byte("# web\n")},
		{Path: "src/Events/ItemViewV2.php", Data: []byte("<?php\n")},
		{Path: "src/Sender.php", Data: []byte("<?php\n")},
	}
	dist, err := langpack.BuildComposerDist(names, files)
	if err != nil {
		t.Fatal(err)
	}
	sum, pkg, err := langpack.ComposerDistSum(names, files)
	if err != nil {
		t.Fatal(err)
	}
	if sum != dist.Shasum || pkg["name"] != dist.Package["name"] {
		t.Errorf("ComposerDistSum %s %v, BuildComposerDist %s %v", sum, pkg["name"], dist.Shasum, dist.Package["name"])
	}
	const pinned = "f335a8fb6458a9ad98ceb202fb84e0c9ec585f2b"
	if dist.Shasum != pinned {
		t.Errorf("the dist of the fixed input has SHA-1 %s, pinned %s: its bytes changed, which breaks composer.lock files", dist.Shasum, pinned)
	}
	if _, _, err := langpack.ComposerDistSum(names, files[:1]); err == nil {
		t.Error("a pack without src/ has a sum")
	}
}

// BenchmarkComposerDistSum is BenchmarkBuildComposerDist without keeping
// the zip.
func BenchmarkComposerDistSum(b *testing.B) {
	in := syntheticInput()
	p, err := langpack.Generate(langpack.PHP, in)
	if err != nil {
		b.Fatal(err)
	}
	names := langpack.NamesFor(in.Environment)
	for b.Loop() {
		if _, _, err := langpack.ComposerDistSum(names, p.Files); err != nil {
			b.Fatal(err)
		}
	}
}

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

package langpack_test

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// TestGoModuleZip: the module zip of a Go pack follows golang.org/x/mod/zip
// rules, holds the pack's go.mod and files under module@version/, and is
// the same bytes for the same files.
func TestGoModuleZip(t *testing.T) {
	const mod = "langpack.clickstream.dev/web"
	files := []langpack.File{
		{Path: ".hidden", Data: []byte("left out")},
		{Path: "README.md", Data: []byte("# web\n")},
		{Path: "events.go", Data: []byte("package web\n")},
		{Path: "go.mod", Data: []byte("module " + mod + "\n\ngo 1.26\n")},
		{Path: "sub/v1/a.go", Data: []byte("package v1\n")},
	}
	data, err := langpack.GoModuleZipAt(mod, langpack.Version{Major: 1, Minor: 3}, files)
	if err != nil {
		t.Fatal(err)
	}
	again, err := langpack.GoModuleZipAt(mod, langpack.Version{Major: 1, Minor: 3}, files)
	if err != nil || !bytes.Equal(data, again) {
		t.Fatalf("the same files give other bytes (%v)", err)
	}
	path := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	checked, err := modzip.CheckZip(module.Version{Path: mod, Version: "v1.3.0"}, path)
	if err != nil || len(checked.Invalid) > 0 {
		t.Fatalf("CheckZip: %v; invalid: %v", err, checked.Invalid)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	want := []string{mod + "@v1.3.0/go.mod", mod + "@v1.3.0/README.md", mod + "@v1.3.0/events.go", mod + "@v1.3.0/sub/v1/a.go"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("zip entries %v, want %v", names, want)
	}

	// A pack without go.mod gets a minimal one; a go.mod of another
	// module is refused.
	gomod, err := langpack.GoModFile(mod, files[1:3])
	if err != nil || string(gomod) != "module "+mod+"\n" {
		t.Errorf("GoModFile without go.mod: %q, %v", gomod, err)
	}
	if _, err := langpack.GoModuleZipAt(mod, langpack.Version{Major: 1, Minor: 1}, []langpack.File{{Path: "go.mod", Data: []byte("module example.com/other\n")}}); err == nil ||
		!strings.Contains(err.Error(), "example.com/other") {
		t.Errorf("a go.mod of another module: %v, want an error naming it", err)
	}
}

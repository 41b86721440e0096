package langpack_test

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// TestBuildWheel: the wheel holds the import package and a dist-info with
// METADATA, WHEEL and RECORD, leaves the rest of the pack out, and is the
// same bytes for the same files.
func TestBuildWheel(t *testing.T) {
	names := langpack.NamesFor("partner_tickets")
	files := []langpack.File{
		{Path: "README.md", Data: []byte("# tickets\n")},
		{Path: "clickstream-langpack.json", Data: []byte("{}\n")},
		{Path: names.PythonPackage + "/__init__.py", Data: []byte("X = 1\n")},
		{Path: names.PythonPackage + "/py.typed", Data: nil},
		{Path: "pyproject.toml", Data: []byte("[project]\nrequires-python = \">=3.9\"\n")},
	}
	w, err := langpack.BuildWheel(names, "1.4.0", "Events\nof tickets", files)
	if err != nil {
		t.Fatal(err)
	}
	if want := "clickstream_events_partner_tickets-1.4.0-py3-none-any.whl"; w.Filename != want {
		t.Errorf("file name %s, want %s", w.Filename, want)
	}
	again, err := langpack.BuildWheel(names, "1.4.0", "Events\nof tickets", files)
	if err != nil || !bytes.Equal(again.Data, w.Data) {
		t.Fatalf("the same files give other bytes (%v)", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(w.Data), int64(len(w.Data)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		got[f.Name] = string(b)
	}
	info := "clickstream_events_partner_tickets-1.4.0.dist-info/"
	for _, name := range []string{names.PythonPackage + "/__init__.py", names.PythonPackage + "/py.typed", info + "METADATA", info + "WHEEL", info + "RECORD"} {
		if _, ok := got[name]; !ok {
			t.Errorf("the wheel lacks %s", name)
		}
	}
	if len(got) != 5 {
		t.Errorf("the wheel holds %d files, want 5 (README, manifest and pyproject left out)", len(got))
	}
	for _, want := range []string{"Name: clickstream-events-partner-tickets\n", "Version: 1.4.0\n", "Summary: Events of tickets\n", "Requires-Python: >=3.9\n", "# tickets"} {
		if !strings.Contains(got[info+"METADATA"], want) {
			t.Errorf("METADATA lacks %q:\n%s", want, got[info+"METADATA"])
		}
	}
	if !strings.Contains(got[info+"RECORD"], names.PythonPackage+"/py.typed,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n") {
		t.Errorf("RECORD lacks the hash of the empty py.typed:\n%s", got[info+"RECORD"])
	}

	if _, err := langpack.BuildWheel(names, "1.4.0", "", files[:2]); err == nil || !strings.Contains(err.Error(), names.PythonPackage) {
		t.Errorf("a pack without the import package: %v, want an error naming it", err)
	}
}

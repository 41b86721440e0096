package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// TestLangpackFetch: `clickstream langpack fetch` unpacks the langpack the
// GetLangpack RPC returns into -o, and says what it fetched; mistakes are
// explained.
func TestLangpackFetch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	url := startRegistry(t)
	govern(t, url) // kiosk may send every version of PhotoStatusChanged
	out := filepath.Join(t.TempDir(), "out")

	stdout, stderr, err := runCLI(t, "langpack", "fetch", "--lang", "python", "--env", "kiosk", "-o", out, "--registry", url)
	if err != nil {
		t.Fatalf("langpack fetch: %v\n%s", err, stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, langpack.ManifestPath))
	if err != nil {
		t.Fatalf("fetch did not unpack the manifest into -o: %v", err)
	}
	var m langpack.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if want := "python langpack " + m.PackageVersion + " of kiosk: 2 events, "; !strings.HasPrefix(stdout, want) ||
		!strings.Contains(stdout, "\nversion "+m.PackageVersion+": first version\n") {
		t.Errorf("stdout %q, want it to start with %q and say why the version was made", stdout, want)
	}
	want := []string{"clickstream.events.v1.PhotoStatusChangedV1", "clickstream.events.v1.PhotoStatusChangedV2"}
	if !slices.Equal(m.Events, want) {
		t.Errorf("fetched langpack holds %v, want %v", m.Events, want)
	}

	// Every file of the RPC's archive is unpacked with its bytes.
	resp, err := registryv1connect.NewRegistryServiceClient(http.DefaultClient, url).GetLangpack(context.Background(),
		&registryv1.GetLangpackRequest{Language: "python", Environment: "kiosk", Version: m.PackageVersion})
	if err != nil {
		t.Fatal(err)
	}
	compare := filepath.Join(t.TempDir(), "compare")
	n, err := extractLangpack(resp.GetArchive(), compare)
	if err != nil || n < 3 {
		t.Fatalf("extract the RPC's archive: %d files, %v", n, err)
	}
	err = filepath.WalkDir(compare, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(compare, path)
		a, _ := os.ReadFile(path)
		b, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: fetched file differs from the RPC's archive (%v)", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"--lang", "python", "--env", "kiosk"}, "-o are required"},
		{[]string{"--lang", "cobol", "--env", "kiosk", "-o", out}, `unknown langpack language "cobol"`},
		{[]string{"--lang", "go", "--env", "mall", "-o", out}, `environment "mall" does not exist; environments: kiosk`},
		{[]string{"--lang", "python", "--env", "kiosk", "--version", "4.1.0", "-o", out}, "version 4.1.0 of environment \"kiosk\" does not exist; versions: 1, the newest " + m.PackageVersion},
	} {
		_, _, err := runCLI(t, append([]string{"langpack", "fetch", "--registry", url}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("langpack fetch %v: %v, want an error saying %q", tt.args, err, tt.says)
		}
	}
}

// TestExtractLangpackRefusesPathsOutsideTheDirectory: a hostile archive
// cannot write outside -o.
func TestExtractLangpackRefusesPathsOutsideTheDirectory(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	data := []byte("x")
	if err := tw.WriteHeader(&tar.Header{Name: "python-web-1.1.0/../../escape.txt", Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	zw.Close()
	archive := buf.Bytes()
	dir := t.TempDir()
	if _, err := extractLangpack(archive, filepath.Join(dir, "out")); err == nil {
		t.Error("an entry with .. was extracted")
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.txt")); err == nil {
		t.Error("a file was written outside the output directory")
	}
}

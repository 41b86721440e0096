package harness

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	protosrc "github.com/clickstream-dev/clickstream/proto"
)

// CatalogueWithV2 is the repository's event catalogue with <Event>V2 added
// to file (e.g. "clickstream/events/v1/place_card_opened.proto"): a copy of
// <Event>V1 under the next version, which a test pushes to a running stack
// as a version the registry does not know yet.
func CatalogueWithV2(t testing.TB, file, event string) fstest.MapFS {
	t.Helper()
	files := fstest.MapFS{}
	err := fs.WalkDir(protosrc.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(protosrc.FS, path)
		files[path] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if files[file] == nil {
		t.Fatalf("the catalogue has no %s", file)
	}
	src := string(files[file].Data)
	v1 := regexp.MustCompile(`(?s)message ` + event + `V1 \{.*?\n\}\n`).FindString(src)
	if v1 == "" {
		t.Fatalf("%s has no %sV1", file, event)
	}
	v2 := strings.Replace(strings.Replace(v1, event+"V1", event+"V2", 1), "version: 1", "version: 2", 1)
	files[file] = &fstest.MapFile{Data: []byte(src + "\n" + v2)}
	return files
}

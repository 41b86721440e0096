package registry_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/services/registry"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// Event ids of the repo's catalogue used by the langpack tests.
const (
	itemViewID        = 1001
	searchQueryID     = 1002
	photoStatusID     = 2001
	placeCardOpenedID = 2005
	langpackTestActor = "langpack-test"
)

// webRegistry returns a store with the repo's catalogue and an environment
// "web" that may send ItemView v1 and v2, PlaceCardOpened v1 and
// PhotoStatusChanged v1 (retired), and an environment "app" that may send
// ItemView v2; and the URL of a registry serving it.
func webRegistry(t *testing.T) (*registry.PostgresStore, string) {
	t.Helper()
	ctx := t.Context()
	store, _ := registeredStore(t)
	for _, env := range []string{"web", "app"} {
		if _, err := store.CreateEnvironment(ctx, env, "langpack test", langpackTestActor); err != nil {
			t.Fatal(err)
		}
	}
	allow(t, store, "web", itemViewID, 0, true)
	allow(t, store, "web", placeCardOpenedID, 1, true)
	allow(t, store, "web", photoStatusID, 1, true)
	allow(t, store, "app", itemViewID, 2, true)
	if _, err := store.SetLifecycle(ctx, photoStatusID, 1, registry.LifecycleRetired, langpackTestActor); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetLifecycle(ctx, itemViewID, 1, registry.LifecycleDeprecated, langpackTestActor); err != nil {
		t.Fatal(err)
	}
	return store, serveRegistry(t, registry.Config{AdminToken: "langpack-token"}, store)
}

func allow(t *testing.T, store *registry.PostgresStore, env string, id, version uint32, allowed bool) {
	t.Helper()
	if _, err := store.SetEventAccess(t.Context(), registry.AccessChange{
		Environment: env, EventID: id, Version: version, Allowed: allowed, Actor: langpackTestActor,
	}); err != nil {
		t.Fatalf("allow=%v event %d v%d in %s: %v", allowed, id, version, env, err)
	}
}

// sendableVersions is what the registry says env may send, retired versions
// left out: what its langpack must hold.
func sendableVersions(t *testing.T, store *registry.PostgresStore, env string) []string {
	t.Helper()
	versions, _, err := store.AllowedVersions(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range versions {
		if v.Status != registry.LifecycleRetired {
			names = append(names, v.MessageName)
		}
	}
	return names
}

// postLangpack does POST /langpack/{lang}/{version}/ with body.
func postLangpack(t *testing.T, url, lang, version, body string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Post(url+"/langpack/"+lang+"/"+version+"/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data, resp.Header
}

// fetchLangpack downloads a langpack and fails the test on any status but
// 200; it returns the archive and the version the registry says it is.
func fetchLangpack(t *testing.T, url, lang, version, env string) ([]byte, langpack.Version) {
	t.Helper()
	status, data, header := postLangpack(t, url, lang, version, `{"environment":"`+env+`"}`)
	if status != http.StatusOK {
		t.Fatalf("POST /langpack/%s/%s/ for %s: status %d: %s", lang, version, env, status, data)
	}
	if ct := header.Get("Content-Type"); ct != "application/gzip" {
		t.Errorf("Content-Type %q, want application/gzip", ct)
	}
	v, err := langpack.ParseVersion(header.Get("Clickstream-Langpack-Version"))
	if err != nil {
		t.Fatalf("version header: %v", err)
	}
	if m := manifestOf(t, data); m.PackageVersion != v.String() || m.Language != langpack.Language(lang) || m.Environment != env {
		t.Fatalf("POST /langpack/%s/%s/ for %s: the manifest says %s %s %s, the header version %s",
			lang, version, env, m.Language, m.Environment, m.PackageVersion, v)
	}
	return data, v
}

// untar returns the files of a tar.gz by path, top-level directory included.
func untarLangpack(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = b
		}
	}
}

// manifestOf decodes the manifest of a langpack archive.
func manifestOf(t *testing.T, archive []byte) langpack.Manifest {
	t.Helper()
	for name, data := range untarLangpack(t, archive) {
		if filepath.Base(name) == langpack.ManifestPath {
			var m langpack.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatal("the archive has no " + langpack.ManifestPath)
	return langpack.Manifest{}
}

// TestLangpackCurl: the documented curl command, run by curl and tar,
// yields a directory whose manifest lists exactly the versions "web" may
// send (retired left out), and no file mentions an event it may not send.
func TestLangpackCurl(t *testing.T) {
	if _, err := osexec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	store, url := webRegistry(t)
	want := sendableVersions(t, store, "web")
	if !slices.Equal(want, []string{"clickstream.events.v1.ItemViewV1", "clickstream.events.v1.ItemViewV2", "clickstream.events.v1.PlaceCardOpenedV1"}) {
		t.Fatalf("web may send %v: the test setup changed", want)
	}
	for _, lang := range langpack.Languages() {
		t.Run(string(lang), func(t *testing.T) {
			dir := t.TempDir()
			cmd := osexec.Command("sh", "-c", `curl -sSf -d '{"environment":"web"}' -H 'Content-Type: application/json' "$URL" | tar xz`)
			cmd.Dir = dir
			cmd.Env = append(cmd.Environ(), "URL="+url+"/langpack/"+string(lang)+"/latest/")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("curl | tar xz: %v\n%s", err, out)
			}
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), string(lang)+"-web-") {
				t.Fatalf("curl | tar xz gave %v (%v), want one directory %s-web-<version>", entries, err, lang)
			}
			top := filepath.Join(dir, entries[0].Name())
			data, err := os.ReadFile(filepath.Join(top, langpack.ManifestPath))
			if err != nil {
				t.Fatalf("curl | tar xz did not give %s: %v", top, err)
			}
			var m langpack.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Events, want) {
				t.Errorf("manifest events %v, want what web may send: %v", m.Events, want)
			}
			if v, err := langpack.ParseVersion(m.PackageVersion); err != nil || m.Environment != "web" || m.Language != lang ||
				entries[0].Name() != string(lang)+"-web-"+m.PackageVersion || v.Major != 1 || v.Patch != 0 {
				t.Errorf("manifest %+v in %s, want %s web at a first version 1.N.0 (%v)", m, entries[0].Name(), lang, err)
			}
			// Neither a retired version nor an event web may not send is in
			// any file.
			err = walkFiles(top, func(path string, data []byte) {
				for _, absent := range []string{"PhotoStatusChanged", "SearchQuery", "Payment"} {
					if bytes.Contains(data, []byte(absent)) {
						t.Errorf("%s mentions %s, which web may not send", path, absent)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLangpackVersions: a version changes exactly when content changes,
// and every version stays downloadable byte for byte, over HTTP and the RPC.
func TestLangpackVersions(t *testing.T) {
	store, url := webRegistry(t)
	rpc := registryv1connect.NewRegistryServiceClient(http.DefaultClient, url)
	ctx := t.Context()

	v1, first := fetchLangpack(t, url, "go", "latest", "web")
	again, v := fetchLangpack(t, url, "go", "latest", "web")
	if v != first || !bytes.Equal(again, v1) {
		t.Fatalf("nothing changed: latest is %s (equal bytes: %v), want %s, same bytes", v, bytes.Equal(again, v1), first)
	}

	// A change that is not web's (a new catalogue revision) keeps the version.
	allow(t, store, "app", searchQueryID, 1, true)
	if _, v := fetchLangpack(t, url, "go", "latest", "web"); v != first {
		t.Errorf("after a change in another environment latest is %s, want %s", v, first)
	}

	// Allowing a version in web is new content: a new minor version.
	allow(t, store, "web", searchQueryID, 1, true)
	v2, second := fetchLangpack(t, url, "go", "latest", "web")
	if second.Major != first.Major || second.Minor <= first.Minor || second.Patch != 0 {
		t.Fatalf("after allowing SearchQueryV1 in web latest is %s, want a minor version after %s", second, first)
	}
	if m := manifestOf(t, v2); !slices.Contains(m.Events, "clickstream.events.v1.SearchQueryV1") {
		t.Errorf("version %s manifest %+v lacks SearchQueryV1", second, m)
	}

	// The first version stays downloadable, byte for byte, over HTTP and
	// the RPC.
	if old, _ := fetchLangpack(t, url, "go", first.String(), "web"); !bytes.Equal(old, v1) {
		t.Errorf("version %s changed after %s was made", first, second)
	}
	for version, want := range map[string][]byte{first.String(): v1, "v" + second.String(): v2, "latest": v2} {
		resp, err := rpc.GetLangpack(ctx, &registryv1.GetLangpackRequest{Language: "go", Environment: "web", Version: version})
		if err != nil {
			t.Fatalf("GetLangpack %s: %v", version, err)
		}
		if !bytes.Equal(resp.GetArchive(), want) {
			t.Errorf("GetLangpack %s: the RPC's archive differs from the HTTP download", version)
		}
		if m := manifestOf(t, want); resp.GetLangpack().GetContentHash() != m.ContentHash ||
			!slices.Equal(resp.GetLangpack().GetEvents(), m.Events) || resp.GetLangpack().GetPackageVersion() != m.PackageVersion {
			t.Errorf("GetLangpack %s: manifest %v disagrees with the archive's %+v", version, resp.GetLangpack(), m)
		}
	}

	// Taking the version back removes API: a new major version, holding
	// what the first holds.
	allow(t, store, "web", searchQueryID, 1, false)
	v3, third := fetchLangpack(t, url, "go", "latest", "web")
	if third.Major != second.Major+1 || third.Minor <= second.Minor || third.Patch != 0 {
		t.Fatalf("after denying SearchQueryV1 again latest is %s, want a major version after %s", third, second)
	}
	if !slices.Equal(manifestOf(t, v3).Events, manifestOf(t, v1).Events) {
		t.Errorf("version %s holds %v, want %s's %v", third, manifestOf(t, v3).Events, first, manifestOf(t, v1).Events)
	}

	// Another language asked for the first time gets the same number.
	if _, v := fetchLangpack(t, url, "php", "latest", "web"); v != third {
		t.Errorf("the first PHP langpack is %s, want the line's newest %s", v, third)
	}
	list, err := rpc.ListLangpacks(ctx, &registryv1.ListLangpacksRequest{Environment: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range list.GetLangpacks() {
		got = append(got, l.GetLanguage()+"/"+l.GetPackageVersion())
	}
	if want := []string{"go/" + first.String(), "go/" + second.String(), "go/" + third.String(), "php/" + third.String()}; !slices.Equal(got, want) {
		t.Errorf("ListLangpacks: %v, want %v", got, want)
	}
}

// TestLangpackErrors: requests that cannot be served say why, naming the
// language, environment or version and what exists, as 400 or 404 over
// HTTP and InvalidArgument or NotFound over the RPC.
func TestLangpackErrors(t *testing.T) {
	_, url := webRegistry(t)
	_, v := fetchLangpack(t, url, "php", "latest", "web")
	rpc := registryv1connect.NewRegistryServiceClient(http.DefaultClient, url)

	tests := []struct {
		name, lang, version, body string
		status                    int
		code                      connect.Code
		says                      []string
	}{
		{"unknown language", "cobol", "latest", `{"environment":"web"}`, 400, connect.CodeInvalidArgument, []string{`"cobol"`, "go, python, typescript, php"}},
		{"bad version", "php", "v-two", `{"environment":"web"}`, 400, connect.CodeInvalidArgument, []string{`"v-two"`, "1.4.0", "latest"}},
		{"not semantic", "php", "1.4", `{"environment":"web"}`, 400, connect.CodeInvalidArgument, []string{`"1.4"`, "1.4.0"}},
		{"no environment", "php", "latest", `{}`, 400, connect.CodeInvalidArgument, []string{"environment is required"}},
		{"unknown environment", "php", "latest", `{"environment":"kiosk"}`, 404, connect.CodeNotFound, []string{`"kiosk"`, "app, web"}},
		{"unknown version", "php", "7.0.1", `{"environment":"web"}`, 404, connect.CodeNotFound, []string{"version 7.0.1", `"web"`, "versions: 1, the newest " + v.String()}},
		{"never made", "typescript", "1.2.0", `{"environment":"app"}`, 404, connect.CodeNotFound, []string{"version 1.2.0", "none yet", "latest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, data, _ := postLangpack(t, url, tt.lang, tt.version, tt.body)
			if status != tt.status {
				t.Errorf("HTTP status %d, want %d: %s", status, tt.status, data)
			}
			for _, s := range tt.says {
				if !strings.Contains(string(data), s) {
					t.Errorf("HTTP answer %q does not say %q", data, s)
				}
			}
			var body struct{ Environment string }
			json.Unmarshal([]byte(tt.body), &body)
			_, err := rpc.GetLangpack(t.Context(), &registryv1.GetLangpackRequest{Language: tt.lang, Environment: body.Environment, Version: tt.version})
			if connect.CodeOf(err) != tt.code {
				t.Errorf("RPC: %v, want %v", err, tt.code)
			}
		})
	}

	status, data, _ := postLangpack(t, url, "go", "latest", `environment=web`)
	if status != http.StatusBadRequest || !strings.Contains(string(data), `{"environment":"web"}`) {
		t.Errorf("a body that is not JSON: %d %s, want 400 showing the JSON to send", status, data)
	}
}

// TestLangpackEnvironmentWithoutEvents: an environment that may send
// nothing has no langpack, and is told how to change that.
func TestLangpackEnvironmentWithoutEvents(t *testing.T) {
	store, url := webRegistry(t)
	if _, err := store.CreateEnvironment(context.Background(), "empty", "", langpackTestActor); err != nil {
		t.Fatal(err)
	}
	status, data, _ := postLangpack(t, url, "go", "latest", `{"environment":"empty"}`)
	if status != http.StatusNotFound || !strings.Contains(string(data), `"empty" may send no event version`) {
		t.Errorf("%d %s, want 404 saying empty may send nothing", status, data)
	}
}

// walkFiles calls f with every regular file under dir.
func walkFiles(dir string, f func(path string, data []byte)) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil {
			f(path, data)
		}
		return err
	})
}

// TestLangpackConcurrentLatest: clients asking for latest at the same time
// after a change all get the one new version; no version is skipped or
// stored twice.
func TestLangpackConcurrentLatest(t *testing.T) {
	store, url := webRegistry(t)
	_, first := fetchLangpack(t, url, "typescript", "latest", "web")
	allow(t, store, "web", searchQueryID, 1, true)

	const clients = 8
	versions := make(chan langpack.Version, clients)
	archives := make(chan []byte, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			status, data, header := postLangpack(t, url, "typescript", "latest", `{"environment":"web"}`)
			if status != http.StatusOK {
				t.Errorf("status %d: %s", status, data)
				return
			}
			v, err := langpack.ParseVersion(header.Get("Clickstream-Langpack-Version"))
			if err != nil {
				t.Error(err)
			}
			versions <- v
			archives <- data
		})
	}
	wg.Wait()
	close(versions)
	close(archives)
	var second langpack.Version
	for v := range versions {
		if second.IsZero() {
			second = v
		}
		if v != second || v.Compare(first) <= 0 {
			t.Errorf("a concurrent latest got version %s, want one version after %s for all (first seen %s)", v, first, second)
		}
	}
	one := <-archives
	for a := range archives {
		if !bytes.Equal(a, one) {
			t.Error("concurrent latest requests got different archives")
		}
	}
	list, err := store.ListLangpacks(t.Context(), "typescript", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Version != first || list[1].Version != second {
		t.Errorf("stored %d typescript versions, want %s and %s: %+v", len(list), first, second, list)
	}
}

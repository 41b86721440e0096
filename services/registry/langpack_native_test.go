package registry_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// httpGet does a GET and returns the status and body.
func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// mustGet does a GET and fails the test on any status but 200.
func mustGet(t *testing.T, url string) []byte {
	t.Helper()
	status, data := httpGet(t, url)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, status, data)
	}
	return data
}

// unzip returns the files of a zip by name.
func unzip(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = b
	}
	return files
}

// TestLangpackGoModuleProxy: /goproxy/ speaks the module proxy protocol for
// the Go langpack of each environment (list, info, mod, zip, latest); the
// zip passes golang.org/x/mod/zip's checks, list grows with the langpack
// versions and an old zip keeps its bytes.
func TestLangpackGoModuleProxy(t *testing.T) {
	store, url := webRegistry(t)
	mod := langpack.NamesFor("web").GoModule
	proxy := url + "/goproxy/" + mod

	// The version is made on demand, the same as any other language's.
	list := string(mustGet(t, proxy+"/@v/list"))
	_, v := fetchLangpack(t, url, "python", "latest", "web")
	gv := langpack.GoVersion(v)
	if list != gv+"\n" {
		t.Fatalf("@v/list: %q, want the version made on demand, %s", list, gv)
	}
	var info struct{ Version, Time string }
	if err := json.Unmarshal(mustGet(t, proxy+"/@latest"), &info); err != nil || info.Version != gv || info.Time == "" {
		t.Errorf("@latest: %+v (%v), want %s with a time", info, err, gv)
	}
	if err := json.Unmarshal(mustGet(t, proxy+"/@v/"+gv+".info"), &info); err != nil || info.Version != gv {
		t.Errorf("%s.info: %+v (%v)", gv, info, err)
	}
	gomod := mustGet(t, proxy+"/@v/"+gv+".mod")
	if !strings.HasPrefix(string(gomod), "module "+mod+"\n") {
		t.Errorf(".mod does not declare module %s:\n%s", mod, gomod)
	}
	zipData := mustGet(t, proxy+"/@v/"+gv+".zip")
	zipPath := filepath.Join(t.TempDir(), gv+".zip")
	if err := os.WriteFile(zipPath, zipData, 0o644); err != nil {
		t.Fatal(err)
	}
	checked, err := modzip.CheckZip(module.Version{Path: mod, Version: gv}, zipPath)
	if err != nil || len(checked.Invalid) > 0 || len(checked.Omitted) > 0 {
		t.Fatalf("the module zip fails golang.org/x/mod/zip checks: %v; invalid %v; omitted %v", err, checked.Invalid, checked.Omitted)
	}
	files := unzip(t, zipData)
	if !bytes.Equal(files[mod+"@"+gv+"/go.mod"], gomod) {
		t.Error("the zip's go.mod differs from .mod")
	}
	var goFiles int
	for name := range files {
		if !strings.HasPrefix(name, mod+"@"+gv+"/") {
			t.Errorf("zip entry %s is outside %s@%s/", name, mod, gv)
		}
		if strings.HasSuffix(name, ".go") {
			goFiles++
		}
	}
	if goFiles == 0 {
		t.Errorf("the module zip has no Go files: %v", slices.Sorted(maps.Keys(files)))
	}

	// A new version for web is listed, the old zip keeps its bytes.
	allow(t, store, "web", searchQueryID, 1, true)
	got := string(mustGet(t, proxy+"/@v/list"))
	_, v2 := fetchLangpack(t, url, "java", "latest", "web")
	if want := gv + "\n" + langpack.GoVersion(v2) + "\n"; got != want || v2.Compare(v) <= 0 {
		t.Errorf("@v/list after a change: %q, want %q", got, want)
	}
	if again := mustGet(t, proxy+"/@v/"+gv+".zip"); !bytes.Equal(again, zipData) {
		t.Errorf("the %s zip changed after %s was made", gv, v2)
	}

	for path, want := range map[string]int{
		"/goproxy/langpack.clickstream.dev/kiosk/@v/list":            http.StatusNotFound,
		"/goproxy/" + mod + "/@v/v1.9.0.info":                        http.StatusNotFound,
		"/goproxy/" + mod + "/@v/v2.0.0.zip":                         http.StatusNotFound,
		"/goproxy/" + mod + "/@v/" + gv + ".tar":                     http.StatusNotFound,
		"/goproxy/langpack.clickstream.dev/@v/list":                  http.StatusNotFound,
		"/goproxy/example.com/not/a/langpack/@latest":                http.StatusNotFound,
		"/goproxy/" + langpack.NamesFor("app").GoModule + "/@v/list": http.StatusOK,
	} {
		if status, body := httpGet(t, url+path); status != want {
			t.Errorf("GET %s: %d %s, want %d", path, status, body, want)
		}
	}
}

// TestLangpackPythonIndex: /pypi/simple/ is a PEP 503 index with a project
// per environment; the project page links each version's wheel with its
// sha256, and the wheel is a valid pure-Python wheel.
func TestLangpackPythonIndex(t *testing.T) {
	_, url := webRegistry(t)
	names := langpack.NamesFor("web")
	_, version := fetchLangpack(t, url, "go", "latest", "web")
	v := version.String()

	root := string(mustGet(t, url+"/pypi/simple/"))
	for _, dist := range []string{"clickstream-events-web", "clickstream-events-app"} {
		if !strings.Contains(root, `href="`+dist+`/"`) {
			t.Errorf("/pypi/simple/ does not link %s/:\n%s", dist, root)
		}
	}
	// Any spelling PEP 503 normalises to the project's name finds it.
	project := url + "/pypi/simple/" + names.PythonDist + "/"
	page := string(mustGet(t, project))
	if other := string(mustGet(t, url+"/pypi/simple/Clickstream_Events.Web/")); other != page {
		t.Error("a non-normalised project name gives another page")
	}
	links := regexp.MustCompile(`href="([^"#]+)#sha256=([0-9a-f]{64})"`).FindAllStringSubmatch(page, -1)
	if len(links) != 1 {
		t.Fatalf("project page links %d wheels, want 1:\n%s", len(links), page)
	}
	base, _ := neturl.Parse(project)
	href, _ := neturl.Parse(links[0][1])
	wheelURL := base.ResolveReference(href)
	if want := "clickstream_events_web-" + v + "-py3-none-any.whl"; filepath.Base(wheelURL.Path) != want {
		t.Errorf("wheel file %s, want %s", filepath.Base(wheelURL.Path), want)
	}
	wheel := mustGet(t, wheelURL.String())
	if sum := sha256.Sum256(wheel); hex.EncodeToString(sum[:]) != links[0][2] {
		t.Errorf("the wheel's sha256 is %x, the index says %s", sum, links[0][2])
	}

	files := unzip(t, wheel)
	distInfo := "clickstream_events_web-" + v + ".dist-info/"
	metadata := string(files[distInfo+"METADATA"])
	for _, want := range []string{"Metadata-Version: 2.1\n", "Name: clickstream-events-web\n", "Version: " + v + "\n"} {
		if !strings.Contains(metadata, want) {
			t.Errorf("METADATA lacks %q:\n%s", want, metadata)
		}
	}
	if w := string(files[distInfo+"WHEEL"]); !strings.Contains(w, "Root-Is-Purelib: true\n") || !strings.Contains(w, "Tag: py3-none-any\n") {
		t.Errorf("WHEEL:\n%s", w)
	}
	// RECORD lists every other file with its hash and size.
	record := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(files[distInfo+"RECORD"])), "\n") {
		name, rest, _ := strings.Cut(line, ",")
		record[name] = rest
	}
	var python int
	for name, data := range files {
		if name == distInfo+"RECORD" {
			continue
		}
		sum := sha256.Sum256(data)
		if want := fmt.Sprintf("sha256=%s,%d", base64.RawURLEncoding.EncodeToString(sum[:]), len(data)); record[name] != want {
			t.Errorf("RECORD says %q for %s, want %q", record[name], name, want)
		}
		if strings.HasPrefix(name, names.PythonPackage+"/") && strings.HasSuffix(name, ".py") {
			python++
		}
	}
	if python == 0 {
		t.Errorf("the wheel has no module under %s/: %v", names.PythonPackage, slices.Sorted(maps.Keys(files)))
	}
	if len(record) != len(files) {
		t.Errorf("RECORD has %d entries for %d files", len(record), len(files))
	}

	if status, body := httpGet(t, url+"/pypi/simple/clickstream-events-kiosk/"); status != http.StatusNotFound {
		t.Errorf("unknown project: %d %s, want 404", status, body)
	}
	if status, _ := httpGet(t, url+"/pypi/files/web/clickstream_events_web-1.7.0-py3-none-any.whl"); status != http.StatusNotFound {
		t.Errorf("unknown wheel: %d, want 404", status)
	}
}

// TestLangpackComposerRepository: /composer/packages.json lists each
// environment's PHP langpack versions with dist zips that hold
// composer.json and src/, and whose SHA-1 the index states.
func TestLangpackComposerRepository(t *testing.T) {
	store, url := webRegistry(t)
	allow(t, store, "web", searchQueryID, 1, true) // the first version is made with it
	var repo struct {
		Packages map[string]map[string]struct {
			Name     string         `json:"name"`
			Version  string         `json:"version"`
			Autoload map[string]any `json:"autoload"`
			Dist     struct {
				Type, URL, Shasum string
			} `json:"dist"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(mustGet(t, url+"/composer/packages.json"), &repo); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"web", "app"} {
		_, version := fetchLangpack(t, url, "python", "latest", env)
		v := version.String()
		name := langpack.NamesFor(env).ComposerName
		versions := repo.Packages[name]
		if len(versions) != 1 {
			t.Fatalf("packages.json lists %d versions of %s, want 1: %+v", len(versions), name, repo.Packages)
		}
		p, ok := versions[v]
		if !ok || p.Name != name || p.Version != v || p.Dist.Type != "zip" || p.Autoload["psr-4"] == nil {
			t.Fatalf("%s %s: %+v", name, v, p)
		}
		if want := url + "/composer/dist/" + env + "/" + v + ".zip"; p.Dist.URL != want {
			t.Errorf("dist url %s, want %s", p.Dist.URL, want)
		}
		dist := mustGet(t, p.Dist.URL)
		if sum := sha1.Sum(dist); hex.EncodeToString(sum[:]) != p.Dist.Shasum {
			t.Errorf("%s: the dist's SHA-1 is %x, packages.json says %s", name, sum, p.Dist.Shasum)
		}
		files := unzip(t, dist)
		var composerJSON struct{ Name string }
		if err := json.Unmarshal(files["composer.json"], &composerJSON); err != nil || composerJSON.Name != name {
			t.Errorf("%s: composer.json in the dist: %q (%v)", name, files["composer.json"], err)
		}
		var php []string
		for f := range files {
			if strings.HasPrefix(f, "src/") && strings.HasSuffix(f, ".php") {
				php = append(php, f)
			}
		}
		if len(php) == 0 {
			t.Errorf("%s: the dist has no src/*.php: %v", name, slices.Sorted(maps.Keys(files)))
		}
		if env == "web" && !slices.ContainsFunc(php, func(f string) bool { return strings.Contains(f, "SearchQuery") }) {
			t.Errorf("web's dist lacks a class for SearchQueryV1: %v", php)
		}
	}
	if status, _ := httpGet(t, url+"/composer/dist/web/1.4.0.zip"); status != http.StatusNotFound {
		t.Errorf("unknown dist: %d, want 404", status)
	}
}

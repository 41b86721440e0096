package registry_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	osexec "os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/registry"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
	"github.com/clickstream-dev/clickstream/services/registry/migrations"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// semverRegistry registers set on the (migrated) database at dbURL, makes
// an environment "web" that may send every version of ItemView and
// PlaceCardOpened, and serves it.
func semverRegistry(t *testing.T, dbURL string, set *schema.Set) (*registry.PostgresStore, string) {
	t.Helper()
	ctx := t.Context()
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := registry.NewPostgresStore(pool)
	if _, err := registry.RegisterSet(ctx, store, set, "test", "catalogue"); err != nil {
		t.Fatalf("register the catalogue: %v", err)
	}
	if _, err := store.CreateEnvironment(ctx, "web", "semver test", langpackTestActor); err != nil {
		t.Fatal(err)
	}
	allow(t, store, "web", itemViewID, 0, true)
	allow(t, store, "web", placeCardOpenedID, 0, true)
	return store, serveRegistry(t, registry.Config{AdminToken: "semver-token"}, store)
}

// everyLanguage asks for the latest langpack of env in every language,
// starting with a different one each time (first), and fails unless they
// all have one version. It returns the version and the archives.
func everyLanguage(t *testing.T, url, env string, first int) (langpack.Version, map[langpack.Language][]byte) {
	t.Helper()
	langs := langpack.Languages()
	first %= len(langs)
	langs = append(langs[first:], langs[:first]...)
	archives := map[langpack.Language][]byte{}
	var version langpack.Version
	for _, lang := range langs {
		data, v := fetchLangpack(t, url, string(lang), "latest", env)
		if version.IsZero() {
			version = v
		}
		if v != version {
			t.Fatalf("%s langpack of %s is %s, but %s (asked first) is %s: one content must have one number in every language", lang, env, v, langs[0], version)
		}
		archives[lang] = data
	}
	return version, archives
}

// goModule fetches one module proxy path of env's Go langpack.
func goModule(t *testing.T, url, modulePath, rest string) (int, []byte) {
	t.Helper()
	return httpGet(t, url+"/goproxy/"+modulePath+"/"+rest)
}

// TestLangpackSemanticVersions: a langpack's version follows its content,
// the same number in every language whichever asks first: the first
// version is 1.<second>.0; allowing a version is a minor version; a
// description-only push a patch; denying a version a major one, served to
// Go under the module path with /v2; unchanged content keeps its number;
// every old version stays downloadable through every surface; and a
// registry re-created from an empty database numbers other content above
// every minor the old one used, reusing no number.
func TestLangpackSemanticVersions(t *testing.T) {
	ctx := t.Context()
	dbURL := pgtest.NewDatabase(t)
	started := time.Now().Unix()
	store, url := semverRegistry(t, dbURL, catalogue(t))
	var steps []semverStep
	record := func(name string, first int) semverStep {
		v, archives := everyLanguage(t, url, "web", first)
		s := semverStep{name, v, archives, manifestOf(t, archives[langpack.Go]).Events}
		steps = append(steps, s)
		t.Logf("%-28s %s (%d events, %d languages agree)", name, v, len(s.events), len(archives))
		return s
	}

	first := record("first version", 0)
	if first.version.Major != 1 || first.version.Patch != 0 || int64(first.version.Minor) <= started {
		t.Fatalf("the first version is %s, want 1.<a Unix second after %d>.0", first.version, started)
	}
	if again, _ := everyLanguage(t, url, "web", 3); again != first.version {
		t.Errorf("unchanged content: %s, want %s again", again, first.version)
	}

	// Allowing a version adds API: a minor version.
	allow(t, store, "web", searchQueryID, 1, true)
	added := record("allow SearchQueryV1", 1)
	if v := added.version; v.Major != 1 || v.Minor <= first.version.Minor || v.Patch != 0 {
		t.Errorf("after allowing a version: %s, want a minor version after %s (1.<later second>.0)", v, first.version)
	}
	if !slices.Contains(added.events, "clickstream.events.v1.SearchQueryV1") {
		t.Errorf("%s holds %v, want SearchQueryV1 too", added.version, added.events)
	}

	// A push that only changes a description is a patch.
	docs := catalogueWith(t, map[string]func(string) string{
		placeCardFile: replaceText(t, placeCardDescription, `description: "A user opened a place's card on the map."`),
	})
	if _, err := registry.NewAdmin(store).PushSchemas(ctx, pushRequest(docs)); err != nil {
		t.Fatalf("push the description change: %v", err)
	}
	patched := record("description changed", 2)
	if want := (langpack.Version{Major: added.version.Major, Minor: added.version.Minor, Patch: added.version.Patch + 1}); patched.version != want {
		t.Errorf("after a description change: %s, want the patch %s", patched.version, want)
	}
	if !slices.Equal(patched.events, added.events) {
		t.Errorf("the patch holds %v, want %v", patched.events, added.events)
	}

	// A change in another environment is not web's.
	if _, err := store.CreateEnvironment(ctx, "app", "", langpackTestActor); err != nil {
		t.Fatal(err)
	}
	allow(t, store, "app", itemViewID, 2, true)
	if v, _ := everyLanguage(t, url, "web", 4); v != patched.version {
		t.Errorf("after a change in another environment web is %s, want %s", v, patched.version)
	}

	// Denying a version removes API: a major version, a new Go module path.
	allow(t, store, "web", searchQueryID, 1, false)
	major := record("deny SearchQueryV1", 5)
	if v := major.version; v.Major != 2 || v.Minor <= patched.version.Minor || v.Patch != 0 {
		t.Errorf("after denying a version: %s, want the major version 2.<later second>.0", v)
	}
	if slices.Contains(major.events, "clickstream.events.v1.SearchQueryV1") {
		t.Errorf("%s still holds SearchQueryV1", major.version)
	}
	line, err := store.ListLangpackVersions(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, lv := range line {
		t.Logf("line of web: %s at revision %d: %s", lv.Version, lv.Revision, lv.Change)
	}
	if len(line) != 4 || !strings.Contains(line[3].Change, "removed event clickstream.events.v1.SearchQueryV1") ||
		!strings.Contains(line[1].Change, "added event clickstream.events.v1.SearchQueryV1") {
		t.Errorf("the line of web has %d versions, want 4 whose changes name SearchQueryV1 added, then removed", len(line))
	}

	resp, err := registryv1connect.NewRegistryServiceClient(http.DefaultClient, url).GetLangpack(ctx,
		&registryv1.GetLangpackRequest{Language: "swift", Environment: "web", Version: major.version.String()})
	if err != nil || resp.GetLangpack().GetPackageVersion() != major.version.String() || !strings.HasPrefix(resp.GetLangpack().GetChange(), "removed event clickstream.events.v1.SearchQueryV1") {
		t.Errorf("GetLangpack %s: %v (%v), want it saying SearchQueryV1 was removed", major.version, resp.GetLangpack(), err)
	}

	base := langpack.NamesFor("web").GoModule
	v2Path := base + "/v2"
	if got, want := string(mustGet(t, url+"/goproxy/"+v2Path+"/@v/list")), langpack.GoVersion(major.version)+"\n"; got != want {
		t.Errorf("%s/@v/list: %q, want %q", v2Path, got, want)
	}
	var info struct{ Version string }
	if err := json.Unmarshal(mustGet(t, url+"/goproxy/"+v2Path+"/@latest"), &info); err != nil || info.Version != langpack.GoVersion(major.version) {
		t.Errorf("%s/@latest: %+v (%v), want %s", v2Path, info, err, langpack.GoVersion(major.version))
	}
	var want1 string
	for _, s := range steps[:3] {
		want1 += langpack.GoVersion(s.version) + "\n"
	}
	if got := string(mustGet(t, url+"/goproxy/"+base+"/@v/list")); got != want1 {
		t.Errorf("%s/@v/list: %q, want the 1.x versions only:\n%s", base, got, want1)
	}
	for _, wrong := range []string{v2Path + "/@v/" + langpack.GoVersion(first.version) + ".info", base + "/@v/" + langpack.GoVersion(major.version) + ".zip", base + "/v3/@v/list"} {
		if status, body := httpGet(t, url+"/goproxy/"+wrong); status != http.StatusNotFound {
			t.Errorf("GET /goproxy/%s: %d %s, want 404 (a version is served only under its major's module path)", wrong, status, body)
		}
	}
	// The pack's go.mod names the module path of its major
	// (langpack.GoModulePath), and the proxy serves it there.
	if gomod := packFile(t, major.archives[langpack.Go], "go.mod"); !strings.HasPrefix(gomod, "module "+v2Path+"\n") {
		t.Errorf("the Go pack of %s declares %q, want module %s", major.version, strings.SplitN(gomod, "\n", 2)[0], v2Path)
	}
	if status, mod := goModule(t, url, v2Path, "@v/"+langpack.GoVersion(major.version)+".mod"); status != http.StatusOK || !strings.HasPrefix(string(mod), "module "+v2Path+"\n") {
		t.Errorf("%s .mod: %d %s", v2Path, status, mod)
	}
	if status, _ := goModule(t, url, v2Path, "@v/"+langpack.GoVersion(major.version)+".zip"); status != http.StatusOK {
		t.Errorf("%s .zip: %d", v2Path, status)
	}

	oldVersionsResolve(t, url, "web", steps)

	// The registry is re-created from an empty database and given the
	// catalogue with other content (PlaceCardOpenedV2 added, so allowed).
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `DROP SCHEMA registry CASCADE`); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, dbURL, migrations.Schema, migrations.FS); err != nil {
		t.Fatal(err)
	}
	other := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV2)})
	newStore, newURL := semverRegistry(t, dbURL, other)
	fresh, freshArchives := everyLanguage(t, newURL, "web", 6)
	if events := manifestOf(t, freshArchives[langpack.Go]).Events; !slices.Contains(events, "clickstream.events.v1.PlaceCardOpenedV2") {
		t.Fatalf("the re-created registry's pack holds %v, want PlaceCardOpenedV2: the content must differ", events)
	}
	allow(t, newStore, "web", itemViewID, 1, false)
	freshMajor, _ := everyLanguage(t, newURL, "web", 0)
	t.Logf("re-created registry: %s, then %s after a denial", fresh, freshMajor)
	for _, s := range steps {
		for _, v := range []langpack.Version{fresh, freshMajor} {
			if v == s.version || v.Minor <= s.version.Minor {
				t.Errorf("the re-created registry's %s is not after the old %s (%s): a stale cache could hold other bytes under it", v, s.version, s.name)
			}
		}
	}
	if fresh.Major != 1 || freshMajor.Major != 2 || freshMajor.Compare(major.version) <= 0 {
		t.Errorf("re-created: %s then %s, want 1.x then a 2.x after the old %s", fresh, freshMajor, major.version)
	}
	list := string(mustGet(t, newURL+"/goproxy/"+base+"/@v/list"))
	for _, s := range steps {
		if strings.Contains(list, langpack.GoVersion(s.version)+"\n") {
			t.Errorf("the re-created registry lists the old %s: %q", s.version, list)
		}
	}
}

// packFile returns a file of a langpack archive by its path in the pack.
func packFile(t *testing.T, archive []byte, name string) string {
	t.Helper()
	for p, data := range untarLangpack(t, archive) {
		if _, rel, _ := strings.Cut(p, "/"); rel == name {
			return string(data)
		}
	}
	return ""
}

// semverStep is a version a step of the test made, with its archives.
type semverStep struct {
	name     string
	version  langpack.Version
	archives map[langpack.Language][]byte
	events   []string // the manifest's
}

// oldVersionsResolve: every version of the steps is still served, in every
// language, byte for byte for the archives, and listed by every native
// index: the Go module proxy (under its major's module path), the PyPI
// index, Composer's packages.json and Maven's metadata.
func oldVersionsResolve(t *testing.T, url, env string, steps []semverStep) {
	t.Helper()
	names := langpack.NamesFor(env)
	var checked int
	for _, s := range steps {
		v := s.version.String()
		for lang, archive := range s.archives {
			if data, _ := fetchLangpack(t, url, string(lang), v, env); string(data) != string(archive) {
				t.Errorf("%s %s: the archive changed after newer versions were made", lang, v)
			}
			checked++
		}
		mod := langpack.GoModulePath(names.GoModule, s.version.Major)
		if status, body := goModule(t, url, mod, "@v/"+langpack.GoVersion(s.version)+".info"); status != http.StatusOK {
			t.Errorf("%s@%s.info: %d %s", mod, langpack.GoVersion(s.version), status, body)
		}
		if s.version.Major < 2 {
			if status, body := goModule(t, url, mod, "@v/"+langpack.GoVersion(s.version)+".zip"); status != http.StatusOK {
				t.Errorf("%s@%s.zip: %d %s", mod, langpack.GoVersion(s.version), status, body)
			}
		}
		wheel := langpack.WheelFilename(names, v)
		if !strings.Contains(string(mustGet(t, url+"/pypi/simple/"+names.PythonDist+"/")), wheel+"#sha256=") {
			t.Errorf("the PyPI project page does not link %s", wheel)
		}
		if files := unzip(t, mustGet(t, url+"/pypi/files/"+env+"/"+wheel)); !strings.Contains(string(files[strings.TrimSuffix(wheel, "-py3-none-any.whl")+".dist-info/METADATA"]), "Version: "+v+"\n") {
			t.Errorf("the wheel %s does not say Version: %s", wheel, v)
		}
		var repo struct {
			Packages map[string]map[string]struct {
				Version string
				Dist    struct{ URL, Shasum string }
			}
		}
		if err := json.Unmarshal(mustGet(t, url+"/composer/packages.json"), &repo); err != nil {
			t.Fatal(err)
		}
		p, ok := repo.Packages[names.ComposerName][v]
		if !ok || p.Version != v {
			t.Errorf("packages.json lacks %s %s: %v", names.ComposerName, v, repo.Packages[names.ComposerName])
		} else if sum := sha1.Sum(mustGet(t, p.Dist.URL)); hex.EncodeToString(sum[:]) != p.Dist.Shasum {
			t.Errorf("the %s dist's SHA-1 differs from packages.json's", v)
		}
		maven := url + "/maven/" + strings.ReplaceAll(names.MavenGroup, ".", "/") + "/" + names.MavenArtifact
		if !strings.Contains(string(mustGet(t, maven+"/maven-metadata.xml")), "<version>"+v+"</version>") {
			t.Errorf("maven-metadata.xml does not list %s", v)
		}
		if pom := string(mustGet(t, maven+"/"+v+"/"+path.Base(langpack.MavenFile(names, v, ".pom")))); !strings.Contains(pom, "<version>"+v+"</version>") {
			t.Errorf("the %s pom does not say its version", v)
		}
		var npm struct {
			Versions map[string]struct {
				Version string
				Dist    struct{ Tarball, Shasum string }
			}
		}
		if err := json.Unmarshal(mustGet(t, url+"/npm/"+strings.Replace(names.NPMPackage, "/", "%2f", 1)), &npm); err != nil {
			t.Fatal(err)
		}
		if p, ok := npm.Versions[v]; !ok || p.Version != v {
			t.Errorf("the npm package document lacks %s: %v", v, npm.Versions)
		} else if sum := sha1.Sum(mustGet(t, p.Dist.Tarball)); hex.EncodeToString(sum[:]) != p.Dist.Shasum {
			t.Errorf("the %s npm tarball's SHA-1 differs from the package document's", v)
		}
	}
	t.Logf("old versions: %d archives byte for byte, and %d versions through the Go proxy, PyPI, Composer, Maven and npm", checked, len(steps))
}

// TestLangpackNPMRegistry: npm installs the TypeScript langpack of an
// environment from the registry's /npm/ registry, at its newest version
// and at an older one, each with the package.json of that version.
func TestLangpackNPMRegistry(t *testing.T) {
	npm, err := osexec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("npm is not installed: .ci/run installs it")
		}
		t.Skip("npm is not installed")
	}
	store, url := webRegistry(t)
	_, old := fetchLangpack(t, url, "typescript", "latest", "web")
	allow(t, store, "web", searchQueryID, 1, true)
	_, newest := fetchLangpack(t, url, "go", "latest", "web")
	name := langpack.NamesFor("web").NPMPackage
	for _, tt := range []struct{ spec, want string }{{name, newest.String()}, {name + "@" + old.String(), old.String()}} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"app","version":"1.0.0","private":true}`), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := osexec.Command(npm, "install", "--registry", url+"/npm/", "--cache", filepath.Join(dir, ".npm"),
			"--no-audit", "--no-fund", "--ignore-scripts", tt.spec)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "npm_config_userconfig=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install %s: %v\n%s", tt.spec, err, out)
		}
		var installed struct{ Name, Version string }
		data, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(name), "package.json"))
		if err == nil {
			err = json.Unmarshal(data, &installed)
		}
		if err != nil || installed.Name != name || installed.Version != tt.want {
			t.Errorf("npm install %s installed %+v (%v), want %s@%s", tt.spec, installed, err, name, tt.want)
		}
		t.Logf("npm install %s: %s@%s", tt.spec, installed.Name, installed.Version)
	}
}

// TestLangpackMigrationKeepsOldPacks: packs stored before semantic versions
// (version N of one language) are that language's 1.N.0 after the
// migration, downloadable byte for byte and listed by its index, and the
// first version of the new line comes after them.
func TestLangpackMigrationKeepsOldPacks(t *testing.T) {
	ctx := t.Context()
	dbURL := pgtest.NewDatabase(t)
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `DROP SCHEMA registry CASCADE`); err != nil {
		t.Fatal(err)
	}
	before := fstest.MapFS{}
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() < "00006" {
			data, _ := fs.ReadFile(migrations.FS, e.Name())
			before[e.Name()] = &fstest.MapFile{Data: data}
		}
	}
	if err := postgres.Migrate(ctx, dbURL, migrations.Schema, before); err != nil {
		t.Fatal(err)
	}
	// A Python pack of web as version 3, the way the registry stored them.
	set := catalogue(t)
	in := langpack.Input{Environment: "web", Revision: 1, Version: langpack.Version{Major: 1, Minor: 3}, Files: set.FileDescriptorSet(),
		Events: []langpack.Event{{ID: itemViewID, Version: 2, MessageName: "clickstream.events.v1.ItemViewV2", Description: "A user opened an item card."}}}
	pack, err := langpack.Generate(langpack.Python, in)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := pack.TarGz()
	if err != nil {
		t.Fatal(err)
	}
	manifest, _ := json.Marshal(pack.Manifest)
	if _, err := pool.Exec(ctx, `INSERT INTO registry.environments (name) VALUES ('web')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO registry.langpacks (language, environment, version, revision, content_hash, generator_version, manifest, archive)
		VALUES ('python', 'web', 3, 1, $1, 'clickstream-langpack/1', $2, $3)`, pack.Manifest.ContentHash, manifest, archive); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, dbURL, migrations.Schema, migrations.FS); err != nil {
		t.Fatalf("migrate a registry holding a pack: %v", err)
	}

	store := registry.NewPostgresStore(pool)
	if _, err := registry.RegisterSet(ctx, store, set, "test", "catalogue"); err != nil {
		t.Fatal(err)
	}
	allow(t, store, "web", itemViewID, 2, true)
	url := serveRegistry(t, registry.Config{}, store)
	if data, v := fetchLangpack(t, url, "python", "3", "web"); !bytes.Equal(data, archive) || v.String() != "1.3.0" {
		t.Errorf("the stored pack by its old number: %s, same bytes %v; want 1.3.0, the stored bytes", v, bytes.Equal(data, archive))
	}
	if data, _ := fetchLangpack(t, url, "python", "1.3.0", "web"); !bytes.Equal(data, archive) {
		t.Error("the stored pack as 1.3.0 differs from the stored bytes")
	}
	_, latest := fetchLangpack(t, url, "python", "latest", "web")
	page := string(mustGet(t, url+"/pypi/simple/"+langpack.NamesFor("web").PythonDist+"/"))
	old, fresh := langpack.WheelFilename(langpack.NamesFor("web"), "1.3.0"), langpack.WheelFilename(langpack.NamesFor("web"), latest.String())
	if !strings.Contains(page, old) || !strings.Contains(page, fresh) || strings.Index(page, old) > strings.Index(page, fresh) {
		t.Errorf("the PyPI page does not list %s then %s:\n%s", old, fresh, page)
	}
	if latest.Compare(langpack.Version{Major: 1, Minor: 3}) <= 0 {
		t.Errorf("the line's first version %s is not after the stored 1.3.0", latest)
	}
	if _, err := pool.Exec(ctx, `UPDATE registry.langpacks SET archive = '' WHERE minor = 3`); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("changing a stored pack after the migration: %v, want the immutability trigger's refusal", err)
	}
	t.Logf("stored 1.3.0 kept (%d bytes), the line starts at %s", len(archive), latest)
}

package registry_test

import (
	"archive/tar"
	"compress/gzip"
	"flag"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/docs")

// docsServer serves the registry's plain HTTP routes over store, the way
// the registry mounts them.
func docsServer(t *testing.T, store registry.Store) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	registry.Routes(registry.Config{}, registry.New(store), registry.NewAdmin(store)).HTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path without following redirects and returns the status,
// the body and the response.
func get(t *testing.T, srv *httptest.Server, path string) (int, string, *http.Response) {
	t.Helper()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body), resp
}

// result is a call's value and error: try(call()).must(t).
type result[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) result[T] { return result[T]{v, err} }

// must returns the value, or fails the test on the error.
func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// setupWeb creates environment "web", allowed both versions of ItemView
// (1001), SearchQuery v1 (1002) and PhotoStatusChanged v2 (2001), and
// environment "ios", allowed Payment (1004) only; ItemView gets an owner.
func setupWeb(t *testing.T, admin *registry.AdminService) {
	t.Helper()
	ctx := t.Context()
	for _, env := range []string{"web", "ios"} {
		try(admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: env, Description: "The " + env + " apps", Actor: "docs-test"})).must(t)
	}
	for _, a := range []struct {
		env         string
		id, version uint32
	}{{"web", 1001, 0}, {"web", 1002, 1}, {"web", 2001, 2}, {"ios", 1004, 0}} {
		try(admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{
			Environment: a.env, EventId: a.id, Version: a.version, Allowed: true, Actor: "docs-test",
		})).must(t)
	}
	try(admin.SetOwner(ctx, &registryv1.SetOwnerRequest{EventId: 1001, Owner: &registryv1.Owner{Team: "listings", Contact: "#listings-events"}, Actor: "docs-test"})).must(t)
}

var eventLink = regexp.MustCompile(`href="/docs/web/events/([A-Za-z0-9]+)"`)

func TestDocsEnvironmentListsItsEventsOnly(t *testing.T) {
	store, _ := registeredStore(t)
	setupWeb(t, registry.NewAdmin(store))
	srv := docsServer(t, store)

	status, body, resp := get(t, srv, "/docs/web/")
	if status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs/web/: %d %s\n%s", status, resp.Header.Get("Content-Type"), body)
	}
	var linked []string
	for _, m := range eventLink.FindAllStringSubmatch(body, -1) {
		if !slices.Contains(linked, m[1]) {
			linked = append(linked, m[1])
		}
	}
	if want := []string{"ItemView", "SearchQuery", "PhotoStatusChanged"}; !slices.Equal(linked, want) {
		t.Errorf("/docs/web/ links the events %v, want %v", linked, want)
	}
	for _, absent := range []string{"Payment", "AdAuction", "MessengerMessageSent", "ExternalProjectEvent"} {
		if strings.Contains(body, absent) {
			t.Errorf("/docs/web/ mentions %s, which web may not send", absent)
		}
	}
	// Only the allowed version of PhotoStatusChanged is listed.
	if !strings.Contains(body, `href="/docs/web/events/PhotoStatusChanged#v2"`) || strings.Contains(body, `href="/docs/web/events/PhotoStatusChanged#v1"`) {
		t.Errorf("/docs/web/ should list PhotoStatusChanged v2 only:\n%s", body)
	}

	// The front page counts events and versions per environment and lists
	// every event of the catalogue.
	status, body, _ = get(t, srv, "/docs/")
	if status != http.StatusOK {
		t.Fatalf("GET /docs/: %d\n%s", status, body)
	}
	webRow := regexp.MustCompile(`<td><a href="/docs/web/">web</a></td><td>The web apps</td><td>(\d+)</td><td>(\d+)</td>`).FindStringSubmatch(body)
	if webRow == nil || webRow[1] != "3" || webRow[2] != "4" {
		t.Errorf("/docs/ row of web = %v, want 3 events and 4 versions\n%s", webRow, body)
	}
	for _, e := range try(registry.New(store).ListEvents(t.Context(), &registryv1.ListEventsRequest{})).must(t).GetEvents() {
		if !strings.Contains(body, `href="/docs/events/`+e.GetName()+`"`) {
			t.Errorf("/docs/ does not link event %s", e.GetName())
		}
	}
}

func TestDocsEventPageShowsVersionsAndDiff(t *testing.T) {
	store, _ := registeredStore(t)
	admin := registry.NewAdmin(store)
	setupWeb(t, admin)
	minute := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	report(t, admin,
		accepted(minute, "web", 1001, 2, 7),
		rejected(minute, "web", 1001, 2, "MISSING_REQUIRED", 2),
		accepted(minute, "ios", 1001, 2, 100),
	)
	svc := registry.New(store)
	srv := docsServer(t, store)

	status, body, _ := get(t, srv, "/docs/web/events/ItemView")
	if status != http.StatusOK {
		t.Fatalf("GET /docs/web/events/ItemView: %d\n%s", status, body)
	}
	for _, want := range []string{
		`<h1>ItemView <span class="muted">event 1001</span></h1>`,
		`id="v1"`, `id="v2"`,
		"clickstream.events.v1.ItemViewV1", "clickstream.events.v1.ItemViewV2",
		"A user opened an item card.", "A user opened an item card; with the referrer and the listed price.",
		`id="v2-referrer"`, `id="v1-item_id"`, "Id of the viewed item.", "4815162342",
		"listings", "#listings-events",
		`id="diff-v1-v2"`,
		// Usage in web only: ios's 100 are not counted here.
		"7 accepted, 2 rejected",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("ItemView page lacks %q", want)
		}
	}
	diff := try(svc.DiffVersions(t.Context(), &registryv1.DiffVersionsRequest{EventId: 1001, FromVersion: 1, ToVersion: 2})).must(t)
	if len(diff.GetChanges()) == 0 {
		t.Fatal("ItemView v1..v2 has no changes to show")
	}
	for _, c := range diff.GetChanges() {
		if !strings.Contains(body, "<li>"+html.EscapeString(c)+"</li>") {
			t.Errorf("ItemView page lacks the change %q", c)
		}
	}
	if strings.Contains(body, "100 accepted") {
		t.Errorf("web's ItemView page counts ios's usage")
	}

	// The whole catalogue's page counts every environment.
	if _, body, _ := get(t, srv, "/docs/events/ItemView"); !strings.Contains(body, "107 accepted, 2 rejected") {
		t.Errorf("/docs/events/ItemView does not count all environments:\n%s", body)
	}
	// The numeric id redirects to the name.
	if status, _, resp := get(t, srv, "/docs/web/events/1001"); status != http.StatusMovedPermanently || resp.Header.Get("Location") != "/docs/web/events/ItemView" {
		t.Errorf("GET /docs/web/events/1001: %d to %q, want 301 to /docs/web/events/ItemView", status, resp.Header.Get("Location"))
	}

	// The same in Markdown.
	status, md, resp := get(t, srv, "/docs/web/events/ItemView.md")
	if status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/markdown") {
		t.Fatalf("GET ItemView.md: %d %s\n%s", status, resp.Header.Get("Content-Type"), md)
	}
	for _, want := range []string{"# ItemView (event 1001)", "## Version 1 (active)", "## Version 2 (active)", "### v1 → v2", "7 accepted, 2 rejected", "listings (#listings-events)"} {
		if !strings.Contains(md, want) {
			t.Errorf("ItemView.md lacks %q\n%s", want, md)
		}
	}
}

func TestDocsNotFound(t *testing.T) {
	store, _ := registeredStore(t)
	setupWeb(t, registry.NewAdmin(store))
	srv := docsServer(t, store)
	tests := []struct {
		path string
		want []string
	}{
		{"/docs/nope/", []string{`Environment &#34;nope&#34; does not exist.`, "The environments are: ios, web.", `href="/docs/web/"`, `href="/docs/ios/"`}},
		{"/docs/nope/events/ItemView", []string{`Environment &#34;nope&#34; does not exist.`}},
		{"/docs/web/events/Nope", []string{`Environment &#34;web&#34; sends no event called &#34;Nope&#34;`, "Its events are: ItemView, SearchQuery, PhotoStatusChanged.", `href="/docs/web/events/ItemView"`}},
		{"/docs/web/events/Payment", []string{`Environment &#34;web&#34; may not send event 1004 Payment`, `href="/docs/events/Payment"`}},
		{"/docs/events/Nope", []string{`No event is called &#34;Nope&#34;`}},
		{"/docs/web/what/ever", []string{"No documentation page is at /docs/web/what/ever."}},
	}
	for _, tt := range tests {
		status, body, _ := get(t, srv, tt.path)
		if status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", tt.path, status)
		}
		for _, want := range tt.want {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s: page lacks %q\n%s", tt.path, want, body)
			}
		}
	}
	for _, path := range []string{"/docs/nope/index.md", "/docs/nope/export.tar.gz", "/docs/web/events/Nope.md"} {
		status, body, resp := get(t, srv, path)
		if status != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(body, "nope") && !strings.Contains(body, "Nope") {
			t.Errorf("GET %s: %d %s %q, want a plain 404 naming what is missing", path, status, resp.Header.Get("Content-Type"), body)
		}
	}
}

func TestDocsEscapeHTML(t *testing.T) {
	store, _ := newStore(t)
	set := catalogueWith(t, map[string]func(string) string{
		placeCardFile: appendText(`
message PlaceCardOpenedV2 {
  option (clickstream.options.v1.event) = {
    id: 2005
    version: 2
    description: "<script>alert(\"docs\")</script>"
  };
  string object_id = 1 [(clickstream.options.v1.field) = {description: "<script>alert(\"docs\")</script>", example: "<b>x</b>"}];
}
`),
	})
	try(registry.RegisterSet(t.Context(), store, set, "test", "escaping")).must(t)
	try(registry.NewAdmin(store).SetOwner(t.Context(), &registryv1.SetOwnerRequest{EventId: 2005, Owner: &registryv1.Owner{Team: "places", Contact: "<img src=x onerror=alert(1)>"}, Actor: "docs-test"})).must(t)
	srv := docsServer(t, store)

	status, body, _ := get(t, srv, "/docs/events/PlaceCardOpened")
	if status != http.StatusOK {
		t.Fatalf("GET /docs/events/PlaceCardOpened: %d\n%s", status, body)
	}
	for _, raw := range []string{"<script", "<img", "<b>"} {
		if strings.Contains(body, raw) {
			t.Errorf("the HTML page holds %q unescaped", raw)
		}
	}
	if n := strings.Count(body, "&lt;script&gt;alert(&#34;docs&#34;)&lt;/script&gt;"); n < 2 {
		t.Errorf("the escaped script shows %d times, want the version's and the field's description", n)
	}
	_, md, _ := get(t, srv, "/docs/events/PlaceCardOpened.md")
	for _, raw := range []string{"<script", "<img"} {
		if strings.Contains(md, raw) {
			t.Errorf("the Markdown page holds %q as raw HTML", raw)
		}
	}
	if !strings.Contains(md, "&lt;script&gt;") || !strings.Contains(md, "`<b>x</b>`") {
		t.Errorf("the Markdown page should show the script as text and the example as code:\n%s", md)
	}
}

func TestDocsExport(t *testing.T) {
	store, _ := registeredStore(t)
	setupWeb(t, registry.NewAdmin(store))
	srv := docsServer(t, store)

	status, body, resp := get(t, srv, "/docs/web/export.tar.gz")
	if status != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("GET /docs/web/export.tar.gz: %d %s", status, resp.Header.Get("Content-Type"))
	}
	files := untar(t, body)
	var names []string
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"events/", "events/ItemView.md", "events/PhotoStatusChanged.md", "events/SearchQuery.md", "index.md"}
	if !slices.Equal(names, want) {
		t.Fatalf("export holds %v, want %v", names, want)
	}
	// Each file is the page served in Markdown.
	for _, name := range want[1:] {
		_, page, _ := get(t, srv, "/docs/web/"+name)
		if files[name] != page {
			t.Errorf("export %s differs from GET /docs/web/%s", name, name)
		}
	}
	if !strings.Contains(files["index.md"], "[ItemView](events/ItemView.md)") || !strings.Contains(files["events/PhotoStatusChanged.md"], "- Environment web may send: v2") {
		t.Errorf("export index.md:\n%s\nPhotoStatusChanged.md:\n%s", files["index.md"], files["events/PhotoStatusChanged.md"])
	}
}

// untar returns the files of a tar.gz by name.
func untar(t *testing.T, archive string) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(strings.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = string(b)
	}
}

// goldenCatalogue compiles the fixed catalogue of the golden tests.
func goldenCatalogue(t *testing.T) *schema.Set {
	t.Helper()
	set, err := schema.Compile(t.Context(), os.DirFS("testdata/docs/catalogue"), protosrc.FS)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestDocsGolden renders the pages of a fixed catalogue, with fixed usage
// and a fixed clock, and compares them with testdata/docs/*.golden; -update
// rewrites those.
func TestDocsGolden(t *testing.T) {
	store, _ := newStore(t)
	ctx := t.Context()
	try(registry.RegisterSet(ctx, store, goldenCatalogue(t), "test", "docs golden")).must(t)
	admin := registry.NewAdmin(store)
	try(admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Description: "The website", Actor: "docs-test"})).must(t)
	try(admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "ios", Description: "The iOS app", Actor: "docs-test"})).must(t)
	for _, a := range []*registryv1.SetEventAccessRequest{
		{Environment: "web", EventId: 9001, Allowed: true},
		{Environment: "web", EventId: 9002, Allowed: true},
		{Environment: "ios", EventId: 9001, Version: 2, Allowed: true},
	} {
		a.Actor = "docs-test"
		try(admin.SetEventAccess(ctx, a)).must(t)
	}
	try(admin.SetOwner(ctx, &registryv1.SetOwnerRequest{EventId: 9001, Owner: &registryv1.Owner{Team: "checkout", Contact: "checkout@example.com"}, Actor: "docs-test"})).must(t)
	try(admin.SetLifecycle(ctx, &registryv1.SetLifecycleRequest{EventId: 9001, Version: 1, Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED, Actor: "docs-test"})).must(t)

	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	report(t, admin,
		accepted(now.Add(-time.Hour), "web", 9001, 2, 40),
		rejected(now.Add(-time.Hour), "web", 9001, 2, "MISSING_REQUIRED", 3),
		accepted(now.Add(-30*time.Hour), "web", 9001, 1, 5),
		accepted(now.Add(-20*24*time.Hour), "web", 9001, 1, 9), // before the window: last seen only
		accepted(now.Add(-2*time.Hour), "ios", 9001, 2, 11),
	)

	srv := httptest.NewServer(registry.DocsHandler(registry.New(store), func() time.Time { return now }))
	defer srv.Close()
	for path, golden := range map[string]string{
		"/docs/web/events/CartUpdated":    "cart_updated.html.golden",
		"/docs/web/events/CartUpdated.md": "cart_updated.md.golden",
		"/docs/web/":                      "web.html.golden",
		"/docs/web/index.md":              "web.md.golden",
		"/docs/":                          "index.html.golden",
	} {
		status, body, _ := get(t, srv, path)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, status, body)
			continue
		}
		file := filepath.Join("testdata", "docs", golden)
		if *update {
			if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run go test -run TestDocsGolden -update to create it)", err)
		}
		if body != string(want) {
			t.Errorf("GET %s differs from %s (run with -update if the change is intended):\n%s", path, file, lineDiff(string(want), body))
		}
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + itoa(int64(i+1)) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
			shown++
		}
	}
	return b.String()
}

// BenchmarkDocs1000 serves the documentation of a catalogue of 1,000
// versions (250 events of 4 versions): one event page, and the Markdown
// export of the whole catalogue and of an environment allowed every other
// version.
func BenchmarkDocs1000(b *testing.B) {
	store, pool := benchStore(b)
	defer pool.Close()
	benchPush(b, registry.NewAdmin(store), syntheticCatalogue(benchEvents, benchVersions, 0), benchEvents*benchVersions)
	if _, err := pool.Exec(b.Context(), `
		INSERT INTO registry.environments (name) VALUES ('half');
		INSERT INTO registry.environment_access (environment, event_id, version)
		SELECT 'half', event_id, version FROM registry.event_versions WHERE version % 2 = 0`); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(registry.DocsHandler(registry.New(store), time.Now))
	defer srv.Close()
	for _, path := range []string{"/docs/events/Event123", "/docs/half/events/Event123", "/docs/half/", "/docs/export.tar.gz", "/docs/half/export.tar.gz"} {
		b.Run(strings.Trim(path, "/"), func(b *testing.B) {
			for range b.N {
				resp, err := srv.Client().Get(srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
				}
				b.SetBytes(n)
			}
		})
	}
}

// TestDocsStoreFailure: a registry that cannot read its catalogue says so
// with a 500 rather than an empty page.
func TestDocsStoreFailure(t *testing.T) {
	store, pool := registeredStore(t)
	srv := docsServer(t, store)
	pool.Close()
	for _, path := range []string{"/docs/", "/docs/web/", "/docs/events/ItemView", "/docs/export.tar.gz"} {
		status, body, _ := get(t, srv, path)
		if status != http.StatusInternalServerError || !strings.Contains(body, "The documentation could not be built") {
			t.Errorf("GET %s on a closed pool: %d\n%s", path, status, body)
		}
	}
}

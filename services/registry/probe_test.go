package registry_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/services/registry"
)

// probe is one hostile request to a running registry.
type probe struct {
	name        string
	method      string
	path        string // sent as is: escapes stay escaped
	body        string
	contentType string
	// redirectOK accepts a 3xx: the HTTP mux answers a path with ".."
	// segments with a redirect to its clean form, before the registry.
	redirectOK bool
	// mention is in the answer when set: the parameter the registry's own
	// checks name (bodies, which no path middleware sees).
	mention string
}

// TestProbeOutsideInputs sends every outside input of the registry hostile
// values — "..", "%2e%2e", NUL, invalid UTF-8, very long names — through a
// registry served as `clickstream serve registry` serves it, on real
// PostgreSQL. Each must be answered with 4xx (or, for paths the mux cleans,
// a redirect): never 500, never a panic, never PostgreSQL's error text.
func TestProbeOutsideInputs(t *testing.T) {
	store, _ := registeredStore(t)
	const token = "probe-token"
	base := serveRegistry(t, registry.Config{AdminToken: token}, store)
	long := strings.Repeat("a", 10_000)
	const connectJSON = "application/json"

	get := func(name, path string) probe { return probe{name: name, method: http.MethodGet, path: path} }
	post := func(name, path, contentType, body string) probe {
		return probe{name: name, method: http.MethodPost, path: path, body: body, contentType: contentType}
	}
	cleaned := func(p probe) probe { p.redirectOK = true; return p }
	naming := func(param string, p probe) probe { p.mention = param; return p }
	probes := []probe{
		// Documentation pages.
		cleaned(get("docs dotdot", "/docs/../etc/passwd")),
		cleaned(get("docs escaped dotdot", "/docs/%2e%2e/%2e%2e/etc/passwd")),
		get("docs escaped slash dotdot", "/docs/web/events/..%2f..%2fetc%2fpasswd"),
		get("docs NUL environment", "/docs/web%00/"),
		get("docs NUL event", "/docs/events/ItemView%00"),
		get("docs NUL markdown", "/docs/web%00/index.md"),
		get("docs invalid UTF-8 environment", "/docs/%ff%fe/"),
		get("docs invalid UTF-8 event", "/docs/events/%ff%fe"),
		get("docs invalid UTF-8 export", "/docs/%ff%fe/export.tar.gz"),
		get("docs control character", "/docs/events/Item%01View"),
		get("docs long environment", "/docs/"+long+"/"),
		get("docs long event", "/docs/events/"+long),
		get("docs long environment event", "/docs/"+long+"/events/"+long+".md"),

		// Langpack downloads.
		naming("environment", post("langpack NUL environment", "/langpack/go/latest/", connectJSON, `{"environment":"we\u0000b"}`)),
		naming("environment", post("langpack control environment", "/langpack/go/latest/", connectJSON, `{"environment":"we\u0007b"}`)),
		post("langpack invalid UTF-8 environment", "/langpack/go/latest/", connectJSON, "{\"environment\":\"\xff\xfe\"}"),
		naming("environment", post("langpack long environment", "/langpack/go/latest/", connectJSON, `{"environment":"`+long+`"}`)),
		post("langpack dotdot environment", "/langpack/go/latest/", connectJSON, `{"environment":"../../etc"}`),
		post("langpack NUL language", "/langpack/go%00/latest/", connectJSON, `{"environment":"web"}`),
		post("langpack invalid UTF-8 version", "/langpack/go/%ff%fe/", connectJSON, `{"environment":"web"}`),
		post("langpack escaped dotdot language", "/langpack/%2e%2e/latest/", connectJSON, `{"environment":"web"}`),
		post("langpack long version", "/langpack/go/"+long+"/", connectJSON, `{"environment":"web"}`),
		post("langpack not JSON", "/langpack/go/latest/", connectJSON, "\x00\xff"),

		// The Go module proxy.
		get("goproxy NUL module", "/goproxy/example.com/web%00/@v/list"),
		get("goproxy invalid UTF-8 module", "/goproxy/%ff%fe/@v/list"),
		get("goproxy escaped dotdot", "/goproxy/..%2f..%2fetc/@v/list"),
		cleaned(get("goproxy dotdot", "/goproxy/a/../../@latest")),
		get("goproxy NUL version", "/goproxy/clickstream.local/langpack/web/@v/v1.1.0%00.info"),
		get("goproxy invalid UTF-8 version", "/goproxy/clickstream.local/langpack/web/@v/%ff%fe.zip"),
		get("goproxy long module", "/goproxy/"+long+"/@v/list"),

		// The Python package index.
		get("pypi NUL project", "/pypi/simple/web%00/"),
		get("pypi invalid UTF-8 project", "/pypi/simple/%ff%fe/"),
		get("pypi escaped dotdot project", "/pypi/simple/%2e%2e/"),
		get("pypi long project", "/pypi/simple/"+long+"/"),
		get("pypi NUL environment", "/pypi/files/web%00/x.whl"),
		get("pypi invalid UTF-8 file", "/pypi/files/web/%ff%fe.whl"),
		get("pypi escaped slash file", "/pypi/files/web/..%2f..%2fetc%2fpasswd"),
		get("pypi long environment", "/pypi/files/"+long+"/x.whl"),

		// The Composer repository.
		get("composer NUL environment", "/composer/dist/web%00/1.1.0.zip"),
		get("composer invalid UTF-8 file", "/composer/dist/web/%ff%fe.zip"),
		get("composer escaped dotdot environment", "/composer/dist/%2e%2e/1.1.0.zip"),
		get("composer long file", "/composer/dist/web/"+long+".zip"),

		// The REST gateway.
		get("rest NUL environment", "/v1/environments/web%00"),
		get("rest invalid UTF-8 environment", "/v1/environments/%ff%fe"),
		get("rest long environment", "/v1/environments/"+long),
		get("rest escaped dotdot environment", "/v1/environments/%2e%2e"),
		get("rest NUL schema set", "/v1/schema-sets/web%00"),
		get("rest invalid UTF-8 schema set", "/v1/schema-sets/%ff%fe"),
		get("rest NUL event filter", "/v1/events?environment=web%00"),
		get("rest invalid UTF-8 text filter", "/v1/events?text=%ff%fe"),
		get("rest long text filter", "/v1/events?text="+long+long+long+long+long+long+long),
		get("rest NUL owner filter", "/v1/events?owner_team=%00"),
		get("rest event id not a number", "/v1/events/%2e%2e"),
		get("rest event id NUL", "/v1/events/1%00"),
		get("rest version invalid UTF-8", "/v1/events/2005/versions/%ff%fe"),
		get("rest stats NUL environment", "/v1/events/2005/stats?environment=%00"),
		get("rest langpacks NUL language", "/v1/langpacks?language=go%00"),

		// Connect and gRPC request bodies (JSON): the path middleware does not see them.
		naming("name", post("connect GetEnvironment NUL", "/clickstream.registry.v1.RegistryService/GetEnvironment", connectJSON, `{"name":"web\u0000"}`)),
		naming("name", post("connect GetEnvironment long", "/clickstream.registry.v1.RegistryService/GetEnvironment", connectJSON, `{"name":"`+long+`"}`)),
		naming("environment", post("connect GetSchemaSet control", "/clickstream.registry.v1.RegistryService/GetSchemaSet", connectJSON, `{"environment":"we\u001bb"}`)),
		naming("text", post("connect ListEvents NUL text", "/clickstream.registry.v1.RegistryService/ListEvents", connectJSON, `{"text":"\u0000"}`)),
		naming("environment", post("connect GetLangpack NUL", "/clickstream.registry.v1.RegistryService/GetLangpack", connectJSON, `{"language":"go","environment":"\u0000","version":"latest"}`)),
		naming("environment", post("connect GetEventStats NUL", "/clickstream.registry.v1.RegistryService/GetEventStats", connectJSON, `{"eventId":2005,"environment":"\u0000"}`)),
		post("connect invalid UTF-8 body", "/clickstream.registry.v1.RegistryService/GetEnvironment", connectJSON, "{\"name\":\"\xff\xfe\"}"),
	}
	// The admin API, with the admin token.
	admin := []probe{
		naming("name", post("admin create NUL name", "/v1/admin/environments", connectJSON, `{"name":"we\u0000b","actor":"alice"}`)),
		naming("actor", post("admin create NUL actor", "/v1/admin/environments", connectJSON, `{"name":"web","actor":"al\u0000ice"}`)),
		naming("description", post("admin create NUL description", "/v1/admin/environments", connectJSON, `{"name":"web","actor":"alice","description":"\u0000"}`)),
		post("admin create long name", "/v1/admin/environments", connectJSON, `{"name":"`+long+`","actor":"alice"}`),
		post("admin create dotdot name", "/v1/admin/environments", connectJSON, `{"name":"../..","actor":"alice"}`),
		post("admin create invalid UTF-8", "/v1/admin/environments", connectJSON, "{\"name\":\"\xff\xfe\",\"actor\":\"alice\"}"),
		post("admin create not JSON", "/v1/admin/environments", connectJSON, "\x00{"),
		post("admin create wrong types", "/v1/admin/environments", connectJSON, `{"name":7,"actor":["alice"]}`),
		post("admin access NUL environment", "/v1/admin/environments/web%00/access", connectJSON, `{"eventId":2005,"allowed":true,"actor":"alice"}`),
		naming("actor", post("admin access NUL actor", "/v1/admin/environments/web/access", connectJSON, `{"eventId":2005,"allowed":true,"actor":"\u0000"}`)),
		{name: "admin owner NUL team", mention: "owner.team", method: http.MethodPut, path: "/v1/admin/events/2005/owner", contentType: connectJSON, body: `{"owner":{"team":"ma\u0000ps"},"actor":"alice"}`},
		{name: "admin owner long contact", method: http.MethodPut, path: "/v1/admin/events/2005/owner", contentType: connectJSON, body: `{"owner":{"team":"maps","contact":"` + strings.Repeat(long, 7) + `"},"actor":"alice"}`},
		{name: "admin lifecycle NUL actor", mention: "actor", method: http.MethodPut, path: "/v1/admin/events/2005/versions/1/lifecycle", contentType: connectJSON, body: `{"status":"LIFECYCLE_STATUS_DEPRECATED","actor":"\u0000"}`},
		{name: "admin lifecycle huge ids", method: http.MethodPut, path: "/v1/admin/events/4294967295/versions/4294967295/lifecycle", contentType: connectJSON, body: `{"status":"LIFECYCLE_STATUS_DEPRECATED","actor":"alice"}`},
		get("admin audit NUL entity", "/v1/admin/audit?entity=%00"),
		get("admin audit invalid UTF-8 entity", "/v1/admin/audit?entity=%ff%fe"),
		naming("author", post("admin push NUL author", "/v1/admin/schemas:push", connectJSON, `{"author":"\u0000","fileDescriptorSet":{"file":[{"name":"a.proto"}]}}`)),
		naming("message", post("admin push NUL message", "/v1/admin/schemas:push", connectJSON, `{"author":"alice","message":"\u0000","fileDescriptorSet":{"file":[{"name":"a.proto"}]}}`)),
		post("admin push garbage set", "/v1/admin/schemas:push", connectJSON, `{"author":"alice","fileDescriptorSet":{"file":[{"name":"\u0000","dependency":["../x"]}]}}`),
		naming("counts[0].environment", post("admin usage NUL environment", "/clickstream.registry.v1.RegistryAdminService/ReportUsage", connectJSON,
			`{"counts":[{"eventId":2005,"version":1,"environment":"\u0000","status":"accepted","count":1}]}`)),
		naming("counts[0].reason", post("admin usage NUL reason", "/clickstream.registry.v1.RegistryAdminService/ReportUsage", connectJSON,
			`{"counts":[{"eventId":2005,"version":1,"environment":"web","status":"rejected","reason":"\u0000","count":1}]}`)),
		naming("name", post("admin connect create NUL", "/clickstream.registry.v1.RegistryAdminService/CreateEnvironment", connectJSON, `{"name":"a\u0000","actor":"alice"}`)),
		naming("entity", post("admin connect audit control", "/clickstream.registry.v1.RegistryAdminService/ListAudit", connectJSON, `{"entity":"event:1\u0008"}`)),
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	run := func(p probe, token string) {
		t.Run(p.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), p.method, base, strings.NewReader(p.body))
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = p.path // keep the escapes as sent
			if p.contentType != "" {
				req.Header.Set("Content-Type", p.contentType)
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", p.method, p.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code := resp.StatusCode
			ok := code >= 400 && code < 500 || p.redirectOK && code >= 300 && code < 400
			if !ok {
				t.Errorf("%s %s: %d %q, want 4xx", p.method, shorten(p.path), code, shorten(string(body)))
			}
			if p.mention != "" && !strings.Contains(string(body), p.mention) {
				t.Errorf("%s %s: %d %q, want the answer to name %s", p.method, shorten(p.path), code, shorten(string(body)), p.mention)
			}
			if strings.Contains(string(body), "SQLSTATE") {
				t.Errorf("%s %s: the answer shows PostgreSQL's error: %q", p.method, shorten(p.path), shorten(string(body)))
			}
		})
	}
	for _, p := range probes {
		run(p, "")
	}
	for _, p := range admin {
		run(p, token)
	}

	// The registry still serves.
	resp, err := http.Get(base + "/v1/events/2005")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/events/2005 after the probes: %d, want 200", resp.StatusCode)
	}
}

// shorten keeps messages about very long inputs readable.
func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

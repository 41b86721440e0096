package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/web"
)

// gateway stands in for a service: it echoes what reached it.
func gateway(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"service": name, "method": r.Method, "path": r.URL.Path, "uri": r.RequestURI, "query": r.URL.RawQuery,
			"authorization": r.Header.Get("Authorization"), "cookie": r.Header.Get("Cookie"), "body": string(body),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHandler(t *testing.T) {
	registry, ingest, awards := gateway(t, "registry"), gateway(t, "ingest"), gateway(t, "awards")
	h, err := web.Handler(web.Config{RegistryURL: registry.URL, IngestURL: ingest.URL, AwardsURL: awards.URL})
	if err != nil {
		t.Fatal(err)
	}
	console := httptest.NewServer(h)
	t.Cleanup(console.Close)

	do := func(method, path, body string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, console.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp, string(data)
	}

	t.Run("the page and its assets, with a content security policy", func(t *testing.T) {
		for path, want := range map[string]string{"/console/": `<script type="module" src="console.js">`, "/console/console.js": "", "/console/console.css": ""} {
			resp, body := do("GET", path, "", nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) || body == "" {
				t.Errorf("GET %s: %d %.80q", path, resp.StatusCode, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
			}
		}
		if resp, _ := do("POST", "/console/", "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /console/: %d, want 405", resp.StatusCode)
		}
		if resp, _ := do("GET", "/", "", nil); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
			t.Errorf("GET /: %d to %q, want a redirect to /console/", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("config.json names the gateways as the browser calls them", func(t *testing.T) {
		_, body := do("GET", "/console/config.json", "", nil)
		var c web.ClientConfig
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatal(err)
		}
		want := web.ClientConfig{Registry: "/console/api/registry", Ingest: "/console/api/ingest", Awards: "/console/api/awards"}
		if c != want {
			t.Errorf("config.json = %+v, want %+v", c, want)
		}
	})

	t.Run("the REST gateway of each service, with the token and without cookies", func(t *testing.T) {
		for _, name := range []string{"registry", "ingest", "awards"} {
			resp, body := do("POST", "/console/api/"+name+"/v1/admin/things:do?x=1", `{"actor":"ops"}`,
				map[string]string{"Authorization": "Bearer T", "Cookie": "session=secret"})
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
			}
			want := map[string]string{"service": name, "method": "POST", "path": "/v1/admin/things:do", "query": "x=1",
				"authorization": "Bearer T", "cookie": "", "body": `{"actor":"ops"}`}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %s = %q, want %q", name, k, got[k], v)
				}
			}
		}
	})

	t.Run("nothing but /v1/ goes through", func(t *testing.T) {
		for _, path := range []string{"/console/api/registry/metrics", "/console/api/ingest/clickstream.ingest.v1.IngestService/SendBatch", "/console/api/awards/v1x", "/console/api/other/v1/events"} {
			resp, body := do("GET", path, "", nil)
			if resp.StatusCode != http.StatusNotFound || strings.Contains(body, `"service"`) {
				t.Errorf("GET %s: %d %s, want 404 from the console", path, resp.StatusCode, body)
			}
		}
	})

	t.Run("paths that do not decode or are not canonical once decoded are refused, others forwarded as checked", func(t *testing.T) {
		for _, path := range []string{
			"/console/%ff", "/console/api/registry/v1/%ff", "/console/%00", "/console/api/registry/v1/events%0a",
			"/console/api/registry/v1/..%2fmetrics", "/console/api/registry/v1/..%2F..%2Fmetrics", "/console/api/registry/v1/%2e%2e/metrics",
			"/console/api/registry/v1/%2E%2E%2Fmetrics", "/console/api/ingest/v1/events/.%2e/.%2e/metrics", "/console/api/awards/v1//admin",
			"/console/api/awards/v1/%2fadmin", "/console/api/registry/v1/events%5c..%5cmetrics", "/console/./index.html",
		} {
			resp, body := do("GET", path, "", nil)
			t.Logf("GET %s: %d %s", path, resp.StatusCode, strings.TrimSpace(body))
			if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, `"service"`) {
				t.Errorf("GET %s: %d %s, want 400 from the console", path, resp.StatusCode, body)
			}
		}
		// An encoded slash inside a segment reaches the service as the
		// path the console checked, not the raw form.
		resp, body := do("GET", "/console/api/registry/v1/events%2F7", "", nil)
		var got map[string]string
		_ = json.Unmarshal([]byte(body), &got)
		t.Logf("GET /console/api/registry/v1/events%%2F7: %d, the service got %q", resp.StatusCode, got["uri"])
		if resp.StatusCode != http.StatusOK || got["uri"] != "/v1/events/7" {
			t.Errorf("GET /console/api/registry/v1/events%%2F7: %d, the service got %q; want /v1/events/7", resp.StatusCode, got["uri"])
		}
	})

	t.Run("a service that is down is a 502 with a message", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		h, err := web.Handler(web.Config{RegistryURL: down.URL, IngestURL: ingest.URL, AwardsURL: awards.URL})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/api/registry/v1/events", nil))
		var st struct{ Message string }
		_ = json.Unmarshal(rec.Body.Bytes(), &st)
		if rec.Code != http.StatusBadGateway || !strings.Contains(st.Message, down.URL) {
			t.Errorf("registry down: %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("every URL is required and must be absolute", func(t *testing.T) {
		for _, c := range []web.Config{{IngestURL: ingest.URL, AwardsURL: awards.URL}, {RegistryURL: "127.0.0.1:8081", IngestURL: ingest.URL, AwardsURL: awards.URL}} {
			if _, err := web.Handler(c); err == nil {
				t.Errorf("Handler(%+v) = nil error", c)
			}
		}
	})
}

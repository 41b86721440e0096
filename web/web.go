package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

//go:embed dist
var dist embed.FS

// Prefix is where Handler serves the console.
const Prefix = "/console/"

// Assets are the built console files: index.html, console.js, console.css.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// Config names the REST gateways the console proxies to.
type Config struct {
	// RegistryURL, IngestURL and AwardsURL are the base URLs of the services
	// (http://127.0.0.1:8081 in dev).
	RegistryURL, IngestURL, AwardsURL string
}

// ClientConfig is /console/config.json: the base URL of each service's REST
// gateway as the browser calls it.
type ClientConfig struct {
	Registry string `json:"registry"`
	Ingest   string `json:"ingest"`
	Awards   string `json:"awards"`
}

// Handler serves the console under Prefix: the assets, config.json, and
// the proxies to the REST gateways under Prefix+"api/<service>/".
func Handler(cfg Config) (http.Handler, error) {
	client := ClientConfig{}
	mux := http.NewServeMux()
	for _, t := range []struct {
		name, raw string
		base      *string
	}{
		{"registry", cfg.RegistryURL, &client.Registry},
		{"ingest", cfg.IngestURL, &client.Ingest},
		{"awards", cfg.AwardsURL, &client.Awards},
	} {
		if t.raw == "" {
			return nil, fmt.Errorf("console: the URL of %s is required", t.name)
		}
		target, err := url.Parse(t.raw)
		if err != nil || target.Scheme == "" || target.Host == "" {
			return nil, fmt.Errorf("console: URL of %s %q: want http(s)://host:port", t.name, t.raw)
		}
		*t.base = Prefix + "api/" + t.name
		mux.Handle(*t.base+"/", http.StripPrefix(*t.base, gatewayProxy(target)))
	}
	config, err := json.Marshal(client)
	if err != nil {
		return nil, err
	}
	mux.HandleFunc("GET "+Prefix+"config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(config)
	})
	assets := http.StripPrefix(Prefix, http.FileServerFS(Assets()))
	mux.Handle(Prefix, securityHeaders(assets))
	mux.Handle("GET /{$}", http.RedirectHandler(Prefix, http.StatusFound))
	mux.Handle("GET /console", http.RedirectHandler(Prefix, http.StatusMovedPermanently))
	return checkPath(mux), nil
}

// checkPath answers 400 to a request whose path, once decoded, no handler
// should see: invalid UTF-8 ("/console/%ff", which the file server would
// answer 500), a control character, or a path that is not canonical (dot
// segments, "//", a backslash), however it was encoded ("..%2f",
// "%2e%2e"). What passes is forwarded as checked: the raw form is
// dropped, so a service behind the proxy sees the decoded path the console
// checked, never an encoding a proxy in between might decode differently.
func checkPath(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case !utf8.ValidString(p):
			writeStatus(w, http.StatusBadRequest, 3, "path: is not valid UTF-8 once decoded")
			return
		case strings.IndexFunc(p, unicode.IsControl) >= 0:
			writeStatus(w, http.StatusBadRequest, 3, "path: contains a control character")
			return
		case strings.Contains(p, "\\") || !canonical(p):
			writeStatus(w, http.StatusBadRequest, 3, "path: holds dot segments, an empty segment or a backslash once decoded; ask for the path itself")
			return
		}
		r.URL.RawPath = ""
		h.ServeHTTP(w, r)
	})
}

// canonical reports whether p is its own cleaned form, allowing the
// trailing slash of a directory.
func canonical(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	return clean == p || clean+"/" == p
}

// gatewayProxy forwards /v1/... (the REST gateway) to target and refuses
// every other path: the console has no business with Connect, gRPC,
// metrics or the langpack repositories.
func gatewayProxy(target *url.URL) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Cookie")
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeStatus(w, http.StatusBadGateway, 14, "the console cannot reach "+target.String()+": "+err.Error())
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			writeStatus(w, http.StatusNotFound, 5, "the console proxies the REST gateway only (/v1/...), not "+r.URL.Path)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

// writeStatus answers as the REST gateway does: a google.rpc.Status.
func writeStatus(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": message})
}

// securityHeaders serves GET and HEAD only, and keeps the console's pages to their own scripts and out of
// frames, and its URLs out of other sites' Referer headers.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console's files are read with GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

package registry

import (
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzhttp"
)

// mountHTTP mounts the registry's plain HTTP routes: langpack downloads and
// package indexes (langpack_http.go) and documentation pages (docs_http.go).
func mountHTTP(mux *http.ServeMux, svc *Service) {
	mountLangpacks(mux, svc)
	mountDocs(mux, svc)
}

// compressReads compresses the answers of the REST reads (GET /v1/...) for
// a client that accepts gzip or zstd (Accept-Encoding): the schema set of a
// thousand versions is megabytes of JSON and a tenth of it compressed.
// Connect and gRPC compress on their own, as their clients ask.
func compressReads(h http.Handler) http.Handler {
	compressed := gzhttp.GzipHandler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/") {
			compressed.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

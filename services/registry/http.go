package registry

import "net/http"

// mountHTTP mounts the registry's plain HTTP routes: langpack downloads and
// package indexes (langpack_http.go) and documentation pages (docs_http.go).
func mountHTTP(mux *http.ServeMux, svc *Service) {
	mountLangpacks(mux, svc)
	mountDocs(mux, svc)
}

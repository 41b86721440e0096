package registry

import "net/http"

// mountDocs mounts the documentation pages under /docs/. Filled in by the
// documentation work (issue 4).
func mountDocs(mux *http.ServeMux, svc *Service) {}

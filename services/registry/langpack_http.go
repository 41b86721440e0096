package registry

import "net/http"

// mountLangpacks mounts langpack delivery: /langpack/, /goproxy/, /pypi/,
// /composer/. Filled in by the langpack delivery work (issue 4).
func mountLangpacks(mux *http.ServeMux, svc *Service) {}

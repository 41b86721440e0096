package registry

import (
	"net/http"
	"time"
)

// DocsHandler serves the documentation pages with now as the clock, so
// the usage window of the pages is fixed in golden tests.
func DocsHandler(svc *Service, now func() time.Time) http.Handler {
	return docsHandler(svc, now)
}

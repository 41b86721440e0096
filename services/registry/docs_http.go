package registry

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// mountDocs mounts the documentation pages under /docs/:
//
//	/docs/                           environments and every event (HTML)
//	/docs/index.md                   the same in Markdown
//	/docs/events/<Event>             an event: versions, fields, usage, diffs
//	/docs/<env>/                     the events an environment may send
//	/docs/<env>/index.md             the same in Markdown
//	/docs/<env>/events/<Event>       an event as the environment sees it
//	/docs/<env>/events/<Event>.md    the same in Markdown (also /docs/events/<Event>.md)
//	/docs/<env>/export.tar.gz        index.md and events/<Event>.md of the environment
//	/docs/export.tar.gz              the same for the whole catalogue
//
// <Event> is the event's name (ItemView); its numeric id redirects to the
// name. Environment names cannot hold dots, so index.md and export.tar.gz
// never name one, and /docs/events/<Event> (two segments) never clashes
// with an environment called "events" (/docs/events/events/<Event>).
func mountDocs(mux *http.ServeMux, svc *Service) {
	mux.Handle("GET /docs/", docsHandler(svc, time.Now))
}

// docsHandler serves the documentation; now dates the usage window.
func docsHandler(svc *Service, now func() time.Time) http.Handler {
	d := docs{svc: svc, now: now}
	return http.HandlerFunc(d.serve)
}

// docRoute is what a documentation path asks for.
type docRoute struct {
	page  docPage
	scope docScope
	event string // the event's name or id, with ".md" for Markdown
}

// docPage is a kind of documentation page.
type docPage int

const (
	pageNone docPage = iota // no page is at the path
	pageIndex
	pageIndexMarkdown
	pageExport
	pageEnvironment
	pageEvent
)

// parseDocsPath routes the part of a documentation path after /docs/. A
// segment that is no name (NUL, control characters, invalid UTF-8, too
// long) is an error naming it; a path of no page is pageNone.
func parseDocsPath(rest string) (docRoute, error) {
	parts := strings.Split(rest, "/")
	for _, part := range parts {
		if err := checkName("documentation path segment", part); err != nil {
			return docRoute{}, err
		}
	}
	switch {
	case rest == "":
		return docRoute{page: pageIndex}, nil
	case rest == "index.md":
		return docRoute{page: pageIndexMarkdown}, nil
	case rest == "export.tar.gz":
		return docRoute{page: pageExport}, nil
	case len(parts) == 2 && parts[0] == "events" && parts[1] != "":
		return docRoute{page: pageEvent, event: parts[1]}, nil
	case len(parts) == 2 && parts[1] == "":
		return docRoute{page: pageEnvironment, scope: docScope{Env: parts[0]}}, nil
	case len(parts) == 2 && parts[1] == "index.md":
		return docRoute{page: pageIndexMarkdown, scope: docScope{Env: parts[0]}}, nil
	case len(parts) == 2 && parts[1] == "export.tar.gz":
		return docRoute{page: pageExport, scope: docScope{Env: parts[0]}}, nil
	case len(parts) == 3 && parts[1] == "events" && parts[2] != "":
		return docRoute{page: pageEvent, scope: docScope{Env: parts[0]}, event: parts[2]}, nil
	}
	return docRoute{}, nil
}

// serve routes one documentation request.
func (d docs) serve(w http.ResponseWriter, r *http.Request) {
	route, err := parseDocsPath(strings.TrimPrefix(r.URL.Path, "/docs/"))
	if err != nil {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch route.page {
	case pageIndex:
		d.serveIndex(w, r)
	case pageIndexMarkdown:
		d.serveMarkdown(w, r, func() ([]byte, error) { return d.markdownIndex(r.Context(), route.scope) })
	case pageExport:
		d.serveExport(w, r, route.scope)
	case pageEnvironment:
		d.serveEnvironment(w, r, route.scope.Env)
	case pageEvent:
		d.serveEvent(w, r, route.scope, route.event)
	default:
		d.fail(w, r, &docNotFound{
			Message: fmt.Sprintf("No documentation page is at %s. Pages are /docs/, /docs/<environment>/ and /docs/<environment>/events/<Event>.", r.URL.Path),
			Links:   []docLink{{Label: "the event catalogue", Path: "/docs/"}},
		}, false)
	}
}

func (d docs) serveIndex(w http.ResponseWriter, r *http.Request) {
	idx, err := d.index(r.Context())
	if err != nil {
		d.fail(w, r, err, false)
		return
	}
	d.writeHTML(w, r, http.StatusOK, "index", idx)
}

func (d docs) serveEnvironment(w http.ResponseWriter, r *http.Request, name string) {
	env, err := d.environment(r.Context(), name)
	if err != nil {
		d.fail(w, r, err, false)
		return
	}
	d.writeHTML(w, r, http.StatusOK, "environment", env)
}

func (d docs) serveEvent(w http.ResponseWriter, r *http.Request, scope docScope, name string) {
	if base, ok := strings.CutSuffix(name, ".md"); ok {
		d.serveMarkdown(w, r, func() ([]byte, error) { return d.markdownEvent(r.Context(), scope, base) })
		return
	}
	page, err := d.event(r.Context(), scope, name)
	if err != nil {
		d.fail(w, r, err, false)
		return
	}
	if page.Name != name { // asked by id: the name is the page's address
		http.Redirect(w, r, page.Path, http.StatusMovedPermanently)
		return
	}
	d.writeHTML(w, r, http.StatusOK, "event", page)
}

func (d docs) serveMarkdown(w http.ResponseWriter, r *http.Request, render func() ([]byte, error)) {
	body, err := render()
	if err != nil {
		d.fail(w, r, err, true)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, _ = w.Write(body)
}

func (d docs) serveExport(w http.ResponseWriter, r *http.Request, scope docScope) {
	var b bytes.Buffer
	if err := d.export(r.Context(), scope, &b); err != nil {
		d.fail(w, r, err, true)
		return
	}
	name := "clickstream-docs.tar.gz"
	if scope.Env != "" {
		name = "clickstream-docs-" + scope.Env + ".tar.gz"
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, _ = w.Write(b.Bytes())
}

// fail answers a *docNotFound with 404 and its message, anything else with
// 500. plain answers in text rather than HTML (Markdown and archives).
func (d docs) fail(w http.ResponseWriter, r *http.Request, err error, plain bool) {
	var nf *docNotFound
	if !errors.As(err, &nf) {
		slog.ErrorContext(r.Context(), "documentation page failed", "path", r.URL.Path, "err", err)
		nf = nil
	}
	status, msg := http.StatusNotFound, ""
	if nf == nil {
		status = http.StatusInternalServerError
		// The cause is logged above; storage errors are not for the public.
		msg = "The documentation could not be built: the registry could not read its catalogue. Try again; if it persists, the registry's log says why."
		nf = &docNotFound{Title: "Documentation unavailable", Message: msg}
	}
	if plain {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		var b strings.Builder
		b.WriteString(nf.Message + "\n")
		for _, l := range nf.Links {
			fmt.Fprintf(&b, "  %s: %s\n", l.Label, l.Path)
		}
		_, _ = w.Write([]byte(b.String()))
		return
	}
	d.writeHTML(w, r, status, "notfound", nf)
}

// writeHTML renders a page into a buffer first, so a failing template
// answers 500 rather than half a page.
func (d docs) writeHTML(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var b bytes.Buffer
	if err := renderHTML(&b, name, data); err != nil {
		slog.ErrorContext(r.Context(), "render documentation page", "template", name, "path", r.URL.Path, "err", err)
		http.Error(w, "the documentation page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

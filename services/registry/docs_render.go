package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	texttemplate "text/template"
	"time"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// docTemplates holds the documentation templates: *.html.tmpl rendered
// with html/template (every value escaped), *.md.tmpl with text/template
// and the md function escaping each value.
//
//go:embed templates/docs
var docTemplates embed.FS

// docUsageView is what the usage templates show of one version.
type docUsageView struct {
	Scope    docScope
	Usage    docUsage
	From, To time.Time
}

func usageView(page docEvent, v docVersion) docUsageView {
	return docUsageView{Scope: page.Scope, Usage: v.Usage, From: page.UsageFrom, To: page.UsageTo}
}

// allowedList lists the versions the scope's environment may send: "v1, v2".
func allowedList(versions []docVersion) string {
	var vs []string
	for _, v := range versions {
		if v.AllowedInScope {
			vs = append(vs, fmt.Sprintf("v%d", v.Version))
		}
	}
	if len(vs) == 0 {
		return "no version"
	}
	return strings.Join(vs, ", ")
}

// stamp formats a time the way every page does: "2026-01-02 03:04 UTC".
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

var (
	docHTML = htmltemplate.Must(htmltemplate.New("docs").Funcs(htmltemplate.FuncMap{
		"usage":   usageView,
		"stamp":   stamp,
		"allowed": allowedList,
	}).ParseFS(docTemplates, "templates/docs/*.html.tmpl"))

	docMarkdown = texttemplate.Must(texttemplate.New("docs").Funcs(texttemplate.FuncMap{
		"usage":   usageView,
		"stamp":   stamp,
		"allowed": allowedList,
		"md":      markdownText,
		"code":    markdownCode,
	}).ParseFS(docTemplates, "templates/docs/*.md.tmpl"))
)

// markdownEscaper makes text safe in Markdown prose and table cells: no
// raw HTML, no table breaks, no line breaks, no emphasis or link syntax.
var markdownEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	"|", `\|`, "\\", `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

// markdownText escapes s for Markdown.
func markdownText(s string) string { return markdownEscaper.Replace(s) }

// markdownCode is s as inline code, in a table cell: fenced with more
// backticks than s holds in a row, pipes escaped.
func markdownCode(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`).Replace(s)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// docList is what a Markdown index shows: an environment's events, or the
// environments and every event when Env is empty.
type docList struct {
	Env          string
	Description  string
	Revision     uint64
	Environments []docEnvironmentSummary
	Events       []docEventSummary
}

// renderHTML executes the named HTML template.
func renderHTML(w io.Writer, name string, data any) error {
	return docHTML.ExecuteTemplate(w, name+".html.tmpl", data)
}

// renderMarkdown executes the named Markdown template.
func renderMarkdown(w io.Writer, name string, data any) error {
	return docMarkdown.ExecuteTemplate(w, name+".md.tmpl", data)
}

// markdownIndex renders the Markdown index of scope.
func (d docs) markdownIndex(ctx context.Context, scope docScope) ([]byte, error) {
	var list docList
	if scope.Env == "" {
		idx, err := d.index(ctx)
		if err != nil {
			return nil, err
		}
		list = docList{Revision: idx.Revision, Environments: idx.Environments, Events: idx.Events}
	} else {
		env, err := d.environment(ctx, scope.Env)
		if err != nil {
			return nil, err
		}
		list = docList{Env: env.Name, Description: env.Description, Revision: env.Revision, Events: env.Events}
	}
	var b bytes.Buffer
	if err := renderMarkdown(&b, "index", list); err != nil {
		return nil, fmt.Errorf("render the Markdown index of %s: %w", scope.base(), err)
	}
	return b.Bytes(), nil
}

// markdownEvent renders the Markdown page of an event.
func (d docs) markdownEvent(ctx context.Context, scope docScope, name string) ([]byte, error) {
	page, err := d.event(ctx, scope, name)
	if err != nil {
		return nil, err
	}
	return markdownPage(page)
}

func markdownPage(page docEvent) ([]byte, error) {
	var b bytes.Buffer
	if err := renderMarkdown(&b, "event", page); err != nil {
		return nil, fmt.Errorf("render the Markdown page of %s: %w", page.Name, err)
	}
	return b.Bytes(), nil
}

// export writes the Markdown documentation of scope as a tar.gz: index.md
// and events/<Event>.md for every event of the scope.
func (d docs) export(ctx context.Context, scope docScope, w io.Writer) error {
	allowed, err := d.access(ctx, scope)
	if err != nil {
		return err
	}
	list, err := d.svc.ListEvents(ctx, &registryv1.ListEventsRequest{Environment: scope.Env})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	files := map[string][]byte{}
	names := []string{"index.md"}
	if files["index.md"], err = d.markdownIndex(ctx, scope); err != nil {
		return err
	}
	for _, e := range list.GetEvents() {
		page, err := d.eventPage(ctx, scope, allowed, list.GetRevision(), e.GetId())
		if err != nil {
			return err
		}
		name := "events/" + e.GetName() + ".md"
		if files[name], err = markdownPage(page); err != nil {
			return err
		}
		names = append(names, name)
	}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	// A fixed time keeps the archive the same for the same catalogue.
	mtime := time.Unix(0, 0).UTC()
	for _, dir := range []string{"events/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("export %s: %w", scope.base(), err)
		}
	}
	for _, name := range names {
		body := files[name]
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("export %s: %w", scope.base(), err)
		}
		if _, err := tw.Write(body); err != nil {
			return fmt.Errorf("export %s: %w", scope.base(), err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("export %s: %w", scope.base(), err)
	}
	return gz.Close()
}

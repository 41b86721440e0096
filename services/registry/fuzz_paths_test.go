package registry

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// pathSeeds are hostile path fragments every path fuzzer starts from.
var pathSeeds = []string{
	"", "/", "..", "../..", "%2e%2e", "web/../..", "web\x00", "\xff\xfe", "web/events/ItemView",
	"web/events/ItemView.md", "events/2005", "web/index.md", "export.tar.gz", "web/export.tar.gz",
	"a/b/c/d", "web/events/", "web\x01/", strings.Repeat("a", 300),
	"clickstream.local/langpack/web/@v/list", "clickstream.local/langpack/web/@latest",
	"clickstream.local/langpack/web/@v/v1.2.0.zip", "!clickstream.local/@v/", "x/@v/", "@v/@v/@v/",
}

// wellFormed reports whether s may name something: what checkName lets
// through.
func wellFormed(s string) bool {
	if len(s) > maxNameBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// FuzzDocsPath: any documentation path routes without panicking; a route
// names only well-formed environments and events, and a path with a
// malformed segment is refused.
func FuzzDocsPath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		route, err := parseDocsPath(rest)
		if err != nil {
			if allSegmentsWellFormed(rest) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("parseDocsPath(%q) refused a well-formed path, or not as invalid: %v", rest, err)
			}
			return
		}
		if !allSegmentsWellFormed(rest) {
			t.Fatalf("parseDocsPath(%q) accepted a malformed segment: %+v", rest, route)
		}
		if !wellFormed(route.scope.Env) || !wellFormed(route.event) {
			t.Fatalf("parseDocsPath(%q) = %+v: a malformed name", rest, route)
		}
		if route.page == pageEvent && route.event == "" {
			t.Fatalf("parseDocsPath(%q): an event page without an event", rest)
		}
		if strings.Contains(route.scope.Env, "/") || strings.Contains(route.event, "/") {
			t.Fatalf("parseDocsPath(%q) = %+v: a name holding a slash", rest, route)
		}
	})
}

func allSegmentsWellFormed(rest string) bool {
	for _, part := range strings.Split(rest, "/") {
		if !wellFormed(part) {
			return false
		}
	}
	return true
}

// FuzzGoproxyPath: any module proxy path parses or is refused as the
// caller's mistake (400 or 404), never otherwise, and a parsed module path
// is well formed.
func FuzzGoproxyPath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		modulePath, query, err := parseGoproxyPath(rest)
		if err != nil {
			var re *langpackRequestError
			if !errors.As(err, &re) {
				t.Fatalf("parseGoproxyPath(%q): %v is not a request error (it would answer 500)", rest, err)
			}
			if !wellFormed(rest) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("parseGoproxyPath(%q): a malformed path answered %v, want ErrInvalid", rest, err)
			}
			return
		}
		if !wellFormed(rest) || !wellFormed(modulePath) || query == "" {
			t.Fatalf("parseGoproxyPath(%q) = %q, %q: accepted a malformed request", rest, modulePath, query)
		}
	})
}

// FuzzLangpackVersion: a langpack version either parses to the zero
// Version (latest) or a version without negative parts that parses back
// from its own spelling, or is refused; never a panic.
func FuzzLangpackVersion(f *testing.F) {
	for _, s := range []string{"", "latest", "1", "v2", "0", "-1", "v", "99999999999999999999", "1\x00", "%ff", "1.2.3", "v2.1765118400.0", "1.02.3", "1.2.-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseLangpackVersion(s)
		if err != nil || v.IsZero() {
			return
		}
		if v.Major < 0 || v.Minor < 0 || v.Patch < 0 {
			t.Fatalf("parseLangpackVersion(%q) = %s", s, v)
		}
		if again, err := parseLangpackVersion(v.String()); err != nil || again != v {
			t.Fatalf("parseLangpackVersion(%q) = %s, which parses back as %s (%v)", s, v, again, err)
		}
	})
}

// FuzzCheckRequest: a request is refused exactly when one of its names is
// malformed, or its prose holds NUL or control characters other than line
// breaks and tabs; the refusal names the field.
func FuzzCheckRequest(f *testing.F) {
	f.Add("web", "alice", "The web site.")
	f.Add("we\x00b", "alice", "")
	f.Add("web", "al\x01ice", "line\nbreak\ttab")
	f.Add("\xff\xfe", "", "\x00")
	f.Add(strings.Repeat("w", 257), "alice", strings.Repeat("d", 70_000))
	f.Fuzz(func(t *testing.T, name, actor, description string) {
		err := checkRequest(&registryv1.CreateEnvironmentRequest{Name: name, Actor: actor, Description: description})
		proseOK := len(description) <= maxTextBytes && utf8.ValidString(description) &&
			strings.IndexFunc(description, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) < 0
		want := wellFormed(name) && wellFormed(actor) && proseOK
		if (err == nil) != want {
			t.Fatalf("checkRequest(name %q, actor %q, description %q) = %v, want accepted %v", name, actor, description, err, want)
		}
		if err != nil && !strings.Contains(err.Error(), "name") && !strings.Contains(err.Error(), "actor") && !strings.Contains(err.Error(), "description") {
			t.Fatalf("checkRequest refusal %q names no field", err)
		}
	})
}

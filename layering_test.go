package clickstream_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is this repository's module path.
const module = "github.com/clickstream-dev/clickstream"

// rule is one line of layering.txt: packages matching from may not import
// a package matching one of deny unless it matches one of allow.
type rule struct {
	line         int
	text         string
	from         string
	deny, allow  []string
	includeTests bool
}

// parseRules reads layering.txt.
func parseRules(r io.Reader) ([]rule, error) {
	var rules []rule
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		rl := rule{line: n, text: text}
		if s, ok := strings.CutSuffix(text, "(tests too)"); ok {
			rl.includeTests, text = true, strings.TrimSpace(s)
		}
		from, rest, ok := strings.Cut(text, " may not import ")
		if !ok {
			return nil, fmt.Errorf("layering.txt:%d: want FROM may not import TARGET... [except TARGET...], got %q", n, text)
		}
		rl.from = strings.TrimSpace(from)
		deny, allow, _ := strings.Cut(rest, " except ")
		rl.deny, rl.allow = strings.Fields(deny), strings.Fields(allow)
		if len(rl.deny) == 0 {
			return nil, fmt.Errorf("layering.txt:%d: the rule names nothing to deny", n)
		}
		rules = append(rules, rl)
	}
	return rules, sc.Err()
}

// matches reports whether the package path (relative to the module root)
// matches pattern: "x/..." is x and below, "..." is everything.
func matches(pattern, path string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// pkg is what `go list` says of one package of the module.
type pkg struct {
	ImportPath                string
	Imports                   []string
	TestImports, XTestImports []string
}

// violations lists the imports of pkgs that break rules, one line each.
func violations(rules []rule, pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		for _, r := range rules {
			if !matches(r.from, from) {
				continue
			}
			check := func(imports []string, kind string) {
				for _, imp := range imports {
					to, ours := relative(imp)
					if !ours || to == from || (kind != "imports" && to == strings.TrimSuffix(from, "_test")) {
						continue
					}
					denied := slices.ContainsFunc(r.deny, func(d string) bool { return matches(d, to) })
					allowed := slices.ContainsFunc(r.allow, func(a string) bool { return matches(a, to) })
					if denied && !allowed {
						out = append(out, fmt.Sprintf("%s %s %s, which layering.txt:%d forbids: %s", from, kind, to, r.line, r.text))
					}
				}
			}
			check(p.Imports, "imports")
			if r.includeTests {
				check(p.TestImports, "tests import")
				check(p.XTestImports, "tests import")
			}
		}
	}
	return out
}

// relative returns an import path of this module relative to its root.
func relative(importPath string) (string, bool) {
	if importPath == module {
		return ".", true
	}
	rest, ok := strings.CutPrefix(importPath, module+"/")
	return rest, ok
}

// TestLayering: no package imports across the layers layering.txt draws.
func TestLayering(t *testing.T) {
	f, err := os.Open("layering.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := parseRules(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; the module has more", len(pkgs))
	}
	for _, v := range violations(rules, pkgs) {
		t.Error(v)
	}
	imports := 0
	for _, p := range pkgs {
		imports += len(p.Imports) + len(p.TestImports) + len(p.XTestImports)
	}
	t.Logf("%d rules checked over %d packages (%d imports)", len(rules), len(pkgs), imports)
}

// TestLayeringFindsForbiddenImports: the check reports each kind of
// forbidden import the issue names, and nothing for allowed ones.
func TestLayeringFindsForbiddenImports(t *testing.T) {
	f, err := os.Open("layering.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := parseRules(f)
	if err != nil {
		t.Fatal(err)
	}
	m := func(p string) string { return module + "/" + p }
	tests := []struct {
		name string
		pkg  pkg
		want int
	}{
		{"a service imports another", pkg{ImportPath: m("services/awards"), Imports: []string{m("services/ingest")}}, 1},
		{"plumbing imports a service", pkg{ImportPath: m("internal/server"), Imports: []string{m("services/registry")}}, 1},
		{"plumbing imports the composition root", pkg{ImportPath: m("internal/bus"), Imports: []string{m("platform")}}, 1},
		{"generated code imports ours", pkg{ImportPath: m("gen/go/clickstream/bus/v1"), Imports: []string{m("internal/auth")}}, 1},
		{"a service's test imports another service", pkg{ImportPath: m("services/awards"), XTestImports: []string{m("services/registry")}}, 1},
		{"ingest's tests use the schema compiler", pkg{ImportPath: m("services/ingest"), XTestImports: []string{m("services/registry/schema")}}, 0},
		{"ingest itself may not", pkg{ImportPath: m("services/ingest"), Imports: []string{m("services/registry/schema")}}, 1},
		{"a service imports plumbing", pkg{ImportPath: m("services/awards"), Imports: []string{m("internal/bus"), m("gen/go/clickstream/bus/v1")}}, 0},
		{"the composition root imports services", pkg{ImportPath: m("platform"), Imports: []string{m("services/awards"), m("services/ingest")}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violations(rules, []pkg{tt.pkg}); len(got) != tt.want {
				t.Errorf("violations = %q, want %d", got, tt.want)
			}
		})
	}
}

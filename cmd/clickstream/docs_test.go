package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// TestDocsExport exports the Markdown documentation of an environment from
// a registry started with the starter catalogue.
func TestDocsExport(t *testing.T) {
	url := startRegistry(t)
	ctx, admin := context.Background(), adminClient(url)
	if _, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Description: "The website", Actor: "cli-test"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint32{1001, 1002} {
		if _, err := admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: id, Allowed: true, Actor: "cli-test"}); err != nil {
			t.Fatal(err)
		}
	}

	dir := filepath.Join(t.TempDir(), "docs")
	// A page an earlier export wrote for an event web no longer sends goes;
	// a file the export does not own stays.
	if err := os.MkdirAll(filepath.Join(dir, "events"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"events/Payment.md", "events/notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	out, errOut, err := runCLI(t, "--log-level", "warn", "docs", "export", "--env", "web", "-o", dir, "--registry", url)
	if err != nil {
		t.Fatalf("docs export: %v\n%s", err, errOut)
	}
	if want := "wrote 3 file(s) documenting environment web to " + dir + "\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if got, want := docFiles(t, dir), []string{"events/ItemView.md", "events/SearchQuery.md", "events/notes.txt", "index.md"}; !slices.Equal(got, want) {
		t.Errorf("wrote %v, want %v", got, want)
	}
	item := readDoc(t, filepath.Join(dir, "events", "ItemView.md"))
	for _, want := range []string{"# ItemView (event 1001)", "## Version 1 (active)", "## Version 2 (active)", "### v1 → v2", "- Environment web may send: v1, v2"} {
		if !strings.Contains(item, want) {
			t.Errorf("ItemView.md lacks %q:\n%s", want, item)
		}
	}
	if index := readDoc(t, filepath.Join(dir, "index.md")); !strings.Contains(index, "[ItemView](events/ItemView.md)") || !strings.Contains(index, "[SearchQuery](events/SearchQuery.md)") {
		t.Errorf("index.md does not link both events:\n%s", index)
	}

	// Without --env: the whole catalogue.
	all := t.TempDir()
	if _, errOut, err := runCLI(t, "--log-level", "warn", "docs", "export", "-o", all, "--registry", url); err != nil {
		t.Fatalf("docs export of the catalogue: %v\n%s", err, errOut)
	}
	events, err := registryv1connect.NewRegistryServiceClient(http.DefaultClient, url).ListEvents(ctx, &registryv1.ListEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"index.md"}
	for _, e := range events.GetEvents() {
		want = append(want, "events/"+e.GetName()+".md")
	}
	slices.Sort(want)
	if got := docFiles(t, all); !slices.Equal(got, want) {
		t.Errorf("catalogue export wrote %v, want %v", got, want)
	}

	// An unknown environment says which exist.
	_, _, err = runCLI(t, "--log-level", "warn", "docs", "export", "--env", "nope", "-o", t.TempDir(), "--registry", url)
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), `Environment "nope" does not exist. The environments are: web.`) {
		t.Errorf("export of an unknown environment: %v", err)
	}
	_, _, err = runCLI(t, "docs", "export", "--env", "web", "--registry", url)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "--output (-o) is required") {
		t.Errorf("export without -o: %v (exit %d), want a usage error", err, exitCode(err))
	}
}

// docFiles lists the files under dir, relative and slash-separated, sorted.
func docFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func readDoc(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

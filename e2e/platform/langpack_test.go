package platform_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// webLangpackStack runs the dev stack with an environment "web" that may
// send ItemView v2 and PlaceCardOpened v1, and returns it with an ingest
// API key bound to web.
func webLangpackStack(t *testing.T) (*harness.Stack, string) {
	t.Helper()
	ctx := context.Background()
	s := start(t, harness.DataDir(t))
	regAdmin, ingAdmin := adminClients(s)
	if _, err := regAdmin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Actor: "langpack-test"}); err != nil {
		t.Fatalf("CreateEnvironment web: %v", err)
	}
	for _, v := range []struct{ id, version uint32 }{{1001, 2}, {2005, 1}} {
		if _, err := regAdmin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "web", EventId: v.id, Version: v.version, Allowed: true, Actor: "langpack-test"}); err != nil {
			t.Fatalf("SetEventAccess web %d v%d: %v", v.id, v.version, err)
		}
	}
	key, err := ingAdmin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: "web", Actor: "langpack-test"})
	if err != nil {
		t.Fatalf("CreateKey web: %v", err)
	}
	awaitCatalogue(t, s, registryRevision(t, s))
	return s, key.GetSecret()
}

// webLangpackVersion is the version of web's langpack for the current
// catalogue, the same in every language ("1.<second>.0" for a new stack).
func webLangpackVersion(t *testing.T, s *harness.Stack) string {
	t.Helper()
	resp, err := http.Post(s.URL(platform.Registry)+"/langpack/go/latest/", "application/json", strings.NewReader(`{"environment":"web"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	v := resp.Header.Get("Clickstream-Langpack-Version")
	if _, err := langpack.ParseVersion(v); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("the version of web's langpack: %d, %q (%v)", resp.StatusCode, v, err)
	}
	return v
}

// run runs a command in dir with extra environment variables and returns
// its combined output, failing the test when it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestLangpackCurlAgainstDevStack: the documented curl command against the
// dev stack unpacks the web langpack, holding exactly what web may send;
// its version asked by number is the same download.
func TestLangpackCurlAgainstDevStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	s, _ := webLangpackStack(t)
	version := webLangpackVersion(t, s)
	dir := t.TempDir()
	curl := `curl -sSf -d '{"environment":"web"}' -H 'Content-Type: application/json' "$REGISTRY/langpack/go/latest/" | tar xz && ` +
		`mkdir again && cd again && curl -sSf -d '{"environment":"web"}' -H 'Content-Type: application/json' "$REGISTRY/langpack/go/$VERSION/" | tar xz`
	run(t, dir, []string{"REGISTRY=" + s.URL(platform.Registry), "VERSION=" + version}, "sh", "-c", curl)

	var m langpack.Manifest
	data, err := os.ReadFile(filepath.Join(dir, "go-web-"+version, langpack.ManifestPath))
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		t.Fatalf("the unpacked langpack's manifest: %v", err)
	}
	env, err := registryv1connect.NewRegistryServiceClient(http.DefaultClient, s.URL(platform.Registry)).
		GetEnvironment(context.Background(), &registryv1.GetEnvironmentRequest{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var allowed []string
	for _, v := range env.GetEnvironment().GetAllowed() {
		allowed = append(allowed, v.GetMessageName())
	}
	if !slices.Equal(m.Events, allowed) || len(allowed) != 2 {
		t.Errorf("the langpack holds %v, web may send %v", m.Events, allowed)
	}
	if slices.Contains(m.Events, "clickstream.events.v1.ItemViewV1") {
		t.Error("the langpack holds ItemViewV1, which web may not send")
	}
	if _, err := os.Stat(filepath.Join(dir, "go-web-"+version, "clickstream", "events", "v1", "search_query.pb.go")); err == nil {
		t.Error("the langpack holds SearchQuery, which web may not send")
	}
	again, err := os.ReadFile(filepath.Join(dir, "again", "go-web-"+version, langpack.ManifestPath))
	if err != nil || string(again) != string(data) {
		t.Errorf("version %s by number differs from latest: %v", version, err)
	}
}

// TestLangpackGoGetThroughModuleProxy: `go get` through the registry's
// module proxy installs the web langpack in a fresh module, and a program
// built with it sends an event that the running ingest accepts (and refuses
// to build an event that lacks a required field).
func TestLangpackGoGetThroughModuleProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS, runs the go command")
	}
	s, key := webLangpackStack(t)
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	realCache := strings.TrimSpace(run(t, ".", nil, goBin, "env", "GOMODCACHE"))
	realProxy := strings.TrimSpace(run(t, ".", nil, goBin, "env", "GOPROXY"))

	dir := t.TempDir()
	module := langpack.NamesFor("web").GoModule
	// The app's go.sum starts as the repository's, so the dependencies the
	// langpack shares with it (protobuf, connect) verify offline.
	sum, err := os.ReadFile("../../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module example.com/webapp\n\ngo 1.26\n",
		"go.sum": string(sum),
		"main.go": `package main

import (
	"context"
	"fmt"
	"os"

	web "` + module + `"
	eventsv1 "` + module + `/clickstream/events/v1"
)

func main() {
	ctx := context.Background()
	if _, err := web.NewItemViewV2(&eventsv1.ItemViewV2{Context: &eventsv1.Context{UserId: "u-go"}}); err == nil {
		fmt.Println("an ItemViewV2 without item_id was accepted by its constructor")
		os.Exit(1)
	}
	ev, err := web.NewItemViewV2(&eventsv1.ItemViewV2{Context: &eventsv1.Context{UserId: "u-go"}, ItemId: 4815162342, Referrer: "langpack"})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	sender := web.NewSender(os.Args[1], web.WithAPIKey(os.Args[2]))
	results, err := sender.Send(ctx, ev)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	sender.Close(ctx)
	for _, r := range results {
		fmt.Println(r.Key, r.Status, r.Rejection)
	}
}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A private module cache keeps the langpack out of the real one;
	// everything else comes
	// from the real cache through a file:// proxy, then the machine's own.
	env := []string{
		"GOPROXY=" + s.URL(platform.Registry) + "/goproxy,file://" + filepath.ToSlash(filepath.Join(realCache, "cache", "download")) + "," + realProxy,
		"GONOSUMDB=langpack.clickstream.dev",
		"GONOSUMCHECK=1",
		"GOFLAGS=-mod=mod -modcacherw",
		"GOMODCACHE=" + filepath.Join(dir, "modcache"),
		"GOWORK=off",
		"GOTOOLCHAIN=local",
	}
	version := "v" + webLangpackVersion(t, s)
	run(t, dir, env, goBin, "get", module+"@"+version)
	out := run(t, dir, env, goBin, "run", ".", s.URL(platform.Ingest), key)
	if !strings.Contains(out, "EVENT_STATUS_ACCEPTED") {
		t.Fatalf("the program's event was not accepted by ingest:\n%s", out)
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.Contains(string(gomod), module+" "+version) {
		t.Errorf("go.mod does not require %s %s:\n%s", module, version, gomod)
	}
}

// TestLangpackPipInstallFromSimpleIndex: pip installs the web langpack from
// the registry's simple index into a fresh venv, and a Python program using
// it sends an event that the running ingest accepts over REST (and a
// missing required field raises before sending).
func TestLangpackPipInstallFromSimpleIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS, runs pip")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	s, key := webLangpackStack(t)
	dir := t.TempDir()
	venv := filepath.Join(dir, "venv")
	run(t, dir, nil, python, "-m", "venv", venv)
	pipEnv := []string{"PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1", "PIP_CONFIG_FILE=/dev/null"}
	run(t, dir, pipEnv, filepath.Join(venv, "bin", "pip"), "install", "--index-url", s.URL(platform.Registry)+"/pypi/simple/",
		langpack.NamesFor("web").PythonDist+"=="+webLangpackVersion(t, s))

	script := `import sys
from clickstream_events_web import Context, ItemViewV2, Sender, ValidationError

try:
    ItemViewV2(context=Context(user_id="u-py")).validate()
    sys.exit("an ItemViewV2 without item_id passed validation")
except ValidationError as e:
    print("missing required field raised:", e)

ev = ItemViewV2(context=Context(user_id="u-py"), item_id=4815162342, referrer="langpack")
results = Sender(sys.argv[1], sys.argv[2]).send(ev, keys=["pip-langpack-1"])
for r in results:
    print(r.key, r.status, r.rejection)
`
	if err := os.WriteFile(filepath.Join(dir, "send.py"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, nil, filepath.Join(venv, "bin", "python"), "send.py", s.URL(platform.Ingest), key)
	if !strings.Contains(out, "pip-langpack-1 EVENT_STATUS_ACCEPTED") || !strings.Contains(out, "missing required field raised") {
		t.Fatalf("the Python program's event was not accepted by ingest:\n%s", out)
	}
}

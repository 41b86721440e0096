package platform_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// TestGoLangpacksCoexistWithTheClient: one Go program imports the
// langpacks of two environments, fetched with `go get` through the
// registry's module proxy, and the project's client (client/ingestclient
// with the repository's gen/go), all of which declare
// clickstream/options/v1/options.proto, clickstream/events/v1/item_view.proto
// and the ingest contract. It starts without a registration panic and sends
// through each sender and the client, with their own event types and one
// another's; ingest accepts every event.
func TestGoLangpacksCoexistWithTheClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS, runs the go command")
	}
	ctx := context.Background()
	s := start(t, harness.DataDir(t))
	regAdmin, ingAdmin := adminClients(s)
	keys := map[string]string{}
	for env, versions := range map[string][][2]uint32{
		"web":     {{1001, 2}, {2005, 1}}, // ItemView v2, PlaceCardOpened v1
		"backend": {{1001, 1}, {1001, 2}}, // ItemView v1 and v2
	} {
		if _, err := regAdmin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: env, Actor: "coexist-test"}); err != nil {
			t.Fatalf("CreateEnvironment %s: %v", env, err)
		}
		for _, v := range versions {
			if _, err := regAdmin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: env, EventId: v[0], Version: v[1], Allowed: true, Actor: "coexist-test"}); err != nil {
				t.Fatalf("SetEventAccess %s %d v%d: %v", env, v[0], v[1], err)
			}
		}
		key, err := ingAdmin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: env, Actor: "coexist-test"})
		if err != nil {
			t.Fatalf("CreateKey %s: %v", env, err)
		}
		keys[env] = key.GetSecret()
	}
	awaitCatalogue(t, s, registryRevision(t, s))

	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	realCache := strings.TrimSpace(run(t, ".", nil, goBin, "env", "GOMODCACHE"))
	realProxy := strings.TrimSpace(run(t, ".", nil, goBin, "env", "GOPROXY"))
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	web, backend := langpack.NamesFor("web").GoModule, langpack.NamesFor("backend").GoModule
	dir := t.TempDir()
	for name, content := range map[string]string{
		// The project's client comes from this checkout, as a program's
		// go.mod would take it from its repository.
		"go.mod": "module example.com/twoenvs\n\ngo 1.26.0\n\nrequire github.com/clickstream-dev/clickstream v0.0.0\n\n" +
			"replace github.com/clickstream-dev/clickstream => " + repo + "\n",
		"go.sum":  string(sum),
		"main.go": strings.NewReplacer("$WEB", web, "$BACKEND", backend).Replace(twoEnvironmentsProgram),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"GOPROXY=" + s.URL(platform.Registry) + "/goproxy,file://" + filepath.ToSlash(filepath.Join(realCache, "cache", "download")) + "," + realProxy,
		"GONOSUMDB=langpack.clickstream.dev",
		"GOFLAGS=-mod=mod -modcacherw -trimpath", // -trimpath: the build cache serves the dependencies whatever the module cache
		"GOMODCACHE=" + filepath.Join(dir, "modcache"),
		"GOWORK=off",
		"GOTOOLCHAIN=local",
	}
	started := time.Now()
	run(t, dir, env, goBin, "get", web+"@latest", backend+"@latest")
	t.Logf("go get of both langpacks: %s", time.Since(started).Round(time.Millisecond))
	started = time.Now()
	out := run(t, dir, env, goBin, "run", ".", s.URL(platform.Ingest), keys["web"], keys["backend"])
	t.Logf("go run of the program: %s", time.Since(started).Round(time.Millisecond))
	t.Logf("the program printed:\n%s", out)

	// web: 2 of its own + the client's ItemViewV2 through the web sender;
	// backend: 2 of its own; the client: 2 (its own type and a pack's).
	const want = 7
	accepted, lines := 0, 0
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "sent ") {
			continue
		}
		lines++
		if strings.Contains(line, " EVENT_STATUS_ACCEPTED") {
			accepted++
		} else {
			t.Errorf("not accepted: %s", strings.TrimSpace(line))
		}
	}
	t.Logf("%d of %d events accepted (want %d)", accepted, lines, want)
	if lines != want || accepted != want {
		t.Errorf("%d events answered, %d accepted; want %d, all accepted", lines, accepted, want)
	}
	if !strings.Contains(out, "refused before sending: ItemViewV1 (event 1001 v1): required field item_id is not set") {
		t.Error("the backend pack did not refuse an ItemViewV1 without item_id")
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	for _, mod := range []string{web, backend} {
		if !strings.Contains(string(gomod), mod+" v") {
			t.Errorf("go.mod does not require %s:\n%s", mod, gomod)
		}
	}
}

// twoEnvironmentsProgram sends for two environments and through the
// project's client: os.Args are ingest's URL and the web and backend keys.
const twoEnvironmentsProgram = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"google.golang.org/protobuf/proto"

	backend "$BACKEND"
	backendv1 "$BACKEND/clickstream/events/v1"
	web "$WEB"
	webv1 "$WEB/clickstream/events/v1"
)

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	return v
}

func main() {
	ctx := context.Background()
	url, webKey, backendKey := os.Args[1], os.Args[2], os.Args[3]
	if _, err := backend.NewItemViewV1(&backendv1.ItemViewV1{Context: &backendv1.Context{UserId: "u-b"}}); err != nil {
		fmt.Println("refused before sending:", err)
	}

	// Each environment's sender with its pack's types; the web sender also
	// takes the repository's ItemViewV2, the same event version.
	ws := web.NewSender(url, web.WithAPIKey(webKey))
	defer ws.Close(ctx)
	for i, r := range must(ws.Send(ctx,
		must(web.NewItemViewV2(&webv1.ItemViewV2{Context: &webv1.Context{UserId: "u-w"}, ItemId: 1, Referrer: "coexist"})),
		must(web.NewPlaceCardOpenedV1(&webv1.PlaceCardOpenedV1{Context: &webv1.Context{UserId: "u-w"}, ObjectId: "place-1"})),
		&eventsv1.ItemViewV2{Context: &eventsv1.Context{UserId: "u-w"}, ItemId: 2},
	)) {
		fmt.Printf("sent web %d: %s %v %v\n", i, r.Status, r.Rejection, r.Err)
	}
	bs := backend.NewSender(url, backend.WithAPIKey(backendKey))
	defer bs.Close(ctx)
	packItem := must(backend.NewItemViewV1(&backendv1.ItemViewV1{Context: &backendv1.Context{UserId: "u-b"}, ItemId: 3}))
	for i, r := range must(bs.Send(ctx, packItem,
		must(backend.NewItemViewV2(&backendv1.ItemViewV2{Context: &backendv1.Context{UserId: "u-b"}, ItemId: 4})),
	)) {
		fmt.Printf("sent backend %d: %s %v %v\n", i, r.Status, r.Rejection, r.Err)
	}

	// The project's client, with the repository's types and a pack's.
	client := ingestclient.New(url, ingestclient.WithAPIKey(backendKey))
	var events []*ingestv1.Event
	for _, m := range []proto.Message{&eventsv1.ItemViewV2{Context: &eventsv1.Context{UserId: "u-c"}, ItemId: 5}, packItem} {
		events = append(events, must(ingestclient.Typed(m)))
	}
	for i, r := range must(client.Send(ctx, events...)) {
		fmt.Printf("sent client %d: %s %v %v\n", i, r.Status, r.Rejection, r.Err)
	}
}
`

package faults_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	protosrc "github.com/clickstream-dev/clickstream/proto"
)

// The scenario of the registry's memory at a thousand versions, and the
// bounds its process is held to, in resident memory.
const (
	// memoryEvents × memoryVersions synthetic versions are pushed on top
	// of the repository's catalogue.
	memoryEvents   = 250
	memoryVersions = 4
	// memoryGrants access grants follow, each a new catalogue revision.
	memoryGrants = 200
	// memoryPeakRSS is never exceeded through the push, the grants, the
	// schema-set reads and a langpack of every language.
	memoryPeakRSS = 300 << 20
	// memoryIdleRSS is reached again within memoryIdle after the last
	// request.
	memoryIdleRSS = 200 << 20
	memoryIdle    = time.Minute
	// memoryIdleFirst is how long the idle registry is watched at least,
	// past its collection after a burst (idleCollectAfter, 5 s).
	memoryIdleFirst = 10 * time.Second
	// memoryGrantsGrowth bounds what the grants may add to the resident
	// memory of the registry: a revision holds nothing once answered.
	memoryGrantsGrowth = 24 << 20
	// memoryRevisionsRSS bounds the dev process (a registry, ingest, awards
	// and NATS following every revision in one process) through the push,
	// its dev environment's revisions and the grants: following a revision
	// that changes no descriptor costs no download and no parse.
	memoryRevisionsRSS = 200 << 20
)

// memoryLanguages are the langpack languages the scenario fetches: every
// one the registry generates.
var memoryLanguages = []string{"go", "python", "typescript", "php", "java", "swift", "csharp"}

// TestRegistryMemoryThousandVersions runs the scenario of a catalogue of a
// thousand versions on a registry of its own (`clickstream serve registry`,
// a child process on the database of a `clickstream dev`), with an ingest
// of its own watching it (`clickstream serve ingest`) as in production: it
// pushes memoryEvents × memoryVersions versions with the CLI, grants an
// environment access to events memoryGrants times (each grant a new
// revision, which ingest follows), reads the schema sets over REST and
// Connect as clients do, and fetches the langpack of every language. It
// prints the resident memory of the registry (and, for comparison, of the
// dev process, where the registry shares a process with ingest, awards and
// NATS) after each stage, and holds the registry to memoryPeakRSS
// throughout, to memoryGrantsGrowth over the grants and to memoryIdleRSS
// within memoryIdle of the last request, and the dev process, which follows
// every revision too, to memoryRevisionsRSS.
func TestRegistryMemoryThousandVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clickstream dev and services as child processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := harness.NewDev(t, binary)
	d.Start()
	adminToken, databaseURL := d.Secret("admin-token"), d.Secret("database-url")
	registryURL, registryPid := serveChild(t, "registry", "--database-url", databaseURL, "--admin-token", adminToken)
	serveChild(t, "ingest", "--database-url", databaseURL, "--nats-url", d.NATSURL(), "--registry-url", registryURL, "--admin-token", adminToken)
	rss, devRSS := watchRSS(t, registryPid), watchRSS(t, d.Pid())
	began := time.Now()
	type mark struct{ registry, dev int }
	begin := func() mark { return mark{rss.mark(), devRSS.mark()} }
	stage := func(name string, m mark) {
		t.Logf("%-42s registry RSS %3d MiB, peak %3d MiB | dev RSS %3d MiB, peak %3d MiB (%s)", name,
			rss.current()>>20, rss.peakSince(m.registry)>>20, devRSS.current()>>20, devRSS.peakSince(m.dev)>>20,
			time.Since(began).Round(100*time.Millisecond))
	}
	stage("started", mark{})

	// A thousand versions, pushed as a team pushes: the CLI compiles the
	// sources (comments and all) and sends them with their source info.
	m := begin()
	dir := thousandVersions(t)
	push := exec.CommandContext(ctx, binary, "schema", "push", dir, "--registry", registryURL, "--admin-token", adminToken, "--message", "a thousand versions")
	out, err := push.CombinedOutput()
	if err != nil {
		t.Fatalf("clickstream schema push: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("registered %d new version(s)", memoryEvents*memoryVersions)) {
		t.Fatalf("the push did not register %d versions:\n%.300s", memoryEvents*memoryVersions, out)
	}
	stage(fmt.Sprintf("pushed %d versions", memoryEvents*memoryVersions), m)

	h := &http.Client{Timeout: time.Minute}
	reads := registryv1connect.NewRegistryServiceClient(h, registryURL)
	admin := registryv1connect.NewRegistryAdminServiceClient(h, registryURL, connect.WithInterceptors(bearer(adminToken)))
	if _, err := admin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: "web", Actor: "memory test"}); err != nil {
		t.Fatal(err)
	}
	// The dev stack allows the pushed versions in its dev environment, a
	// revision per event, which every watcher follows: wait for it, so the
	// stages below see only their own revisions.
	all, err := reads.GetSchemaSet(ctx, &registryv1.GetSchemaSetRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		dev, err := reads.GetEnvironment(ctx, &registryv1.GetEnvironmentRequest{Name: "dev"})
		if err != nil {
			t.Fatal(err)
		}
		if len(dev.GetEnvironment().GetAllowed()) == len(all.GetVersions()) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the dev environment allows %d of %d versions", len(dev.GetEnvironment().GetAllowed()), len(all.GetVersions()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stage(fmt.Sprintf("dev environment allows all %d", len(all.GetVersions())), m)

	// Access grants: a new revision each, which ingest follows.
	m = begin()
	before := rss.current()
	for i := range memoryGrants {
		_, err := admin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{
			Environment: "web", EventId: uint32(memoryFirstID + i), Allowed: true, Actor: "memory test"})
		if err != nil {
			t.Fatalf("grant %d: %v", i+1, err)
		}
		if (i+1)%50 == 0 {
			stage(fmt.Sprintf("%d access grants", i+1), m)
		}
	}
	growth := rss.peakSince(m.registry) - before
	t.Logf("the grants added at most %d MiB to the registry (bound %d MiB)", growth>>20, memoryGrantsGrowth>>20)
	if growth > memoryGrantsGrowth {
		t.Errorf("the grants added %d MiB to the registry's resident memory, over the bound of %d MiB", growth>>20, memoryGrantsGrowth>>20)
	}
	web, err := reads.GetSchemaSet(ctx, &registryv1.GetSchemaSetRequest{Environment: "web"})
	if err != nil {
		t.Fatal(err)
	}
	devPeak := devRSS.peakSince(0)
	t.Logf("peak resident memory of the dev process through revisions 1 to %d: %d MiB (bound %d MiB)", web.GetRevision(), devPeak>>20, memoryRevisionsRSS>>20)
	if devPeak > memoryRevisionsRSS {
		t.Errorf("peak resident memory of the dev process through revisions 1 to %d: %d MiB, over the bound of %d MiB", web.GetRevision(), devPeak>>20, memoryRevisionsRSS>>20)
	}
	if got, want := len(web.GetVersions()), memoryGrants*memoryVersions; got != want {
		t.Errorf("web may send %d versions after the grants, want %d", got, want)
	}
	// Grants change no version: the whole catalogue's set is as it was, and
	// a client holding it is told so instead of downloading it again.
	again, err := reads.GetSchemaSet(ctx, &registryv1.GetSchemaSetRequest{SinceRevision: all.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("schema set of every version since revision %d: revision %d, not modified %v", all.GetRevision(), again.GetRevision(), again.GetNotModified())
	if again.GetRevision() < all.GetRevision()+memoryGrants || !again.GetNotModified() || again.GetFileDescriptorSet() != nil {
		t.Errorf("the set of every version since revision %d after %d grants: revision %d, not modified %v, %d files; want a revision %d later, not modified, no files",
			all.GetRevision(), memoryGrants, again.GetRevision(), again.GetNotModified(), len(again.GetFileDescriptorSet().GetFile()), memoryGrants)
	}

	// Reads as clients make them: the schema set of web over REST, plain
	// and with gzip, and every environment's over Connect.
	m = begin()
	plain, gzipped := schemaSetSizes(ctx, t, registryURL+"/v1/schema-sets/web")
	t.Logf("schema set of web over REST: %.1f MB of JSON, %.2f MB with gzip", float64(plain)/1e6, float64(gzipped)/1e6)
	if gzipped*4 > plain {
		t.Errorf("the schema set of web is %d bytes with gzip, %d without: want a quarter or less", gzipped, plain)
	}
	for _, env := range []string{"web", "dev", ""} {
		set, err := reads.GetSchemaSet(ctx, &registryv1.GetSchemaSetRequest{Environment: env})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("schema set of %q over Connect: %d versions in %d files", env, len(set.GetVersions()), len(set.GetFileDescriptorSet().GetFile()))
	}
	stage("read the schema sets", m)

	// A langpack of every language for the environment granted the
	// versions.
	m = begin()
	for _, lang := range memoryLanguages {
		resp, err := reads.GetLangpack(ctx, &registryv1.GetLangpackRequest{Language: lang, Environment: "web"})
		if err != nil {
			t.Fatalf("%s langpack of web: %v", lang, err)
		}
		t.Logf("%-10s langpack of web: %d events, %.1f MB", lang, len(resp.GetLangpack().GetEvents()), float64(len(resp.GetArchive()))/1e6)
		if got, want := len(resp.GetLangpack().GetEvents()), memoryGrants*memoryVersions; got != want {
			t.Errorf("%s langpack of web holds %d events, want %d", lang, got, want)
		}
	}
	stage("fetched a langpack of every language", m)

	peak := rss.peakSince(0)
	t.Logf("peak resident memory of the registry %d MiB (bound %d MiB); of the dev process %d MiB", peak>>20, memoryPeakRSS>>20, devRSS.peakSince(0)>>20)
	if peak > memoryPeakRSS {
		t.Errorf("peak resident memory of the registry %d MiB, over the bound of %d MiB", peak>>20, memoryPeakRSS>>20)
	}
	idle := time.Now()
	settled := rss.current()
	for time.Since(idle) < memoryIdleFirst || settled > memoryIdleRSS && time.Since(idle) < memoryIdle {
		time.Sleep(time.Second)
		settled = rss.current()
	}
	stage("idle", begin())
	t.Logf("resident memory of the registry %d MiB after %s idle (bound %d MiB within %s)", settled>>20, time.Since(idle).Round(time.Second), memoryIdleRSS>>20, memoryIdle)
	if settled > memoryIdleRSS {
		t.Errorf("resident memory of the registry %d MiB after %s idle, over the bound of %d MiB", settled>>20, memoryIdle, memoryIdleRSS>>20)
	}
}

// serveChild runs `clickstream serve <service>` with args on a free port
// until the test ends, waits until it is ready, and returns its URL and
// process id.
func serveChild(t *testing.T, service string, args ...string) (url string, pid int) {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, service+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(harness.FreePort(t))
	cmd := exec.Command(binary, append([]string{"serve", service, "--addr", addr, "--data-dir", dir}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", logPath, harness.Tail(logPath, 30))
		}
	})
	url = "http://" + addr
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := harness.WaitReady(ctx, url, exited); err != nil {
		t.Fatalf("clickstream serve %s: %v\n%s", service, err, harness.Tail(logPath, 30))
	}
	return url, cmd.Process.Pid
}

// memoryFirstID is the id of the first synthetic event.
const memoryFirstID = 30000

// thousandVersions writes the repository's catalogue and memoryEvents
// synthetic events of memoryVersions versions each, one file per event with
// comments and field options as teams write them, into a new directory.
func thousandVersions(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(protosrc.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".proto") {
			return err
		}
		data, err := fs.ReadFile(protosrc.FS, path)
		if err != nil {
			return err
		}
		return writeFile(filepath.Join(dir, path), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	common := `syntax = "proto3";

package memory.v1;

// Where an event was sent from.
message Device {
  // Operating system and its version, e.g. "android 14".
  string os = 1;
  // Version of the app that sent the event.
  string app_version = 2;
  // Screen size in pixels.
  int32 screen_width = 3;
  int32 screen_height = 4;
}
`
	if err := writeFile(filepath.Join(dir, "memory/v1/device.proto"), []byte(common)); err != nil {
		t.Fatal(err)
	}
	for e := range memoryEvents {
		var b strings.Builder
		fmt.Fprintf(&b, "syntax = \"proto3\";\n\npackage memory.v1;\n\nimport \"clickstream/options/v1/options.proto\";\nimport \"memory/v1/device.proto\";\n")
		for v := 1; v <= memoryVersions; v++ {
			fmt.Fprintf(&b, `
// Synthetic event %[1]d, version %[2]d: a user did thing %[1]d on a page.
message Thing%03[1]dV%[2]d {
  option (clickstream.options.v1.event) = {
    id: %[3]d
    version: %[2]d
    description: "A user did thing %[1]d on a page (version %[2]d)."
  };

  // The device the user held.
  Device device = 1 [(clickstream.options.v1.field) = {required: true}];
  // Who did it.
  string user_id = 2 [(clickstream.options.v1.field) = {required: true, pii: true, description: "Id of the user."}];
  // The item the thing was done to.
  int64 item_id = 3 [(clickstream.options.v1.field) = {example: "4815162342"}];
  // What it cost, if anything.
  double price = 4;
`, e, v, memoryFirstID+e)
			for f := range v {
				fmt.Fprintf(&b, "  // Detail %d added in a later version.\n  string detail_%d = %d;\n", f+1, f+1, 5+f)
			}
			b.WriteString("}\n")
		}
		if err := writeFile(filepath.Join(dir, fmt.Sprintf("memory/v1/thing_%03d.proto", e)), []byte(b.String())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// schemaSetSizes GETs a schema set over REST, plainly and asking for gzip,
// and returns the bytes each answer took on the wire; the gzip answer must
// inflate to the plain one.
func schemaSetSizes(ctx context.Context, t *testing.T, url string) (plain, gzipped int64) {
	t.Helper()
	var body []byte
	for _, enc := range []string{"identity", "gzip"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept-Encoding", enc)
		// A transport of its own, so it neither asks for gzip nor inflates.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s (%s): %d, %v", url, enc, resp.StatusCode, err)
		}
		if enc == "identity" {
			plain, body = int64(len(b)), b
			continue
		}
		gzipped = int64(len(b))
		if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
			t.Errorf("GET %s with Accept-Encoding: gzip: Content-Encoding %q", url, got)
			return plain, gzipped
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		inflated, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		// protojson varies its spaces from run to run: compare values.
		var want, got any
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(inflated, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s: the gzip answer inflates to %d bytes (%v), unlike the plain %d", url, len(inflated), err, len(body))
		}
	}
	return plain, gzipped
}

// bearer adds the admin token to every request.
func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}
}

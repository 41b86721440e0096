package platform_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// typescriptNodeApp sends with the web langpack from Node with a server
// key: two events ACCEPTED, one hand-made event with a wrong type REJECTED
// with its reason and field, and an event lacking a required field refused
// before anything is sent.
const typescriptNodeApp = `import { Context, ItemViewV2, PlaceCardOpenedV1, Sender, ValidationError, ENVIRONMENT } from "@clickstream/events-web";

const [url, key] = process.argv.slice(2);
const sender = new Sender(url, { apiKey: key, flushIntervalMs: 0 });
try {
  sender.add(new ItemViewV2({ context: new Context({ userId: "u-node" }) }));
  console.log("an ItemViewV2 without item_id was queued");
} catch (e) {
  console.log("refused before sending:", e instanceof ValidationError, e.message);
}
console.log("waiting:", sender.waiting, "environment:", ENVIRONMENT);
sender.add(new ItemViewV2({ context: new Context({ userId: "u-node" }), itemId: 4815162342n, referrer: "langpack" }), "node-ts-1");
sender.add(new PlaceCardOpenedV1({ context: new Context({ userId: "u-node" }), objectId: "cafe-1" }), "node-ts-2");
// Not built with the pack: what a wrong value from outside the types looks like to ingest.
sender.add({ eventId: 1001, eventVersion: 2, messageName: "clickstream.events.v1.ItemViewV2", deprecated: false,
  validate() {}, toJSON: () => ({ context: { userId: "u-node" }, itemId: "not a number" }) }, "node-ts-3");
for (const r of await sender.close()) {
  console.log("verdict", r.key, r.status, r.rejection?.reason ?? "-", r.rejection?.fieldPath ?? "-", r.stored);
}
`

// typescriptNodeTS is an app compiled against the installed pack with
// strict flags.
const typescriptNodeTS = `import { Context, ItemViewV2, Sender } from "@clickstream/events-web";
import type { Result } from "@clickstream/events-web";

const sender = new Sender("http://127.0.0.1:1", { apiKey: "ck", batchSize: 50 });
const ev = new ItemViewV2({ context: new Context({ userId: "u" }), itemId: 1n, categoryId: 24 });
const id: bigint | undefined = ev.getItemId();
sender.add(ev);
const results: Promise<Result[]> = sender.close();
void results, id;
`

// TestLangpackTypeScriptFromTarball: the web TypeScript langpack the
// registry serves is an npm tarball: npm installs it as a plain dependency
// of a fresh app, `node app.mjs` sends to the running ingest with a server
// key and prints one verdict per event, and tsc compiles an app against it
// with --strict --exactOptionalPropertyTypes.
func TestLangpackTypeScriptFromTarball(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS, runs npm and node")
	}
	node := needTool(t, "node", "apt-get install nodejs")
	npm := needTool(t, "npm", "apt-get install npm")
	tsc := needTool(t, filepath.Join(repoRoot(t), "tools", "npm", "node_modules", ".bin", "tsc"), "npm ci --prefix tools/npm")
	s, key := webLangpackStack(t)

	dir := t.TempDir()
	tarball := fetch(t, "POST", s.URL(platform.Registry)+"/langpack/typescript/latest/", `{"environment":"web"}`)
	writeFile(t, filepath.Join(dir, "web.tgz"), tarball)
	writeFile(t, filepath.Join(dir, "package.json"), []byte(`{"name": "webapp", "private": true, "type": "module"}`+"\n"))
	writeFile(t, filepath.Join(dir, "app.mjs"), []byte(typescriptNodeApp))
	writeFile(t, filepath.Join(dir, "app.ts"), []byte(typescriptNodeTS))
	npmEnv := []string{"npm_config_cache=" + filepath.Join(dir, ".npm"), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false"}
	run(t, dir, npmEnv, npm, "install", "--offline", "--ignore-scripts", "./web.tgz")
	pkg, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(langpack.NamesFor("web").NPMPackage), "package.json"))
	if err != nil {
		t.Fatalf("npm did not install the langpack: %v", err)
	}
	t.Logf("installed %s (%d bytes of tarball)", strings.Join(strings.Fields(string(pkg))[:5], " "), len(tarball))

	out := run(t, dir, nil, node, "app.mjs", s.URL(platform.Ingest), key)
	t.Logf("node app.mjs:\n%s", out)
	for _, want := range []string{
		"refused before sending: true ItemViewV2 (event 1001 v2): required field item_id is not set",
		"waiting: 0 environment: web",
		"verdict node-ts-1 EVENT_STATUS_ACCEPTED - - true",
		"verdict node-ts-2 EVENT_STATUS_ACCEPTED - - true",
		"verdict node-ts-3 EVENT_STATUS_REJECTED REJECT_REASON_WRONG_TYPE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("node output lacks %q", want)
		}
	}
	run(t, dir, nil, tsc, "--noEmit", "--strict", "--exactOptionalPropertyTypes", "--skipLibCheck", "false",
		"--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "app.ts")
	t.Log("tsc --strict --exactOptionalPropertyTypes compiles an app against the installed pack")

}

// repoRoot is the module's root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
	"github.com/clickstream-dev/clickstream/web"
)

const adminToken = "console-test-admin-token-0123456789"

// screenshotsEnv names the folder the test writes its screenshots to; without
// it they go to a new folder under the system's temporary directory, kept after
// the test so a reviewer can look (the test prints where).
const screenshotsEnv = "CLICKSTREAM_CONSOLE_SCREENSHOTS"

// chromium finds the browser: Debian's chromium, or $CHROMIUM. Without one
// the test skips, and fails under CI, where .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium); CI needs it for the console's browser tests")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

func startStack(t *testing.T) *platform.Stack {
	t.Helper()
	return harness.StartStack(t, harness.DevConfig(harness.DataDir(t), adminToken, "console-test-pii-secret-0123456789")).Stack
}

// rest does one call to a REST gateway and decodes the JSON answer into out.
// restStatus does an unauthenticated request and returns the status,
// decoding a 200 answer into out.
func restStatus(t *testing.T, method, url string, out any) int {
	t.Helper()
	status, data := harness.REST(t, "", method, url, "")
	if status == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, data)
		}
	}
	return status
}

func rest(t *testing.T, token, method, url, body string, out any) {
	t.Helper()
	status, data := harness.REST(t, token, method, url, body)
	if status != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d: %s", method, url, status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, data)
		}
	}
}

type sendResult struct {
	Results []struct {
		Status    string `json:"status"`
		Rejection struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"rejection"`
	} `json:"results"`
}

// send posts events (protobuf JSON of ingest's Event) to ingest's REST gateway.
func send(t *testing.T, s *platform.Stack, events ...string) sendResult {
	t.Helper()
	var r sendResult
	rest(t, s.IngestKey(), "POST", s.URL(platform.Ingest)+"/v1/events:batch", `{"events":[`+strings.Join(events, ",")+`]}`, &r)
	return r
}

// pushPlaceCardV2 registers PlaceCardOpenedV2 and waits until ingest validates against it.
func pushPlaceCardV2(t *testing.T, ctx context.Context, s *platform.Stack) {
	t.Helper()
	set, err := schema.Compile(ctx, harness.CatalogueWithV2(t, "clickstream/events/v1/place_card_opened.proto", "PlaceCardOpened"))
	if err != nil {
		t.Fatal(err)
	}
	admin := registryv1connect.NewRegistryAdminServiceClient(harness.BearerClient(adminToken), s.URL(platform.Registry))
	resp, err := admin.PushSchemas(ctx, &registryv1.PushSchemasRequest{FileDescriptorSet: set.FileDescriptorSet(), Author: "console-test", Message: "add PlaceCardOpenedV2"})
	if err != nil {
		t.Fatalf("push PlaceCardOpenedV2: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.IngestCatalogueRevision() < uint64(resp.GetRevision()) {
		if time.Now().After(deadline) {
			t.Fatalf("ingest still validates against revision %d, not %d", s.IngestCatalogueRevision(), resp.GetRevision())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browser is a headless Chromium tab on the console.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
}

func newBrowser(t *testing.T, exe, base, shots string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first Do starts the browser, for as long as ctx lives: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base, shots: shots}
}

// stepTimeout bounds each step of a flow.
const stepTimeout = 20 * time.Second

// run runs steps, failing the test with the step that failed, the console's
// error banner and a screenshot.
func (b *browser) run(step string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		alert, _ := evaluate[string](b.ctx, `document.getElementById("error")?.textContent ?? ""`)
		page, _ := evaluate[string](b.ctx, `(document.getElementById("main")?.innerText ?? "").slice(0, 3000)`)
		b.shot("failed-" + strings.NewReplacer(" ", "-", "/", "-", "#", "").Replace(step))
		b.t.Fatalf("%s: %v\nconsole error banner: %q\npage:\n%s", step, err, alert, page)
	}
}

func evaluate[T any](ctx context.Context, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := evaluate[T](b.ctx, expr)
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// js is a step that evaluates expr for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

// until waits until the console has no call in flight (nothing is aria-busy)
// and the JavaScript expression cond is true.
func (b *browser) until(step, cond string) {
	b.t.Helper()
	cond = `!document.querySelector("[aria-busy]") && (` + cond + `)`
	b.run(step, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))(ctx, t)
		return err
	}))
}

// text is the text content of the first element matching the selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, sel))
}

// open goes to a console page and waits until it has loaded with heading h1.
func (b *browser) open(hash, h1 string) {
	b.t.Helper()
	b.run("open "+hash, js(fmt.Sprintf(`location.hash = %q`, hash)))
	b.until("load "+hash, fmt.Sprintf(`(document.querySelector("#main h1")?.textContent ?? "").includes(%q)`, h1))
	if msg := b.text("#error"); msg != "" {
		b.shot("failed-" + h1)
		b.t.Fatalf("%s shows an error: %s", hash, msg)
	}
	b.labelled(hash)
}

// labelled fails when a form control on the page has no label.
func (b *browser) labelled(page string) {
	b.t.Helper()
	unlabelled := eval[[]string](b, `[...document.querySelectorAll("input, select, textarea")]
		.filter(e => e.type !== "hidden" && !(e.labels && e.labels.length) && !e.getAttribute("aria-label"))
		.map(e => e.outerHTML)`)
	if len(unlabelled) > 0 {
		b.t.Errorf("%s: form controls without a label: %v", page, unlabelled)
	}
}

// shot writes a screenshot of the whole page as PNG.
func (b *browser) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(b.shots, name+".png"), buf, 0o644)
	}
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(screenshotsEnv)
	var err error
	if dir == "" {
		dir, err = os.MkdirTemp("", "clickstream-console-screenshots-")
	} else {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of the console in %s (set $%s to choose)", dir, screenshotsEnv)
	return dir
}

// setValue sets a form control's value as a person choosing it would.
func setValue(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(sel), value)
}

func TestConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, NATS and Chromium")
	}
	exe := chromium(t)
	s := startStack(t)
	ctx := context.Background()
	h, err := web.Handler(web.Config{RegistryURL: s.URL(platform.Registry), IngestURL: s.URL(platform.Ingest), AwardsURL: s.URL(platform.Awards)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := newBrowser(t, exe, srv.URL+web.Prefix, screenshotDir(t))

	t.Run("sign in with the keyboard; a wrong token shows the platform's message", func(t *testing.T) {
		b.t = t
		b.run("open the console", chromedp.Navigate(b.base), chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)))
		b.labelled("sign in")
		b.shot("01-sign-in")
		b.run("wrong token", chromedp.SendKeys(chromedp.CSS(`input[name=token]`), "not-the-token"+kb.Enter))
		b.until("the error banner", `(document.getElementById("error")?.textContent ?? "") !== ""`)
		if msg := b.text("#error"); !strings.Contains(strings.ToLower(msg), "token") {
			t.Errorf("a wrong token shows %q, want the platform's message about the token", msg)
		}
		b.shot("02-sign-in-error")
		// The token field has the focus; Tab moves to the actor, Tab to the button, Enter signs in.
		b.run("sign in",
			chromedp.Focus(chromedp.CSS(`input[name=token]`)),
			js(`document.querySelector("input[name=token]").value = ""`),
			chromedp.KeyEvent(adminToken),
			chromedp.KeyEvent(kb.Tab),
			chromedp.KeyEvent(kb.End),
			chromedp.KeyEvent("-tester"),
			chromedp.KeyEvent(kb.Tab),
			chromedp.KeyEvent(kb.Enter),
		)
		b.until("the catalogue", `document.querySelectorAll("table.events tbody tr").length > 0`)
		href := eval[string](b, `location.href`)
		stored := eval[string](b, `sessionStorage.getItem("clickstream.console.token")`)
		actor := eval[string](b, `sessionStorage.getItem("clickstream.console.actor")`)
		if strings.Contains(href, adminToken) || stored != adminToken || actor != "console-tester" {
			t.Errorf("after sign-in: URL %q, session token %q, actor %q; want the token in session storage only and actor console-tester", href, stored, actor)
		}
	})

	t.Run("find PhotoStatusChanged and diff V1 to V2", func(t *testing.T) {
		b.t = t
		b.open("#/registry", "Event catalogue")
		b.shot("10-registry-catalogue")
		b.run("search", setValue(`select[name=status]`, "LIFECYCLE_STATUS_ACTIVE"),
			chromedp.SendKeys(chromedp.CSS(`input[name=text]`), "photo"+kb.Enter))
		b.until("search results", `[...document.querySelectorAll("table.events tbody tr")].length === 1`)
		b.run("open the event", chromedp.Click(chromedp.Search(`//table[contains(@class,"events")]//a[text()="PhotoStatusChanged"]`)))
		b.until("the event page", `!!document.querySelector("#v2 table")`)
		b.run("diff", setValue(`select[name=from]`, "1"), setValue(`select[name=to]`, "2"),
			chromedp.Click(chromedp.Search(`//button[text()="Show diff"]`)))
		b.until("the diff", `document.querySelectorAll("#diff li").length > 0`)
		var want struct{ Changes []string }
		rest(t, "", "GET", s.URL(platform.Registry)+"/v1/events/2001/diff?fromVersion=1&toVersion=2", "", &want)
		got := eval[[]string](b, `[...document.querySelectorAll("#diff li")].map(li => li.textContent)`)
		if strings.Join(got, "\n") != strings.Join(want.Changes, "\n") || len(got) == 0 {
			t.Errorf("the console's diff V1→V2:\n%s\nthe REST gateway's:\n%s", strings.Join(got, "\n"), strings.Join(want.Changes, "\n"))
		}
		if !strings.Contains(b.text("#v2"), "previous_status") {
			t.Errorf("the V2 fields do not list previous_status: %s", b.text("#v2"))
		}
		b.shot("11-registry-event-diff")
	})

	t.Run("allow a version in an environment and see the audit row", func(t *testing.T) {
		b.t = t
		b.open("#/registry/environments", "Environments")
		b.run("create an environment", chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "console-web"),
			chromedp.Click(chromedp.Search(`//button[text()="Create environment"]`)))
		b.until("the new environment", `[...document.querySelectorAll("select[name=environment] option")].some(o => o.value === "console-web")`)
		b.run("allow PhotoStatusChangedV2", setValue(`#access select[name=environment]`, "console-web"),
			chromedp.SendKeys(chromedp.CSS(`#access input[name=eventId]`), "2001"),
			setValue(`#access input[name=version]`, "2"),
			setValue(`#access select[name=allowed]`, "true"),
			chromedp.Click(chromedp.Search(`//button[text()="Save access"]`)))
		b.until("the audit row", `[...document.querySelectorAll("table.audit tbody tr")].some(tr => tr.textContent.includes("environment:console-web") && tr.textContent.includes("2001") && tr.textContent.includes("console-tester"))`)
		b.shot("20-registry-audit")
		b.open("#/registry/environments", "Environments")
		b.shot("21-registry-environments")
		b.open("#/registry/usage", "Usage")
		b.shot("22-registry-usage")
	})

	t.Run("replay a dead letter after registering its version", func(t *testing.T) {
		b.t = t
		r := send(t, s, `{"idempotencyKey":"console-dl-1","json":{"eventId":2005,"version":2,"data":{"context":{"userId":"u-dl"},"objectId":"cafe-9"}}}`)
		if r.Results[0].Rejection.Reason != "REJECT_REASON_UNKNOWN_VERSION" {
			t.Fatalf("PlaceCardOpenedV2 before its push: %+v, want UNKNOWN_VERSION", r.Results)
		}
		var dls struct {
			DeadLetters []struct{ Sequence, EventKey string }
		}
		rest(t, adminToken, "GET", s.URL(platform.Ingest)+"/v1/admin/dead-letters?reason=REJECT_REASON_UNKNOWN_VERSION", "", &dls)
		var seq string
		for _, d := range dls.DeadLetters {
			if d.EventKey == "console-dl-1" {
				seq = d.Sequence
			}
		}
		if seq == "" {
			t.Fatalf("no dead letter console-dl-1 in %+v", dls)
		}
		pushPlaceCardV2(t, ctx, s)
		b.open("#/ingest/dead-letters", "Dead letters")
		b.run("filter", setValue(`select[name=reason]`, "UNKNOWN_VERSION"), chromedp.Click(chromedp.Search(`//button[text()="Filter"]`)))
		b.until("the dead letter", fmt.Sprintf(`!!document.querySelector('input[name=seq][value="%s"]')`, seq))
		b.run("show it", chromedp.Click(chromedp.Search(fmt.Sprintf(`//table[contains(@class,"dead-letters")]//button[text()="%s"]`, seq))))
		b.until("its payload", `(document.querySelector("#dead-letter pre")?.textContent ?? "").includes("cafe-9")`)
		b.shot("30-ingest-dead-letter")
		replay := func(status string) {
			t.Helper()
			b.run("replay it", chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[name=seq][value="%s"]`, seq))),
				chromedp.Click(chromedp.Search(`//button[text()="Replay selected"]`)))
			b.until(status, fmt.Sprintf(`[...document.querySelectorAll("table.replay-results tbody tr")].some(tr => tr.cells[0].textContent === "%s" && tr.cells[1].textContent === %q)`, seq, status))
		}
		// Registered, the version is not yet allowed in dev: the replay says so.
		replay("REJECTED")
		if r := b.text("table.replay-results"); !strings.Contains(r, "NOT_ALLOWED") || !strings.Contains(r, "PlaceCardOpenedV2") {
			t.Errorf("the replay before the version is allowed shows %q, want NOT_ALLOWED naming PlaceCardOpenedV2", r)
		}
		b.shot("31-ingest-replay-not-allowed")
		rev := s.IngestCatalogueRevision()
		b.open("#/registry/environments", "Environments")
		b.run("allow PlaceCardOpenedV2 in dev", setValue(`#access select[name=environment]`, "dev"),
			chromedp.SendKeys(chromedp.CSS(`#access input[name=eventId]`), "2005"),
			setValue(`#access input[name=version]`, "2"),
			setValue(`#access select[name=allowed]`, "true"),
			chromedp.Click(chromedp.Search(`//button[text()="Save access"]`)))
		b.until("the audit row", `[...document.querySelectorAll("table.audit tbody tr")].some(tr => tr.textContent.includes("environment:dev") && tr.textContent.includes("2005"))`)
		deadline := time.Now().Add(20 * time.Second)
		for s.IngestCatalogueRevision() <= rev {
			if time.Now().After(deadline) {
				t.Fatalf("ingest still validates against revision %d after the access change", rev)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.open("#/ingest/dead-letters", "Dead letters")
		replay("ACCEPTED")
		b.until("gone from the dead letters", fmt.Sprintf(`!document.querySelector('input[name=seq][value="%s"]')`, seq))
		b.shot("32-ingest-replayed")
	})

	t.Run("an invalid filter names the filter and the setting", func(t *testing.T) {
		b.t = t
		b.open("#/awards", "Achievements")
		b.shot("40-awards-achievements")
		b.open("#/awards/edit/local-guide", "Edit local-guide")
		b.run("load version 1 from the history", chromedp.Click(chromedp.CSS(`button[aria-label="load version 1 into the editor"]`)))
		b.until("the dry run of version 1", `(document.querySelector("#validation")?.textContent ?? "").includes("valid; nothing changes")`)
		b.shot("41-awards-editor")
		config := `{"id":"console-trips","title":"Console trips","policy":"sticky",
			"objectives":[{"key":"navi","sources":["navigation"],
				"filters":[{"name":"NumberRangeFilter","config":{"field":"distance_m","bogus":1}}],
				"rule":{"name":"SumRule","config":{"field":"distance_m"}}}],
			"strategy":{"goal":10,"strategy":[{"objective_id":"navi","normalization_factor":0.001}]}}`
		b.open("#/awards/edit/", "New achievement")
		b.run("write the configuration", setValue(`textarea[name=config]`, config),
			chromedp.Click(chromedp.Search(`//button[text()="Validate (dry run)"]`)))
		b.until("the dry run's problems", `document.querySelectorAll("#validation .problems li").length > 0`)
		if p := b.text("#validation .problems"); !strings.Contains(p, "NumberRangeFilter") || !strings.Contains(p, "bogus") {
			t.Errorf("the dry run shows %q, want the filter NumberRangeFilter and the setting bogus named", p)
		}
		b.run("save", chromedp.Click(chromedp.Search(`//button[text()="Save"]`)))
		b.until("the error", `(document.getElementById("error")?.textContent ?? "") !== ""`)
		if msg := b.text("#error"); !strings.Contains(msg, "NumberRangeFilter") || !strings.Contains(msg, "bogus") {
			t.Errorf("saving shows %q, want the filter NumberRangeFilter and the setting bogus named", msg)
		}
		b.shot("42-awards-invalid-filter")
	})

	t.Run("explain local-guide as a tree with node values 7, 3, 4", func(t *testing.T) {
		b.t = t
		u := "u-console"
		r := send(t, s,
			fmt.Sprintf(`{"json":{"eventId":2002,"version":1,"data":{"context":{"userId":%q},"reviewId":"r-1","objectId":"cafe-1","status":"CONTENT_STATUS_ACTIVE"}}}`, u),
			fmt.Sprintf(`{"json":{"eventId":2001,"version":2,"data":{"context":{"userId":%q},"photoId":"p-1","objectId":"cafe-1","status":"CONTENT_STATUS_ACTIVE"}}}`, u),
			fmt.Sprintf(`{"json":{"eventId":2001,"version":2,"data":{"context":{"userId":%q},"photoId":"p-2","objectId":"cafe-2","status":"CONTENT_STATUS_ACTIVE"}}}`, u),
			fmt.Sprintf(`{"json":{"eventId":2004,"version":1,"data":{"context":{"userId":%q},"tripId":"t-1","distanceM":"2500"}}}`, u),
			fmt.Sprintf(`{"json":{"eventId":2004,"version":1,"data":{"context":{"userId":%q},"tripId":"t-2","distanceM":"1500"}}}`, u),
		)
		for i, x := range r.Results {
			if x.Status != "EVENT_STATUS_ACCEPTED" {
				t.Fatalf("event %d: %+v", i, x)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			var got struct {
				Achievements []struct {
					Achievement struct{ ID string }
					Progress    float64
				}
			}
			// The profile answers 404 until awards has counted one of the
			// user's events.
			if code := restStatus(t, "GET", s.URL(platform.Awards)+"/v1/users/"+u+"/achievements", &got); code != http.StatusOK && code != http.StatusNotFound {
				t.Fatalf("GET %s's achievements: HTTP %d", u, code)
			}
			var progress float64
			for _, a := range got.Achievements {
				if a.Achievement.ID == "local-guide" {
					progress = a.Progress
				}
			}
			if progress == 7 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("local-guide progress of %s is %v, want 7", u, progress)
			}
			time.Sleep(50 * time.Millisecond)
		}
		b.open("#/awards/explain", "Explain")
		b.run("explain", chromedp.SendKeys(chromedp.CSS(`input[name=user]`), u), setValue(`select[name=achievement]`, "local-guide"),
			chromedp.Click(chromedp.Search(`//form//button[text()="Explain"]`)))
		b.until("the tree", `document.querySelectorAll("svg.tree g.node").length === 6`)
		values := eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("svg.tree g.node")].map(g => [g.dataset.path, g.querySelector("text.value").textContent]))`)
		want := map[string]string{"": "7", "strategy[0]": "3", "strategy[1]": "4"}
		for path, v := range want {
			if values[path] != v {
				t.Errorf("node %q shows %q, want %s (all: %v)", path, values[path], v, values)
			}
		}
		b.shot("50-awards-explain")
		b.open("#/awards/log", "Processing log")
		b.run("log", chromedp.SendKeys(chromedp.CSS(`input[name=user]`), u), setValue(`select[name=achievement]`, "local-guide"),
			chromedp.Click(chromedp.Search(`//form//button[text()="Show log"]`)))
		b.until("the processing log", `document.querySelectorAll("table.log tbody tr").length >= 5`)
		b.shot("51-awards-processing-log")
	})

	t.Run("pause and resume a source", func(t *testing.T) {
		b.t = t
		const source = "NavigationTripFinished"
		state := func() bool {
			var r struct {
				Sources []struct {
					Name   string
					Paused bool
				}
			}
			rest(t, adminToken, "GET", s.URL(platform.Awards)+"/v1/admin/sources", "", &r)
			for _, x := range r.Sources {
				if x.Name == source {
					return x.Paused
				}
			}
			t.Fatalf("no source %s in %+v", source, r)
			return false
		}
		row := `[...document.querySelectorAll("table.sources tbody tr")].find(tr => tr.cells[0].textContent === "` + source + `")`
		b.open("#/awards/sources", "Sources")
		b.run("pause", chromedp.Click(chromedp.CSS(`button[aria-label="pause `+source+`"]`)))
		b.until("paused", row+`?.cells[1].textContent === "paused"`)
		if !state() {
			t.Error("the console shows the source paused; the REST gateway does not")
		}
		b.shot("60-awards-source-paused")
		b.run("resume", chromedp.Click(chromedp.CSS(`button[aria-label="resume `+source+`"]`)))
		b.until("running", row+`?.cells[1].textContent === "running"`)
		if state() {
			t.Error("the console shows the source running; the REST gateway says paused")
		}
	})

	t.Run("every other page loads against the services", func(t *testing.T) {
		b.t = t
		b.open("#/ingest/keys", "API keys")
		b.run("create a key", chromedp.SendKeys(chromedp.CSS(`input[name=description]`), "console partner"),
			chromedp.Click(chromedp.Search(`//button[text()="Create key"]`)))
		b.until("the secret, once", `(document.querySelector("#secret code")?.textContent ?? "").length > 10`)
		b.shot("70-ingest-keys")
		b.open("#/ingest/report", "Hourly report")
		// The report reads the warehouse copy, which follows the bus: ask again until the
		// replayed PlaceCardOpenedV2 and the five events of the explain flow are in it.
		for deadline := time.Now().Add(15 * time.Second); !strings.Contains(b.text("#report"), "6 events in the window"); {
			if time.Now().After(deadline) {
				t.Fatalf("the hourly report shows %q, want 6 events", b.text("#report"))
			}
			b.run("show the report", chromedp.Click(chromedp.Search(`//form//button[text()="Show"]`)))
			time.Sleep(100 * time.Millisecond)
		}
		bars := eval[[]string](b, `[...document.querySelectorAll("#report svg.chart rect title")].map(t => t.textContent)`)
		if !strings.Contains(strings.Join(bars, "\n"), "NavigationTripFinishedV1: 2") {
			t.Errorf("the report's bars are %q, want one of NavigationTripFinishedV1: 2", bars)
		}
		b.shot("71-ingest-report")
		b.open("#/registry/events/2004", "NavigationTripFinished")
		b.until("the usage chart", `!!document.querySelector("#usage svg.chart")`)
		// The event's typed warehouse table, named and sampled.
		b.until("the warehouse table and its rows", `(document.querySelector("#warehouse a.table-name")?.textContent ?? "") === "warehouse.navigation_trip_finished" && document.querySelectorAll("#warehouse table tr").length >= 3`)
		b.shot("72-registry-event-usage")
		for _, p := range []struct{ hash, h1, shot string }{
			{"#/awards/notifications", "Parked notifications", "73-awards-notifications"},
			{"#/awards/backfills", "Backfills", "74-awards-backfills"},
			{"#/awards/reconcile", "Reconcile", "75-awards-reconcile"},
		} {
			b.open(p.hash, p.h1)
			b.shot(p.shot)
		}
		b.run("reconcile", chromedp.Click(chromedp.Search(`//form//button[text()="Reconcile"]`)))
		b.until("no drift", `(document.querySelector("#reconcile")?.textContent ?? "").includes("no drift")`)
	})

	t.Run("sign out forgets the token", func(t *testing.T) {
		b.t = t
		b.run("sign out", chromedp.Click(chromedp.Search(`//button[text()="Sign out"]`)))
		b.until("the sign-in form", `!!document.querySelector("input[name=token]") && document.getElementById("nav").hidden`)
		if tok := eval[any](b, `sessionStorage.getItem("clickstream.console.token")`); tok != nil {
			t.Errorf("after sign-out the session storage holds the token %v", tok)
		}
	})

}

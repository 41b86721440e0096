package docs_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/e2e/harness"
)

// The examples of the docs are run against a dev stack the test starts (see
// development.md, "Examples in these docs are tested"):
//
//   - A block is run when the line just before its ```sh fence is a marker
//     `<!-- run: NAME; expect: TEXT; wait: DURATION -->`. The marker is an
//     HTML comment, so GitHub renders nothing for it.
//   - Each block runs with `bash -euo pipefail` in a directory laid out like
//     the repository root (the stack's .clickstream/, proto/ and services/
//     linked from the repository), with the built clickstream on the PATH.
//   - The docs use make dev's fixed addresses (127.0.0.1:8080 to 8083). The
//     stack runs on free ports instead, so the test never collides with a
//     make dev or another test on the machine, and each block's addresses are
//     rewritten to those ports before it runs; the CLI, whose defaults are the
//     fixed addresses, is pointed at the stack with CLICKSTREAM_REGISTRY,
//     CLICKSTREAM_INGEST and CLICKSTREAM_AWARDS.
//   - curl fails on an HTTP error (--fail-with-body), so an example whose
//     route, body or token broke fails even without an expect.

// binary is the clickstream binary TestMain builds.
var binary string

// repoRoot is the repository's root, the parent of this package's directory.
var repoRoot string

func TestMain(m *testing.M) {
	flag.Parse()
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	repoRoot = filepath.Dir(wd)
	if testing.Short() {
		os.Exit(m.Run()) // TestExamples skips itself; the link checks run
	}
	built, remove, err := harness.BuildClickstream()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = built
	code := m.Run()
	remove()
	os.Exit(code)
}

// requiredBlocks are the examples that must stay marked: the README's tour
// and at least one per page that touches the dev stack. Removing a marker
// fails the test instead of silently running less.
var requiredBlocks = []string{
	"tour-send", "tour-usage", "tour-award",
	"registry-read", "registry-grpc", "registry-push", "registry-admin",
	"ingest-send", "ingest-admin", "ingest-subscriptions",
	"langpack-fetch",
	"awards-public", "awards-admin", "awards-admin-api",
	"console-proxy",
	"operations-health",
}

// block is one marked ```sh block of a page.
type block struct {
	name   string
	file   string // relative to the repository root
	line   int    // of the fence
	script string
	expect []string
	wait   time.Duration
}

func (b block) String() string { return fmt.Sprintf("%s (%s:%d)", b.name, b.file, b.line) }

// pages returns README.md and then the docs pages in the order the README
// links them.
func pages(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	for _, m := range regexp.MustCompile(`\]\((docs/[a-z-]+\.md)(#[^)]*)?\)`).FindAllStringSubmatch(string(readme), -1) {
		if !slices.Contains(files, m[1]) {
			files = append(files, m[1])
		}
	}
	return files
}

var (
	markerRE = regexp.MustCompile(`^<!--\s*run:(.*)-->\s*$`)
	fenceRE  = regexp.MustCompile("^\\s*(`{3,})")
)

// parseBlocks reads the marked blocks of file (relative to the repository
// root). A marker that is not right before a ```sh fence is an error, so a
// marker cannot silently stop applying.
func parseBlocks(file string) ([]block, error) {
	f, err := os.Open(filepath.Join(repoRoot, file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks  []block
		pending *block // marker seen on the previous line
		current *block // inside a marked block
		fence   string // the backticks of the unmarked fenced block we are in
		body    strings.Builder
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case current != nil:
			if strings.TrimSpace(line) == "```" {
				current.script = body.String()
				blocks = append(blocks, *current)
				current = nil
				body.Reset()
				continue
			}
			body.WriteString(line + "\n")
		case fence != "":
			if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, "`") == "" {
				fence = ""
			}
		case pending != nil:
			if strings.TrimSpace(line) != "```sh" {
				return nil, fmt.Errorf("%s:%d: the marker of %q is not followed by a ```sh fence (it must be the line just before it)", file, n-1, pending.name)
			}
			pending.line = n
			current, pending = pending, nil
		default:
			if m := markerRE.FindStringSubmatch(line); m != nil {
				b, err := parseMarker(m[1])
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %w", file, n, err)
				}
				b.file = file
				pending = &b
			} else if m := fenceRE.FindStringSubmatch(line); m != nil {
				fence = m[1] // an unmarked block: skipped up to its closing fence
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if pending != nil || current != nil {
		return nil, fmt.Errorf("%s: a marked block is not closed at the end of the file", file)
	}
	return blocks, nil
}

// parseMarker reads "NAME; expect: TEXT; wait: 30s" (the part after run:).
func parseMarker(s string) (block, error) {
	parts := strings.Split(s, ";")
	b := block{name: strings.TrimSpace(parts[0])}
	if !regexp.MustCompile(`^[a-z0-9-]+$`).MatchString(b.name) {
		return b, fmt.Errorf("marker name %q: use lower-case letters, digits and dashes", b.name)
	}
	for _, p := range parts[1:] {
		key, value, ok := strings.Cut(strings.TrimSpace(p), ":")
		value = strings.TrimSpace(value)
		switch {
		case !ok:
			return b, fmt.Errorf("marker %s: %q is not key: value (keys: expect, wait)", b.name, p)
		case key == "expect" && value != "":
			b.expect = append(b.expect, value)
		case key == "wait":
			d, err := time.ParseDuration(value)
			if err != nil {
				return b, fmt.Errorf("marker %s: wait: %w", b.name, err)
			}
			b.wait = d
		default:
			return b, fmt.Errorf("marker %s: unknown key %q (keys: expect, wait)", b.name, key)
		}
	}
	return b, nil
}

// allBlocks parses every page and checks that names are unique and every
// required block is marked.
func allBlocks(t *testing.T) []block {
	t.Helper()
	var blocks []block
	seen := map[string]block{}
	for _, file := range pages(t) {
		bs, err := parseBlocks(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if prev, ok := seen[b.name]; ok {
				t.Fatalf("block name %q is used twice: %s and %s", b.name, prev, b)
			}
			seen[b.name] = b
		}
		blocks = append(blocks, bs...)
	}
	for _, name := range requiredBlocks {
		if _, ok := seen[name]; !ok {
			t.Errorf("no block is marked <!-- run: %s -->; the docs example test requires it", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return blocks
}

// TestMarkedBlocks checks the markers without running anything (so -short
// catches a broken or removed marker): each is right before a ```sh fence,
// names are unique, and every required block is marked.
func TestMarkedBlocks(t *testing.T) {
	blocks := allBlocks(t)
	perFile := map[string]int{}
	for _, b := range blocks {
		perFile[b.file]++
	}
	t.Logf("%d marked blocks (%d required) in %d files: %v", len(blocks), len(requiredBlocks), len(perFile), perFile)
}

// TestExamples runs every marked block against a dev stack.
func TestExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clickstream dev")
	}
	blocks := allBlocks(t)
	st := startDev(t)
	ran := []string{}
	for _, b := range blocks {
		start := time.Now()
		out, attempts, err := st.run(b)
		if err != nil {
			t.Errorf("%s: %v\nthe block as run:\n%s\noutput:\n%s", b, err, st.rewrite(b.script), shorten(out, 3000))
			continue
		}
		t.Logf("ran %s: %d attempt(s), %.1f s, %d bytes of output, %d expectation(s) met", b, attempts, time.Since(start).Seconds(), len(out), len(b.expect))
		ran = append(ran, b.name)
	}
	t.Logf("%d of %d marked blocks ran cleanly: %s", len(ran), len(blocks), strings.Join(ran, ", "))
}

// TestEveryPageLinked fails when a page in docs/ is not linked from the
// README, or a relative link of the README or a page points at nothing.
func TestEveryPageLinked(t *testing.T) {
	linked := pages(t)
	entries, err := os.ReadDir(filepath.Join(repoRoot, "docs"))
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") {
			all = append(all, "docs/"+e.Name())
		}
	}
	for _, p := range all {
		if !slices.Contains(linked, p) {
			t.Errorf("%s is not linked from README.md", p)
		}
	}
	links := 0
	linkRE := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	for _, p := range append([]string{"README.md"}, all...) {
		data, err := os.ReadFile(filepath.Join(repoRoot, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			if _, err := os.Stat(filepath.Join(repoRoot, filepath.Dir(p), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", p, target)
			}
		}
	}
	t.Logf("%d pages in docs/, all linked from README.md; %d relative links checked", len(all), links)
	if len(all) < 7 {
		t.Errorf("docs/ has %d pages; want at least the seven subsystem pages", len(all))
	}
}

// stack is the dev stack the examples run against.
type stack struct {
	t       *testing.T
	root    string // the working directory of the blocks, laid out like the repository root
	ports   map[string]int
	env     []string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// devPorts are make dev's fixed ports, which the docs use, and what the test
// rewrites each of to.
var devPorts = []struct {
	name string
	port int
}{{"console", 8080}, {"registry", 8081}, {"ingest", 8082}, {"awards", 8083}}

func startDev(t *testing.T) *stack {
	t.Helper()
	root, err := os.MkdirTemp("", "clickstream-docs-")
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as the postgres OS user when the tests run as root.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"proto", "services"} {
		if err := os.Symlink(filepath.Join(repoRoot, dir), filepath.Join(root, dir)); err != nil {
			t.Fatal(err)
		}
	}
	free := harness.FreePorts(t, 7)
	s := &stack{
		t:       t,
		root:    root,
		ports:   map[string]int{"console": free[0], "registry": free[1], "ingest": free[2], "awards": free[3]},
		logPath: filepath.Join(root, "dev.log"),
	}
	url := func(name string) string { return "http://127.0.0.1:" + strconv.Itoa(s.ports[name]) }
	s.env = append(os.Environ(),
		"PATH="+filepath.Dir(binary)+string(os.PathListSeparator)+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CLICKSTREAM_REGISTRY="+url("registry"),
		"CLICKSTREAM_INGEST="+url("ingest"),
		"CLICKSTREAM_AWARDS="+url("awards"),
		"CLICKSTREAM_REPO="+repoRoot,
	)
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, "dev",
		"--data-dir", filepath.Join(root, ".clickstream"),
		"--registry-addr", "127.0.0.1:"+strconv.Itoa(s.ports["registry"]),
		"--ingest-addr", "127.0.0.1:"+strconv.Itoa(s.ports["ingest"]),
		"--awards-addr", "127.0.0.1:"+strconv.Itoa(s.ports["awards"]),
		"--console-addr", "127.0.0.1:"+strconv.Itoa(s.ports["console"]),
		"--nats-listen", "127.0.0.1:"+strconv.Itoa(free[4]),
		"--postgres-port", strconv.Itoa(free[5]),
		"--fluent-listen", "127.0.0.1:"+strconv.Itoa(free[6]),
	)
	cmd.Dir = root
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start clickstream dev: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", s.logPath, harness.Tail(s.logPath, 40))
		}
		os.RemoveAll(root)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := time.Now()
	for _, name := range []string{"registry", "ingest", "awards"} {
		if err := harness.WaitReady(ctx, url(name), s.exited); err != nil {
			t.Fatalf("clickstream dev: %s: %v\n%s", name, err, harness.Tail(s.logPath, 30))
		}
	}
	t.Logf("clickstream dev ready in %.1f s on registry %d, ingest %d, awards %d, console %d (the docs say 8081-8083, 8080)",
		time.Since(started).Seconds(), s.ports["registry"], s.ports["ingest"], s.ports["awards"], s.ports["console"])
	return s
}

// rewrite points the fixed dev addresses of script at the stack.
func (s *stack) rewrite(script string) string {
	for _, p := range devPorts {
		script = strings.ReplaceAll(script, "127.0.0.1:"+strconv.Itoa(p.port), "127.0.0.1:"+strconv.Itoa(s.ports[p.name]))
	}
	return script
}

// preamble is what every block runs after: curl fails on HTTP errors, and
// bufcurl is the alias the docs define (buf curl of the pinned tools, which
// `go tool` runs from the repository root).
const preamble = `curl() { command curl --fail-with-body "$@"; }
bufcurl() { (cd "$CLICKSTREAM_REPO" && go tool -modfile=tools/go.mod buf curl "$@"); }
`

// run runs b until it exits 0 with every expectation met, once or, with a
// wait, until the wait is over. It returns the last output.
func (s *stack) run(b block) (out string, attempts int, err error) {
	deadline := time.Now().Add(b.wait)
	for {
		attempts++
		out, err = s.runOnce(b)
		if err == nil {
			var missing []string
			for _, e := range b.expect {
				if !strings.Contains(squeeze(out), squeeze(e)) {
					missing = append(missing, strconv.Quote(e))
				}
			}
			if len(missing) > 0 {
				err = fmt.Errorf("the output does not contain %s", strings.Join(missing, ", "))
			}
		}
		if err == nil || time.Now().After(deadline) {
			if err != nil && b.wait > 0 {
				err = fmt.Errorf("after %d attempts in %s: %w", attempts, b.wait, err)
			}
			return out, attempts, err
		}
		time.Sleep(time.Second)
	}
}

func (s *stack) runOnce(b block) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", preamble+s.rewrite(b.script))
	cmd.Dir = s.root
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("bash exited with %d", exit.ExitCode())
		}
	}
	return out.String(), err
}

// squeeze removes every space, tab and newline: protojson varies the spaces
// it writes between tokens, so expectations are matched without them.
func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
}

// shorten keeps the first and last n/2 bytes of s.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n/2] + "\n[... " + strconv.Itoa(len(s)-n) + " bytes ...]\n" + s[len(s)-n/2:]
}

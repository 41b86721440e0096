package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// devReadyTimeout bounds a start of `clickstream dev` until every service
// is ready.
const devReadyTimeout = 2 * time.Minute

// BuildClickstream builds cmd/clickstream into a new temporary directory and
// returns the binary and a function that removes the directory. A TestMain
// calls it once for its package.
func BuildClickstream() (binary string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "clickstream-e2e-bin-")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	binary = filepath.Join(dir, "clickstream")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-o", binary, "github.com/clickstream-dev/clickstream/cmd/clickstream")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		remove()
		return "", nil, fmt.Errorf("build clickstream: %w", err)
	}
	return binary, remove, nil
}

// RepoRoot is the module's root directory, found from the working directory
// of the test (a package directory below it).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// FreePort is a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	var listeners []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}

// DevPorts are the fixed ports of one dev stack, kept across restarts so
// clients reconnect to the same addresses.
type DevPorts struct {
	Registry, Ingest, Awards, NATS, Postgres int
}

// Dev is one `clickstream dev` on a data directory, started and killed as a
// child process; every start appends to the same log.
type Dev struct {
	DataDir string
	Ports   DevPorts
	Env     []string // added to the child's environment (e.g. DATABASE_URL)
	Args    []string // more flags of clickstream dev
	LogPath string

	t      testing.TB
	binary string
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// NewDev prepares a dev stack of binary in a fresh data directory on free
// ports. extraEnv is added to the child's environment. At cleanup the
// process is stopped, and on failure the end of its log is printed.
func NewDev(t testing.TB, binary string, extraEnv ...string) *Dev {
	t.Helper()
	root, err := os.MkdirTemp("", "clickstream-dev-")
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as the postgres OS user when the tests run as root.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	p := FreePorts(t, 5)
	d := &Dev{
		DataDir: filepath.Join(root, "data"),
		Ports:   DevPorts{Registry: p[0], Ingest: p[1], Awards: p[2], NATS: p[3], Postgres: p[4]},
		Env:     extraEnv,
		LogPath: filepath.Join(root, "dev.log"),
		t:       t,
		binary:  binary,
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", d.LogPath, Tail(d.LogPath, 40))
		}
		os.RemoveAll(root)
	})
	return d
}

func localURL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// RegistryURL, IngestURL, AwardsURL and NATSURL are the addresses of the
// stack, the same across restarts.
func (d *Dev) RegistryURL() string { return localURL(d.Ports.Registry) }
func (d *Dev) IngestURL() string   { return localURL(d.Ports.Ingest) }
func (d *Dev) AwardsURL() string   { return localURL(d.Ports.Awards) }
func (d *Dev) NATSURL() string     { return "nats://127.0.0.1:" + strconv.Itoa(d.Ports.NATS) }

// Start runs `clickstream dev` and waits until all three services answer
// /readyz with 200; it fails the test otherwise.
func (d *Dev) Start() {
	d.t.Helper()
	if err := d.TryStart(); err != nil {
		d.t.Fatal(err)
	}
}

// TryStart is Start for goroutines other than the test's.
func (d *Dev) TryStart() error {
	logFile, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	d.starts++
	fmt.Fprintf(logFile, "\n===== start %d =====\n", d.starts)
	cmd := exec.Command(d.binary, "dev",
		"--data-dir", d.DataDir,
		"--registry-addr", "127.0.0.1:"+strconv.Itoa(d.Ports.Registry),
		"--ingest-addr", "127.0.0.1:"+strconv.Itoa(d.Ports.Ingest),
		"--awards-addr", "127.0.0.1:"+strconv.Itoa(d.Ports.Awards),
		"--nats-listen", "127.0.0.1:"+strconv.Itoa(d.Ports.NATS),
		"--postgres-port", strconv.Itoa(d.Ports.Postgres),
		"--console-addr", "",
	)
	cmd.Args = append(cmd.Args, d.Args...)
	cmd.Env = append(os.Environ(), d.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start clickstream dev: %w", err)
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	exited := d.exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), devReadyTimeout)
	defer cancel()
	for _, u := range []string{d.RegistryURL(), d.IngestURL(), d.AwardsURL()} {
		if err := WaitReady(ctx, u, exited); err != nil {
			return fmt.Errorf("start %d of clickstream dev: %s: %w\n%s", d.starts, u, err, Tail(d.LogPath, 30))
		}
	}
	return nil
}

// Pid is the process id of the running `clickstream dev` (0 when it is not
// running).
func (d *Dev) Pid() int {
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Exited is closed when the process of the latest start has exited.
func (d *Dev) Exited() <-chan struct{} { return d.exited }

// Kill sends SIGKILL and waits for the process to be gone.
func (d *Dev) Kill() error {
	if d.cmd == nil {
		return errors.New("clickstream dev is not running")
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL clickstream dev: %w", err)
	}
	<-d.exited
	d.cmd = nil
	return nil
}

// Stop interrupts the process as Ctrl-C would and waits for it, killing it
// when it takes too long.
func (d *Dev) Stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// Secret reads a file the dev stack keeps in its data directory (e.g.
// "ingest-key", "admin-token").
func (d *Dev) Secret(name string) string {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.DataDir, name))
	if err != nil {
		d.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// WaitReady polls base/readyz until it answers 200, exited is closed (the
// process is gone) or ctx ends.
func WaitReady(ctx context.Context, base string, exited <-chan struct{}) error {
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(body.String()))
		} else {
			last = err.Error()
		}
		select {
		case <-exited:
			return fmt.Errorf("the process exited before it was ready (last answer: %s)", last)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last answer: %s)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Tail returns the last n lines of the file at path.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

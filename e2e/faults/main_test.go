package faults_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
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

// binary is the clickstream binary TestMain builds for the whole package.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips itself
	}
	dir, err := os.MkdirTemp("", "clickstream-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "clickstream")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-o", binary, "github.com/clickstream-dev/clickstream/cmd/clickstream")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build clickstream: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// readyTimeout bounds a start of `clickstream dev` until every service is
// ready.
const readyTimeout = 2 * time.Minute

// devPorts are the fixed ports of one dev stack, kept across restarts so
// clients reconnect to the same addresses.
type devPorts struct {
	registry, ingest, awards, nats, postgres int
}

func freePorts(t *testing.T) devPorts {
	t.Helper()
	ports := make([]int, 5)
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
	return devPorts{registry: ports[0], ingest: ports[1], awards: ports[2], nats: ports[3], postgres: ports[4]}
}

// dev is one `clickstream dev` on a data directory, started and killed as
// a child process; every start appends to the same log.
type dev struct {
	t       *testing.T
	dataDir string
	ports   devPorts
	env     []string
	args    []string // more flags of clickstream dev
	logPath string

	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// newDev prepares a dev stack in a fresh data directory. extraEnv is added
// to the child's environment (e.g. DATABASE_URL).
func newDev(t *testing.T, extraEnv ...string) *dev {
	t.Helper()
	root, err := os.MkdirTemp("", "clickstream-faults-")
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as the postgres OS user when the tests run as root.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &dev{t: t, dataDir: filepath.Join(root, "data"), ports: freePorts(t), env: extraEnv, logPath: filepath.Join(root, "dev.log")}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", d.logPath, tail(d.logPath, 40))
		}
		os.RemoveAll(root)
	})
	return d
}

func (d *dev) url(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

func (d *dev) registryURL() string { return d.url(d.ports.registry) }
func (d *dev) ingestURL() string   { return d.url(d.ports.ingest) }
func (d *dev) awardsURL() string   { return d.url(d.ports.awards) }
func (d *dev) natsURL() string     { return "nats://127.0.0.1:" + strconv.Itoa(d.ports.nats) }

// start runs `clickstream dev` and waits until all three services answer
// /readyz with 200; it fails the test otherwise.
func (d *dev) start() {
	d.t.Helper()
	if err := d.tryStart(); err != nil {
		d.t.Fatal(err)
	}
}

// tryStart is start for goroutines other than the test's.
func (d *dev) tryStart() error {
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	d.starts++
	fmt.Fprintf(logFile, "\n===== start %d =====\n", d.starts)
	cmd := exec.Command(binary, "dev",
		"--data-dir", d.dataDir,
		"--registry-addr", "127.0.0.1:"+strconv.Itoa(d.ports.registry),
		"--ingest-addr", "127.0.0.1:"+strconv.Itoa(d.ports.ingest),
		"--awards-addr", "127.0.0.1:"+strconv.Itoa(d.ports.awards),
		"--nats-listen", "127.0.0.1:"+strconv.Itoa(d.ports.nats),
		"--postgres-port", strconv.Itoa(d.ports.postgres),
		"--console-addr", "",
	)
	cmd.Args = append(cmd.Args, d.args...)
	cmd.Env = append(os.Environ(), d.env...)
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
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for _, u := range []string{d.registryURL(), d.ingestURL(), d.awardsURL()} {
		if err := waitReady(ctx, u, exited); err != nil {
			return fmt.Errorf("start %d of clickstream dev: %s: %w\n%s", d.starts, u, err, tail(d.logPath, 30))
		}
	}
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *dev) kill() error {
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

// stop interrupts the process as Ctrl-C would and waits for it, killing it
// when it takes too long.
func (d *dev) stop() {
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

// secret reads a file the dev stack keeps in its data directory.
func (d *dev) secret(name string) string {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dataDir, name))
	if err != nil {
		d.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// waitReady polls base/readyz until it answers 200, the process exits or
// ctx ends.
func waitReady(ctx context.Context, base string, exited <-chan struct{}) error {
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

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
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

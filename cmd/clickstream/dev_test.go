package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// buildBinary builds the clickstream binary once for the test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "clickstream")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// devProcess is `clickstream dev` running as a separate process.
type devProcess struct {
	cmd  *exec.Cmd
	urls map[string]string
	logs *strings.Builder
}

var endpointLine = regexp.MustCompile(`^\s+(registry|ingest|awards)\s+(http://\S+)`)

// startDev runs the binary in dir (the working directory, so data lands in
// dir/.clickstream) on free ports and waits for it to print its endpoints.
func startDev(t *testing.T, bin, dir string) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--registry-addr", "127.0.0.1:0", "--ingest-addr", "127.0.0.1:0",
		"--awards-addr", "127.0.0.1:0", "--nats-listen", "", "--postgres-port", "0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CLICKSTREAM_LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, urls: map[string]string{}, logs: &strings.Builder{}}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if m := endpointLine.FindStringSubmatch(lines.Text()); m != nil {
			p.urls[m[1]] = m[2]
		}
		if strings.Contains(lines.Text(), "Press Ctrl-C to stop") {
			break
		}
	}
	if len(p.urls) != 3 {
		t.Fatalf("dev printed %d endpoints, want 3; stderr:\n%s", len(p.urls), p.logs)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return p
}

// interrupt sends SIGINT, as Ctrl-C does, and expects a clean exit.
func (p *devProcess) interrupt(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev did not exit cleanly on SIGINT: %v\n%s", err, p.logs)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("dev did not stop within a minute of SIGINT\n%s", p.logs)
	}
}

func TestDevBinaryComesUpStopsOnCtrlCAndKeepsData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts PostgreSQL and NATS twice")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	// Let the postgres OS user reach the data dir when the tests run as root.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key := `{"events":[{"idempotencyKey":"ctrl-c-1","json":{"eventId":2005,"version":1,"data":{"context":{"userId":"u"},"objectId":"o"}}}]}`

	first := startDev(t, bin, dir)
	for name, url := range first.urls {
		if code, body := get(t, url+"/readyz"); code != http.StatusOK {
			t.Errorf("%s /readyz: %d %s", name, code, body)
		}
		if svcs := listServices(t, url); !strings.Contains(strings.Join(svcs, " "), "clickstream."+name+".v1.") {
			t.Errorf("%s reflection lists %v", name, svcs)
		}
	}
	if body := post(t, first.urls["ingest"]+"/v1/events:batch", key); !strings.Contains(body, "EVENT_STATUS_ACCEPTED") {
		t.Fatalf("first send: %s", body)
	}
	first.interrupt(t)

	second := startDev(t, bin, dir)
	if body := post(t, second.urls["ingest"]+"/v1/events:batch", key); !strings.Contains(body, "EVENT_STATUS_DUPLICATE") {
		t.Errorf("send after restart should be a duplicate (data kept): %s", body)
	}
	if _, err := os.Stat(filepath.Join(dir, ".clickstream", "postgres", "PG_VERSION")); err != nil {
		t.Errorf("data is not under .clickstream/ of the working directory: %v", err)
	}
	second.interrupt(t)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, body string) string {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func listServices(t *testing.T, baseURL string) []string {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(baseURL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names
}

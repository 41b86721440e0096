package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/clickstream-dev/clickstream/platform"
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
	// key is the dev API key dev printed.
	key  string
	logs *strings.Builder
	// stdout is everything dev printed (the banner and after).
	stdout *lockedBuffer
}

var (
	endpointLine = regexp.MustCompile(`^\s+(registry|ingest|awards)\s+(http://\S+)`)
	// The banner names the key's file, never the key.
	keyLine = regexp.MustCompile(`ingest API key of environment "[^"]+" in (\S+)`)
)

// startDev runs the binary in dir (the working directory, so data lands in
// dir/.clickstream) on free ports and waits for it to print its endpoints.
func startDev(t *testing.T, bin, dir string) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--registry-addr", "127.0.0.1:0", "--ingest-addr", "127.0.0.1:0",
		"--awards-addr", "127.0.0.1:0", "--nats-listen", "", "--postgres-port", "0", "--console-addr", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CLICKSTREAM_LOG_LEVEL=info")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, urls: map[string]string{}, logs: &strings.Builder{}, stdout: &lockedBuffer{}}
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
		fmt.Fprintln(p.stdout, lines.Text())
		if m := endpointLine.FindStringSubmatch(lines.Text()); m != nil {
			p.urls[m[1]] = m[2]
		}
		if m := keyLine.FindStringSubmatch(lines.Text()); m != nil {
			p.key = readSecret(t, m[1]) // an absolute path
		}
		if strings.Contains(lines.Text(), "Press Ctrl-C to stop") {
			break
		}
	}
	if len(p.urls) != 3 || p.key == "" {
		t.Fatalf("dev printed %d endpoints (want 3) and API key %q; stderr:\n%s", len(p.urls), p.key, p.logs)
	}
	go func() { _, _ = io.Copy(p.stdout, stdout) }()
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
	if body := post(t, first.urls["ingest"]+"/v1/events:batch", first.key, key); !strings.Contains(body, "EVENT_STATUS_ACCEPTED") {
		t.Fatalf("first send: %s", body)
	}
	if code, body := postStatus(t, first.urls["ingest"]+"/v1/events:batch", "", key); code != http.StatusUnauthorized {
		t.Errorf("send without an API key: %d %s, want 401", code, body)
	}
	checkKeysCLI(t, bin, dir, first.urls["ingest"])
	first.interrupt(t)
	checkNoSecretsPrinted(t, dir, first)

	second := startDev(t, bin, dir)
	if second.key != first.key {
		t.Errorf("dev API key changed across restarts: %q, then %q", first.key, second.key)
	}
	if body := post(t, second.urls["ingest"]+"/v1/events:batch", second.key, key); !strings.Contains(body, "EVENT_STATUS_DUPLICATE") {
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

// post sends body as JSON with an API key ("" for none) and returns the answer.
func post(t *testing.T, url, apiKey, body string) string {
	t.Helper()
	_, b := postStatus(t, url, apiKey, body)
	return b
}

func postStatus(t *testing.T, url, apiKey, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if apiKey != "" {
		req.Header.Set("X-Api-Key", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkKeysCLI creates a key with `clickstream keys create`, sends with it,
// revokes it with `clickstream keys revoke` and sees it refused. The CLI
// runs in dir, so it finds dev's admin token in .clickstream/admin-token.
func checkKeysCLI(t *testing.T, bin, dir, ingestURL string) {
	t.Helper()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--ingest", ingestURL)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("clickstream %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var created struct {
		Key    struct{ ID string }
		Secret string
	}
	out := run("keys", "create", "--env", "dev", "--description", "cli test", "-o", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Secret == "" {
		t.Fatalf("keys create -o json: %v\n%s", err, out)
	}
	batch := `{"events":[{"idempotencyKey":"cli-key-1","json":{"eventId":2005,"version":1,"data":{"context":{"userId":"u"},"objectId":"o"}}}]}`
	if body := post(t, ingestURL+"/v1/events:batch", created.Secret, batch); !strings.Contains(body, "EVENT_STATUS_ACCEPTED") {
		t.Errorf("send with the CLI's key: %s", body)
	}
	if out := run("keys", "list", "--env", "dev"); !strings.Contains(out, created.Key.ID) || !strings.Contains(out, "cli test") {
		t.Errorf("keys list lacks %s:\n%s", created.Key.ID, out)
	}
	run("keys", "revoke", created.Key.ID)
	if code, body := postStatus(t, ingestURL+"/v1/events:batch", created.Secret, batch); code != http.StatusUnauthorized {
		t.Errorf("send with a revoked key: %d %s, want 401", code, body)
	}
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

// readSecret reads a secret file dev's banner named.
func readSecret(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the file the banner names: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// checkNoSecretsPrinted fails the test if dev's output or log holds a secret of the data
// directory: the banner names the files instead.
func checkNoSecretsPrinted(t *testing.T, dir string, p *devProcess) {
	t.Helper()
	out := p.stdout.String() + p.logs.String()
	secrets := map[string]string{"ingest API key": p.key}
	for _, name := range []string{"admin-token", "postgres-password", "pii-secret"} {
		secrets[name] = readSecret(t, filepath.Join(dir, ".clickstream", name))
	}
	for _, line := range strings.Split(readSecret(t, filepath.Join(dir, ".clickstream", platform.FluentKeysFile)), "\n") {
		if env, key, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(env, "#") {
			secrets["fluent shared key of "+env] = key
		}
	}
	for name, secret := range secrets {
		if secret == "" || strings.Contains(out, secret) {
			t.Errorf("dev printed its %s (%d bytes of output and log)", name, len(out))
		}
	}
	t.Logf("dev printed %d bytes (banner and info log) holding none of %d secrets", len(out), len(secrets))
	if !strings.Contains(out, filepath.Join(".clickstream", "admin-token")) {
		t.Errorf("the banner does not say where the admin token is:\n%s", p.stdout)
	}
}

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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	clusterInstanceLine = regexp.MustCompile(`^\s+((?:registry|ingest|awards)(?:-\d)?|console)\s+(http://\S+)`)
	clusterNATSLine     = regexp.MustCompile(`^\s+nats\s+(\S+)`)
)

// TestDevClusterRunsEveryInstance runs `clickstream dev --cluster`: one registry, two
// ingest and two awards instances (child processes) come up on a 3-node NATS cluster with
// streams at R3 and a PostgreSQL primary with a replica; events sent through either
// ingest reach the awards reads served from the replica; Ctrl-C stops everything.
func TestDevClusterRunsEveryInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts a NATS cluster, two PostgreSQL servers and five instances")
	}
	bin := buildBinary(t)
	root, err := os.MkdirTemp("", "dev-cluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(root, "data")
	cmd := exec.Command(bin, "dev", "--cluster", "--data-dir", dataDir, "--registry-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "CLICKSTREAM_LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	urls := map[string]string{}
	var natsURL string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if m := clusterInstanceLine.FindStringSubmatch(lines.Text()); m != nil {
			urls[m[1]] = m[2]
		}
		if m := clusterNATSLine.FindStringSubmatch(lines.Text()); m != nil {
			natsURL = m[1]
		}
		if strings.Contains(lines.Text(), "Press Ctrl-C to stop") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	consoleURL := urls["console"]
	delete(urls, "console")
	if len(urls) != 5 || natsURL == "" || consoleURL == "" {
		t.Fatalf("dev --cluster printed instances %v and NATS %q; log:\n%s", urls, natsURL, logs)
	}
	t.Logf("instances %v; NATS %s", urls, natsURL)
	for name, u := range urls {
		if code, body := get(t, u+"/readyz"); code != http.StatusOK {
			t.Errorf("%s /readyz: %d %s", name, code, body)
		}
	}
	if code, body := get(t, consoleURL+"config.json"); code != http.StatusOK {
		t.Errorf("console %sconfig.json: %d %s", consoleURL, code, body)
	}
	_, body := get(t, urls["awards-1"]+"/readyz")
	if !strings.Contains(body, "postgres replica") {
		t.Errorf("awards reads from no replica: /readyz %s", body)
	}

	// Streams at R3 on the cluster.
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"EVENTS", "DEADLETTER", "AWARDS"} {
		s, err := js.Stream(t.Context(), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := s.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: %d replicas configured, cluster %+v; want 3", name, info.Config.Replicas, info.Cluster)
		}
	}

	// 12 km through each ingest instance: awards counts 24 km, read from the replica.
	key, err := os.ReadFile(filepath.Join(dataDir, "ingest-key"))
	if err != nil {
		t.Fatal(err)
	}
	for n, name := range []string{"ingest-1", "ingest-2"} {
		ev := fmt.Sprintf(`{"events":[{"idempotencyKey":"cluster-%d","mobile":{"eventId":2004,"version":1,`+
			`"params":{"context.user_id":"u-cluster","trip_id":"t-%d","distance_m":"12000"}}}]}`, n, n)
		if body := post(t, urls[name]+"/v1/events:batch", strings.TrimSpace(string(key)), ev); !strings.Contains(body, "EVENT_STATUS_ACCEPTED") {
			t.Errorf("send through %s: %s", name, body)
		}
	}
	token, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	progress := waitNavigatorProgress(t, urls["awards-2"], strings.TrimSpace(string(token)), "u-cluster", 10, logs)
	t.Logf("navigator-10km of u-cluster read from awards-2 (replica): %v", progress)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("dev --cluster did not exit cleanly on SIGINT: %v\n%s", err, logs)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("dev --cluster did not stop within 90 s of SIGINT\n%s", logs)
	}
}

// waitNavigatorProgress polls a user's achievements until navigator-10km reaches want.
func waitNavigatorProgress(t *testing.T, awardsURL, token, user string, want float64, logs fmt.Stringer) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, awardsURL+"/v1/users/"+user+"/achievements", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var body struct {
				Achievements []struct {
					Achievement struct{ ID string } `json:"achievement"`
					Progress    float64             `json:"progress"`
				} `json:"achievements"`
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(raw)
			if json.Unmarshal(raw, &body) == nil {
				for _, a := range body.Achievements {
					if a.Achievement.ID == "navigator-10km" && a.Progress >= want {
						return a.Progress
					}
				}
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("navigator-10km of %s never reached %v: %s\nlog:\n%s", user, want, last, logs)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

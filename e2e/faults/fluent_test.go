package faults_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickstream-dev/clickstream/e2e/harness"
)

// TestFluentClientOutlivesSIGKILL: a real Fluent client (the npm fluent-logger package,
// shared-key handshake, acks required) sends 10,000 records, every tenth invalid, to the
// Fluent Forward input of `clickstream dev`; the process is SIGKILLed mid-stream and
// restarted on the same data and port, the client resends what was not acknowledged, and
// every record ends on EVENTS or in DEADLETTER exactly once.
func TestFluentClientOutlivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clickstream dev as a child process twice")
	}
	node, err := exec.LookPath("node")
	root := harness.RepoRoot(t)
	modules := filepath.Join(root, "tools", "npm", "node_modules")
	if err == nil {
		_, err = os.Stat(filepath.Join(modules, "fluent-logger"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node and the npm fluent-logger package are needed (CI is set): %v", err)
		}
		t.Skipf("node or the npm fluent-logger package is missing (npm ci --prefix tools/npm): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	port := harness.FreePort(t)
	d := harness.NewDev(t, binary)
	d.Args = []string{"--fluent-listen", "127.0.0.1:" + strconv.Itoa(port)}
	d.Start()
	// "<environment> <shared key>", written by the first start.
	var sharedKey string
	for _, line := range strings.Split(d.Secret("fluent-shared-keys"), "\n") {
		if env, key, ok := strings.Cut(strings.TrimSpace(line), " "); ok && env == "dev" {
			sharedKey = key
		}
	}
	if sharedKey == "" {
		t.Fatal("no shared key of the dev environment in fluent-shared-keys")
	}

	const n = 10000
	client := exec.CommandContext(ctx, node, filepath.Join(root, "services", "ingest", "testdata", "fluent_client.js"),
		strconv.Itoa(port), sharedKey, strconv.Itoa(n), "500")
	client.Env = append(os.Environ(), "NODE_PATH="+modules)
	var out strings.Builder
	client.Stdout, client.Stderr = &out, &out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	clientDone := make(chan error, 1)
	go func() { clientDone <- client.Wait() }()

	// SIGKILL once a third of the records are on EVENTS.
	nc, err := nats.Connect(d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	var atKill uint64
	for atKill < n/3 {
		if s, err := js.Stream(ctx, "EVENTS"); err == nil {
			if info, err := s.Info(ctx); err == nil {
				atKill = info.State.Msgs
			}
		}
		select {
		case err := <-clientDone:
			t.Fatalf("the client finished before the kill (%d on EVENTS): %v\n%s", atKill, err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	nc.Close()
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILL with %d records on EVENTS", atKill)
	d.Start()
	if err := <-clientDone; err != nil {
		t.Fatalf("node fluent_client.js: %v\n%s", err, out.String())
	}
	t.Logf("node client: %s", strings.TrimSpace(out.String()))

	events := harness.StreamKeys(ctx, t, d.NATSURL(), "EVENTS", "")
	dead := harness.StreamKeys(ctx, t, d.NATSURL(), "DEADLETTER", "dl-")
	t.Logf("EVENTS %d + DEADLETTER %d = %d (sent %d records)", harness.Total(events), harness.Total(dead), harness.Total(events)+harness.Total(dead), n)
	if harness.Total(events)+harness.Total(dead) != n {
		t.Errorf("EVENTS + DEADLETTER = %d, want %d", harness.Total(events)+harness.Total(dead), n)
	}
	harness.CheckOnce(t, "EVENTS", events)
	harness.CheckOnce(t, "DEADLETTER", dead)
	for i := range n {
		key := "node-" + strconv.Itoa(i)
		valid := i%10 != 9
		if valid && (events[key] != 1 || dead[key] != 0) || !valid && (dead[key] != 1 || events[key] != 0) {
			t.Errorf("%s (valid %v): %d on EVENTS, %d in DEADLETTER", key, valid, events[key], dead[key])
			break
		}
	}
}

package faults_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	modules, _ := filepath.Abs(filepath.Join("..", "tools", "npm", "node_modules"))
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

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	d := newDev(t)
	d.args = []string{"--fluent-listen", "127.0.0.1:" + strconv.Itoa(port)}
	d.start()
	// "<environment> <shared key>", written by the first start.
	var sharedKey string
	for _, line := range strings.Split(d.secret("fluent-shared-keys"), "\n") {
		if env, key, ok := strings.Cut(strings.TrimSpace(line), " "); ok && env == "dev" {
			sharedKey = key
		}
	}
	if sharedKey == "" {
		t.Fatal("no shared key of the dev environment in fluent-shared-keys")
	}

	const n = 10000
	client := exec.CommandContext(ctx, node, filepath.Join("..", "services", "ingest", "testdata", "fluent_client.js"),
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
	nc, err := nats.Connect(d.natsURL())
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
	if err := d.kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILL with %d records on EVENTS", atKill)
	d.start()
	if err := <-clientDone; err != nil {
		t.Fatalf("node fluent_client.js: %v\n%s", err, out.String())
	}
	t.Logf("node client: %s", strings.TrimSpace(out.String()))

	events := streamKeys(ctx, t, d.natsURL(), "EVENTS", "")
	dead := streamKeys(ctx, t, d.natsURL(), "DEADLETTER", "dl-")
	t.Logf("EVENTS %d + DEADLETTER %d = %d (sent %d records)", total(events), total(dead), total(events)+total(dead), n)
	if total(events)+total(dead) != n {
		t.Errorf("EVENTS + DEADLETTER = %d, want %d", total(events)+total(dead), n)
	}
	checkOnce(t, "EVENTS", events)
	checkOnce(t, "DEADLETTER", dead)
	for i := range n {
		key := "node-" + strconv.Itoa(i)
		valid := i%10 != 9
		if valid && (events[key] != 1 || dead[key] != 0) || !valid && (dead[key] != 1 || events[key] != 0) {
			t.Errorf("%s (valid %v): %d on EVENTS, %d in DEADLETTER", key, valid, events[key], dead[key])
			break
		}
	}
}

package postgres

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDecideLeftover(t *testing.T) {
	tests := []struct {
		name          string
		l             leftover
		before, after leftoverAction
	}{
		{"orphan shutting down (parent killed, Pdeathsig)", leftover{parent: parentGone, stopping: true}, actionWait, actionStop},
		{"orphan serving (started by pg_ctl start)", leftover{parent: parentGone}, actionStop, actionStop},
		{"shutting down, parent alive (a subreaper adopted it)", leftover{parent: parentLive, stopping: true}, actionWait, actionRefuse},
		{"shutting down, parent unknown (no /proc)", leftover{parent: parentUnknown, stopping: true}, actionWait, actionRefuse},
		{"served by another live process", leftover{parent: parentLive}, actionRefuse, actionRefuse},
		{"parent unknown (no /proc)", leftover{parent: parentUnknown}, actionRefuse, actionRefuse},
		{"run by this process", leftover{parent: parentSelf}, actionRefuse, actionRefuse},
		{"run by this process, shutting down", leftover{parent: parentSelf, stopping: true}, actionRefuse, actionRefuse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.l, false); got != tt.before {
				t.Errorf("before waiting: decide(%+v) = %v, want %v", tt.l, got, tt.before)
			}
			if got := decide(tt.l, true); got != tt.after {
				t.Errorf("after waiting: decide(%+v) = %v, want %v", tt.l, got, tt.after)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		stat  string
		state byte
		ppid  int
		ok    bool
	}{
		{"1234 (postgres) S 1 1234 1234 0 -1 4194560 ...", 'S', 1, true},
		{"77 (odd) name)) Z 76 77 77 0", 'Z', 76, true},
		{"5 (with space) R 4", 'R', 4, true},
		{"5 (cut) R", 0, 0, false},
		{"garbage", 0, 0, false},
		{"5 (x) S notanumber", 0, 0, false},
	}
	for _, tt := range tests {
		state, ppid, ok := parseStat(tt.stat)
		if state != tt.state || ppid != tt.ppid || ok != tt.ok {
			t.Errorf("parseStat(%q) = %q, %d, %v; want %q, %d, %v", tt.stat, state, ppid, ok, tt.state, tt.ppid, tt.ok)
		}
	}
}

func TestParentOf(t *testing.T) {
	if _, _, ok := procState(os.Getpid()); !ok {
		t.Skip("no /proc")
	}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ppid int
		want parentState
	}{
		{"init", 1, parentGone},
		{"outside the PID namespace", 0, parentUnknown},
		{"this process", os.Getpid(), parentSelf},
		{"a live process", os.Getppid(), parentLive},
		{"an exited process", exited.Process.Pid, parentGone},
	}
	for _, tt := range tests {
		if got := parentOf(tt.ppid, os.Getpid()); got != tt.want {
			t.Errorf("%s: parentOf(%d) = %d, want %d", tt.name, tt.ppid, got, tt.want)
		}
	}
}

// TestClusterStopsAnOrphanedServer starts a server with `pg_ctl start`, which leaves it
// without a parent (the way a crashed run without Pdeathsig would), and expects
// StartCluster to stop it and start its own.
func TestClusterStopsAnOrphanedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL twice")
	}
	if _, err := FindBinaries(); err != nil {
		t.Skip(err)
	}
	parent, err := os.MkdirTemp("", "leftover-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg := ClusterConfig{DataDir: filepath.Join(parent, "data"), Ephemeral: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx := t.Context()

	first, err := StartCluster(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	pgCtl := first.owner.command(filepath.Join(first.binDir, "pg_ctl"), "start", "--pgdata="+first.dataDir, "--wait", "--silent",
		"--log="+filepath.Join(first.dataDir, logFileName),
		"--options=-p "+strconv.Itoa(port)+" -c listen_addresses=127.0.0.1 -c unix_socket_directories="+first.dataDir)
	pgCtl.Dir = first.dataDir
	if out, err := runCombined(ctx, pgCtl); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	orphan, err := first.inspectPidFile(filepath.Join(first.dataDir, "postmaster.pid"))
	if err != nil || orphan == nil {
		t.Fatalf("no server after pg_ctl start: %v", err)
	}
	t.Logf("orphaned server: pid %d, parent pid %d, parent state %d", orphan.pid, orphan.ppid, orphan.parent)
	if !orphan.orphan() {
		// pg_ctl's server went to a live subreaper, which this cannot tell from a real
		// parent: stop it and skip.
		stop := first.owner.command(filepath.Join(first.binDir, "pg_ctl"), "stop", "--pgdata="+first.dataDir, "--mode=fast", "--wait")
		out, err := runCombined(context.Background(), stop)
		t.Skipf("the server's parent (pid %d) is a live subreaper; stopped it: %v %s", orphan.ppid, err, out)
	}

	started := time.Now()
	second, err := StartCluster(ctx, cfg)
	if err != nil {
		t.Fatalf("StartCluster with an orphaned server on the data directory: %v\nlogs:\n%s", err, &logs)
	}
	defer second.Stop(context.Background())
	t.Logf("second StartCluster took %v", time.Since(started).Round(time.Millisecond))
	if !strings.Contains(logs.String(), "stopping a PostgreSQL server left over") {
		t.Errorf("no log line says the leftover server was stopped:\n%s", &logs)
	}
	if err := syscallAlive(orphan.pid); err == nil {
		t.Errorf("the orphaned server (pid %d) still runs", orphan.pid)
	}
}

// syscallAlive returns nil when process pid exists and is not a zombie.
func syscallAlive(pid int) error {
	state, _, ok := procState(pid)
	if !ok || state == 'Z' || state == 'X' {
		return os.ErrProcessDone
	}
	return nil
}

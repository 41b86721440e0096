package postgres

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlace(t *testing.T) {
	unreachable := errors.New("directory /root (mode 0700) is not traversable")
	tests := []struct {
		name      string
		state     dataDirState
		relocated bool
		reason    error
		errWants  []string // substrings of the error; nil for no error
	}{
		{name: "new, reachable", state: dataDirState{asRoot: true}},
		{name: "new, not root", state: dataDirState{}},
		{name: "cluster, reachable", state: dataDirState{asRoot: true, holdsCluster: true}},
		{name: "new, out of reach", state: dataDirState{asRoot: true, reachErr: unreachable}, relocated: true, reason: unreachable},
		{name: "placed before, out of reach", state: dataDirState{asRoot: true, reachErr: unreachable, pointer: "/var/lib/clickstream/abc"},
			relocated: true, reason: unreachable},
		{name: "placed before, reachable now", state: dataDirState{asRoot: true, pointer: "/var/lib/clickstream/abc"}, relocated: true},
		{name: "cluster, out of reach", state: dataDirState{asRoot: true, reachErr: unreachable, holdsCluster: true},
			errWants: []string{"not traversable", "already holds a cluster"}},
		{name: "placed before by root, now not root", state: dataDirState{pointer: "/var/lib/clickstream/abc"},
			errWants: []string{"/var/lib/clickstream/abc", "run as root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := place("/root/x/data", tt.state)
			if tt.errWants != nil {
				if err == nil {
					t.Fatalf("place = %+v, want an error", p)
				}
				for _, want := range tt.errWants {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.relocated != tt.relocated || p.reason != tt.reason {
				t.Errorf("place = %+v, want relocated %v, reason %v", p, tt.relocated, tt.reason)
			}
		})
	}
}

func TestRelocatedDir(t *testing.T) {
	a := relocatedDir("/var/lib/clickstream", "/root/app/.clickstream/postgres")
	if again := relocatedDir("/var/lib/clickstream", "/root/app/.clickstream/postgres"); again != a {
		t.Errorf("the same request gives %s, then %s", a, again)
	}
	if other := relocatedDir("/var/lib/clickstream", "/root/other/.clickstream/postgres"); other == a {
		t.Errorf("two requests share %s", a)
	}
	if filepath.Dir(a) != "/var/lib/clickstream" || len(filepath.Base(a)) != relocationHashLen {
		t.Errorf("relocatedDir = %s, want /var/lib/clickstream/<%d hex digits>", a, relocationHashLen)
	}
}

// TestClusterRelocationFails expects both reasons when the data directory is out of the
// server user's reach and the place for such clusters cannot be made.
func TestClusterRelocationFails(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as another user")
	}
	if _, err := FindBinaries(); err != nil {
		t.Skip(err)
	}
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(parent, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	requested := filepath.Join(parent, "data")
	_, err := startCluster(t.Context(), ClusterConfig{DataDir: requested, Ephemeral: true}, filepath.Join(blocker, "clickstream"))
	if err == nil {
		t.Fatal("StartCluster succeeded with neither the data directory nor the relocation root usable")
	}
	for _, want := range []string{"not traversable", parent, "failed too", blocker} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(requested, LocationFileName)); err == nil {
		t.Errorf("a pointer file was left although nothing was placed")
	}
}

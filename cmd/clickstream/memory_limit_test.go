package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// --memory-limit sets the runtime's soft limit; without it $GOMEMLIMIT
// (read by the runtime itself) is kept.
func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	if got := applyMemoryLimit(300 << 20); got != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Errorf("--memory-limit 300 MiB: applied %d, in force %d", got, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(123 << 20) // as GOMEMLIMIT=123MiB leaves it
	t.Setenv("GOMEMLIMIT", "123MiB")
	if got := applyMemoryLimit(0); got != 123<<20 || debug.SetMemoryLimit(-1) != 123<<20 {
		t.Errorf("GOMEMLIMIT 123 MiB: applied %d, in force %d", got, debug.SetMemoryLimit(-1))
	}
	t.Setenv("GOMEMLIMIT", "")
	dir := t.TempDir()
	for bound, want := range map[string]int64{"1073741824\n": 966367641, "max\n": math.MaxInt64, "": math.MaxInt64} {
		debug.SetMemoryLimit(math.MaxInt64)
		file := filepath.Join(dir, "memory.max")
		if bound != "" {
			if err := os.WriteFile(file, []byte(bound), 0o600); err != nil {
				t.Fatal(err)
			}
		} else {
			file = filepath.Join(dir, "none")
		}
		got := applyMemoryLimitFrom(0, file)
		t.Logf("cgroup memory.max %q: limit %d", bound, got)
		if got != want || debug.SetMemoryLimit(-1) != want {
			t.Errorf("cgroup memory.max %q: applied %d, in force %d; want %d", bound, got, debug.SetMemoryLimit(-1), want)
		}
	}
}

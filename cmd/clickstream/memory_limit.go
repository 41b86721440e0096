package main

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax is where cgroup v2 keeps the memory bound of the
// process's group ("max" when there is none).
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// memoryLimitShare is the share of the cgroup's bound the Go runtime aims
// to stay under, leaving room for what it does not count (stacks of cgo
// threads, the page cache of files written).
const memoryLimitShare = 0.9

// applyMemoryLimit sets the soft memory limit of the Go runtime, which
// makes the garbage collector work harder and return memory to the
// operating system as the heap nears it, so a spike is given back
// promptly: flag bytes when positive; otherwise $GOMEMLIMIT when set (the
// runtime reads it itself); otherwise 90% of the cgroup's memory.max when
// the process runs under one; otherwise none. It returns the limit in
// force, math.MaxInt64 for none.
func applyMemoryLimit(flag int64) int64 { return applyMemoryLimitFrom(flag, cgroupMemoryMax) }

// applyMemoryLimitFrom is applyMemoryLimit reading the cgroup's bound from
// the file memoryMax.
func applyMemoryLimitFrom(flag int64, memoryMax string) int64 {
	switch {
	case flag > 0:
		debug.SetMemoryLimit(flag)
		slog.Debug("memory limit", "bytes", flag, "from", "--memory-limit")
		return flag
	case os.Getenv("GOMEMLIMIT") != "":
		return debug.SetMemoryLimit(-1)
	}
	b, err := os.ReadFile(memoryMax)
	if err != nil {
		return debug.SetMemoryLimit(-1)
	}
	bound, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || bound <= 0 || bound == math.MaxInt64 {
		return debug.SetMemoryLimit(-1)
	}
	limit := int64(float64(bound) * memoryLimitShare)
	debug.SetMemoryLimit(limit)
	slog.Debug("memory limit", "bytes", limit, "from", memoryMax)
	return limit
}

package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestBenchIngestReportsRatesAndRatios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	out, errOut, err := runCLIIn(t, "", "bench", "ingest", "--events", "500", "--batch", "50", "--concurrency", "2",
		"--protocol", "grpc,connect,rest", "--log-level", "warn")
	if err != nil {
		t.Fatalf("bench ingest: %v\n%s%s", err, out, errOut)
	}
	for _, name := range []string{"raw", "grpc", "connect", "rest"} {
		// protocol, 500 events, batches, events/s, p50, p99
		row := regexp.MustCompile(`(?m)^\s*` + name + `\s+500\s+10\s+\d+\s+\S+s\s+\S+s\s*$`)
		if !row.MatchString(out) {
			t.Errorf("no result row for %s:\n%s", name, out)
		}
	}
	for _, name := range []string{"grpc", "connect", "rest"} {
		if !regexp.MustCompile(`ratio ` + name + `/raw: \d+\.\d\d`).MatchString(out) {
			t.Errorf("no ratio line for %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "events/s") {
		t.Errorf("no events/s column:\n%s", out)
	}
	// The in-process stack's ingest reports its usage counts to its
	// registry (on stop at the latest): nothing refused, nothing lost.
	if strings.Contains(errOut, "usage:") {
		t.Errorf("the bench stack's usage reports failed:\n%s", errOut)
	}
	t.Logf("\n%s", out)
}

func TestBenchIngestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "ingest", "--protocol", "smoke-signals"},
		{"bench", "ingest", "--duration", "1s", "--events", "10"},
		{"bench", "ingest", "--concurrency", "0"},
		{"bench", "ingest", "--rounds", "0"},
	} {
		_, _, err := runCLIIn(t, "", args...)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}

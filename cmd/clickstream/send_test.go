package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/clickstream-dev/clickstream/platform"
)

// runCLIIn is runCLI with stdin, and with send and bench on the root
// command even before root.go adds them.
func runCLIIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCommand()
	for name, cmd := range map[string]func() *cobra.Command{"send": newSendCommand, "bench": newBenchCommand} {
		if c, _, err := root.Find([]string{name}); err != nil || c == root {
			root.AddCommand(cmd())
		}
	}
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// startIngest runs registry and ingest in-process on free ports.
func startIngest(t *testing.T) *platform.Stack {
	t.Helper()
	return startStack(t, platform.Config{Services: []string{platform.Registry, platform.Ingest}})
}

const sendLines = `{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"userId":"u-1"},"itemId":"7"},"idempotencyKey":"send-1"}
{"eventId":1001,"version":2,"data":{"context":{"userId":"u-2"},"itemId":8,"referrer":"feed"},"idempotencyKey":"send-2"}
{"idempotencyKey":"send-3","mobile":{"eventId":1001,"version":2,"params":{"context.user_id":"u-3","item_id":"9"}}}
{"idempotencyKey":"send-4","typed":{"@type":"type.googleapis.com/clickstream.events.v1.ItemViewV2","context":{"userId":"u-4"},"itemId":"10"}}
{"name": "clickstream.events.v1.ItemViewV2", "data": {oops}}

{"name":"clickstream.events.v1.NoSuchEventV1","data":{},"idempotencyKey":"send-7"}
{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"userId":"u-8"}},"idempotencyKey":"send-8"}
{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"userId":"u-1"},"itemId":"7"},"idempotencyKey":"send-1"}
`

func TestSendReportsEveryVerdict(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	s := startIngest(t)
	dataDir := t.TempDir()
	t.Setenv(envName("data-dir"), dataDir) // no ingest-key file yet
	url := s.URL(platform.Ingest)
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, []byte(sendLines), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runCLIIn(t, "", "send", "--file", file, "--ingest", url, "--batch", "3", "--api-key", s.IngestKey())
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("send with rejections: err %v (exit %d), want exit 1\n%s%s", err, exitCode(err), out, errOut)
	}
	for _, want := range []string{
		"line 5: not sent: not a JSON object",
		"line 7: rejected UNKNOWN_EVENT (field json.name, key send-7)",
		"line 8: rejected MISSING_REQUIRED_FIELD (field item_id, key send-8)",
		"sent 7 events: 4 accepted, 1 duplicates, 2 rejected; 1 lines not valid",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// The valid lines again, from stdin over gRPC with the key from the
	// dev data directory: stored once already.
	if err := os.WriteFile(filepath.Join(dataDir, "ingest-key"), []byte(s.IngestKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := strings.Join(strings.Split(sendLines, "\n")[:4], "\n")
	out, errOut, err = runCLIIn(t, valid, "send", "--ingest", url, "--protocol", "grpc")
	if err != nil {
		t.Fatalf("send of valid lines: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "sent 4 events: 0 accepted, 4 duplicates, 0 rejected") {
		t.Errorf("resend summary:\n%s", out)
	}

	// A wrong key from the environment wins over the file and is refused.
	t.Setenv(envName("api-key"), "not-a-key")
	out, _, err = runCLIIn(t, valid, "send", "--ingest", url, "--protocol", "grpc-web")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "unauthenticated") {
		t.Errorf("send with a wrong key: %v (exit %d), want unauthenticated and exit 1\n%s", err, exitCode(err), out)
	}
}

func TestSendUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"send", "--protocol", "rest"},
		{"send", "--batch", "0"},
		{"send", "--file", filepath.Join(t.TempDir(), "missing.jsonl")},
		{"send", "extra"},
	} {
		_, _, err := runCLIIn(t, "", args...)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}

func TestIngestAPIKeyFallsBackToTheDevKeyFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(envName("data-dir"), dir)
	if key, err := ingestAPIKey(""); err != nil || key != "" {
		t.Errorf("without a key file: %q, %v; want none", key, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ingest-key"), []byte("dev-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if key, err := ingestAPIKey(""); err != nil || key != "dev-secret" {
		t.Errorf("with a key file: %q, %v; want dev-secret", key, err)
	}
	if key, _ := ingestAPIKey("flag-secret"); key != "flag-secret" {
		t.Errorf("the flag does not win: %q", key)
	}
}

func TestParseEventLine(t *testing.T) {
	for line, wantErr := range map[string]string{
		`{"name":"x.Y","data":{}}`:                    "",
		`{"eventId":1,"version":1,"data":{}}`:         "",
		`{"json":{"name":"x.Y","data":{}}}`:           "",
		`{"data":{}}`:                                 "name the event",
		`{"name":"x.Y","data":{},"extra":1}`:          "unknown field",
		`{"name":"x.Y","data":[1]}`:                   "not a JSON object",
		`{"idempotencyKey":"k"}`:                      "no payload",
		`{"typed":{"@type":"type.googleapis.com/x"}}`: "not a clickstream.ingest.v1.Event",
		`[1]`: "not a JSON object",
	} {
		_, err := parseEventLine([]byte(line))
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%s: %v", line, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%s: %v, want an error with %q", line, err, wantErr)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	protosrc "github.com/clickstream-dev/clickstream/proto"
)

// catalogueCopy writes the starter catalogue and its lock to a temporary
// directory, applying edit to the named file, and returns the directory.
func catalogueCopy(t *testing.T, file string, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(protosrc.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(protosrc.FS, path)
		if err != nil {
			return err
		}
		text := string(data)
		if path == file {
			edited := edit(text)
			if edited == text {
				t.Fatalf("the edit of %s changed nothing", file)
			}
			text = edited
		}
		dst := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, []byte(text), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestSchemaCheckPassesOnTheRepoCatalogue(t *testing.T) {
	out, errOut, err := runCLI(t, "schema", "check", "--proto-dir", "../../proto")
	if err != nil {
		t.Fatalf("schema check: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "13 event versions match") {
		t.Errorf("unexpected output: %q", out)
	}
}

func TestSchemaCheckFailsWhenALockedVersionChanged(t *testing.T) {
	// Rename a field of the locked PhotoStatusChangedV1 (the first "status" in the file).
	dir := catalogueCopy(t, "clickstream/events/v1/photo_status_changed.proto", func(s string) string {
		return strings.Replace(s, "ContentStatus status = 4", "ContentStatus state = 4", 1)
	})
	_, errOut, err := runCLI(t, "schema", "check", "--proto-dir", dir)
	if err == nil {
		t.Fatal("schema check passed although a locked version changed")
	}
	if !strings.Contains(errOut, "PhotoStatusChangedV1") || !strings.Contains(errOut, "version-changed") {
		t.Errorf("the error does not name the changed version and rule:\n%s", errOut)
	}
	if strings.Contains(errOut, "PhotoStatusChangedV2") {
		t.Errorf("V2 was not changed but is reported:\n%s", errOut)
	}
}

func TestSchemaCheckFailsWhenALockedVersionWasDeleted(t *testing.T) {
	// Delete PaymentV1 (the file's only message with the event option) but
	// keep the file compiling: the enum stays.
	dir := catalogueCopy(t, "clickstream/events/v1/payment.proto", func(s string) string {
		return regexp.MustCompile(`(?s)// A payment changed state\.\nmessage PaymentV1 \{.*?\n\}\n`).ReplaceAllString(s, "")
	})
	_, errOut, err := runCLI(t, "schema", "check", "--proto-dir", dir)
	if err == nil {
		t.Fatal("schema check passed although a locked version was deleted")
	}
	if !strings.Contains(errOut, "PaymentV1") || !strings.Contains(errOut, "version-deleted") {
		t.Errorf("the error does not name the deleted version and rule:\n%s", errOut)
	}
}

func TestSchemaLockAppendsNewVersionsOnly(t *testing.T) {
	dir := catalogueCopy(t, "clickstream/events/v1/place_card_opened.proto", func(s string) string {
		return s + `
// Version 2 adds the position of the card in a list.
message PlaceCardOpenedV2 {
  option (clickstream.options.v1.event) = {
    id: 2005
    version: 2
    description: "A user opened the card of a place on the map; with its list position."
  };

  Context context = 1;
  string object_id = 2;
  int32 position = 3;
}
`
	})
	if _, errOut, err := runCLI(t, "schema", "check", "--proto-dir", dir); err == nil || !strings.Contains(errOut, "not-locked") {
		t.Fatalf("check before lock: err=%v, want a not-locked violation:\n%s", err, errOut)
	}
	before, err := os.ReadFile(filepath.Join(dir, "events.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := runCLI(t, "schema", "lock", "--proto-dir", dir); err != nil {
		t.Fatalf("schema lock: %v\n%s", err, errOut)
	}
	after, err := os.ReadFile(filepath.Join(dir, "events.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(before)), "\n") {
		if !strings.Contains(string(after), line) {
			t.Errorf("lock lost or changed the line %q", line)
		}
	}
	if !strings.Contains(string(after), "2005 2 clickstream.events.v1.PlaceCardOpenedV2 sha256:") {
		t.Errorf("lock lacks the new version:\n%s", after)
	}
	if _, errOut, err := runCLI(t, "schema", "check", "--proto-dir", dir); err != nil {
		t.Errorf("check after lock: %v\n%s", err, errOut)
	}
}

func TestDevWithoutPostgresBinariesPrintsOneActionableLine(t *testing.T) {
	t.Setenv("CLICKSTREAM_PG_BIN", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	t.Setenv("DATABASE_URL", "")
	dir := t.TempDir()
	_, _, err := runCLI(t, "dev", "--data-dir", dir, "--registry-addr", "127.0.0.1:0", "--ingest-addr", "127.0.0.1:0",
		"--awards-addr", "127.0.0.1:0", "--nats-listen", "", "--postgres-port", "0", "--console-addr", "127.0.0.1:0")
	if err == nil {
		t.Fatal("dev started without PostgreSQL binaries")
	}
	var stderr bytes.Buffer
	if code := report(&stderr, err); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	msg := stderr.String()
	if strings.Count(msg, "\n") != 1 {
		t.Errorf("want exactly one line, got:\n%s", msg)
	}
	for _, want := range []string{"apt-get install postgresql", "DATABASE_URL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("CLICKSTREAM_LOG_LEVEL", "loud")
	_, _, err := runCLI(t, "schema", "check", "--proto-dir", "../../proto")
	if err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("a bad CLICKSTREAM_LOG_LEVEL was not applied to --log-level: %v", err)
	}
	var u usageError
	if !errors.As(err, &u) {
		t.Errorf("a bad flag value is not a usage error: %T", err)
	}
	out, _, _ := runCLI(t, "dev", "--help")
	if !strings.Contains(out, "$CLICKSTREAM_DATA_DIR") {
		t.Errorf("--help does not document the environment variables:\n%s", out)
	}
}

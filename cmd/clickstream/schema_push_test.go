package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSchemaPushAndDiff runs the CLI in-process against a registry started
// with the starter catalogue. The CLI logs only warnings, so that the
// registry's request logs (on the same default logger) stay out of stderr.
func TestSchemaPushAndDiff(t *testing.T) {
	url := startRegistry(t)
	const photoFile = "clickstream/events/v1/photo_status_changed.proto"

	t.Run("a renamed field of a registered version is rejected", func(t *testing.T) {
		// The first "status" of the file is PhotoStatusChangedV1's.
		dir := catalogueCopy(t, photoFile, func(s string) string {
			return strings.Replace(s, "ContentStatus status = 4", "ContentStatus state = 4", 1)
		})
		source, err := os.ReadFile(filepath.Join(dir, photoFile))
		if err != nil {
			t.Fatal(err)
		}
		line := strings.Count(string(source[:strings.Index(string(source), "ContentStatus state = 4")]), "\n") + 1

		_, errOut, err := runCLI(t, "--log-level", "warn", "schema", "push", "--registry", url, "--admin-token", testAdminToken, "--author", "cli-test", dir)
		if err == nil || !strings.Contains(err.Error(), "push rejected: 1 violation(s)") {
			t.Fatalf("push of a changed version: %v, want it rejected\n%s", err, errOut)
		}
		if code := exitCode(err); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		want := regexp.MustCompile(`^` + regexp.QuoteMeta(photoFile) + `:` + strconv.Itoa(line) + `: clickstream\.events\.v1\.PhotoStatusChangedV1\.state: ` +
			`.*field 4 "status" renamed to "state".* \[version-changed\] — .*add PhotoStatusChangedV3 instead of changing V1\n$`)
		if !want.MatchString(errOut) {
			t.Errorf("stderr:\n%s\nwant one line matching %s", errOut, want)
		}
	})

	t.Run("a new version is registered", func(t *testing.T) {
		dir := catalogueCopy(t, "clickstream/events/v1/place_card_opened.proto", func(s string) string {
			return s + `
message PlaceCardOpenedV2 {
  option (clickstream.options.v1.event) = {id: 2005, version: 2};
  Context context = 1;
  string object_id = 2;
  int32 position = 3;
}
`
		})
		out, errOut, err := runCLI(t, "--log-level", "warn", "schema", "push", "--dry-run", "--registry", url, "--admin-token", testAdminToken, dir)
		if err != nil || !strings.Contains(out, "dry run: would register 1 new version(s): PlaceCardOpenedV2 (13 unchanged); nothing stored, the catalogue stays at revision 1") {
			t.Fatalf("dry run: %v\n%s%s", err, out, errOut)
		}
		// The token from the environment.
		t.Setenv("CLICKSTREAM_ADMIN_TOKEN", testAdminToken)
		out, errOut, err = runCLI(t, "--log-level", "warn", "schema", "push", "--registry", url, "--message", "add PlaceCardOpenedV2", dir)
		if err != nil || !strings.Contains(out, "registered 1 new version(s) at revision 2: PlaceCardOpenedV2 (13 unchanged)") {
			t.Fatalf("push: %v\n%s%s", err, out, errOut)
		}
		out, errOut, err = runCLI(t, "--log-level", "warn", "schema", "push", "--registry", url, dir)
		if err != nil || !strings.Contains(out, "nothing new: 14 version(s) already registered; the catalogue is at revision 2") {
			t.Fatalf("push again: %v\n%s%s", err, out, errOut)
		}
	})

	t.Run("the admin token of the dev stack in the working directory", func(t *testing.T) {
		work := t.TempDir()
		t.Chdir(work)
		dir := catalogueCopy(t, photoFile, func(s string) string { return s + "\n" })
		_, errOut, err := runCLI(t, "--log-level", "warn", "schema", "push", "--registry", url, dir)
		if err == nil || !strings.Contains(err.Error(), "--admin-token") {
			t.Fatalf("push without a token: %v, want an error naming --admin-token\n%s", err, errOut)
		}
		if err := os.MkdirAll(filepath.Join(work, ".clickstream"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, ".clickstream", "admin-token"), []byte(testAdminToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The starter catalogue lacks PlaceCardOpenedV2, registered above.
		_, errOut, err = runCLI(t, "--log-level", "warn", "schema", "push", "--registry", url, dir)
		if err == nil || !strings.Contains(errOut, "PlaceCardOpenedV2 (event 2005 v2) is registered (revision 2) but missing from the push [version-deleted]") {
			t.Fatalf("push with the token file: %v, want PlaceCardOpenedV2 reported deleted\n%s", err, errOut)
		}
	})

	t.Run("diff", func(t *testing.T) {
		out, errOut, err := runCLI(t, "--log-level", "warn", "schema", "diff", "1001", "1", "2", "--registry", url)
		want := "field 4 \"referrer\" added (string)\nfield 5 \"price\" added (message clickstream.events.v1.Money)\n"
		if err != nil || out != want {
			t.Errorf("schema diff 1001 1 2: %v\n%s%s\nwant:\n%s", err, out, errOut, want)
		}
		_, _, err = runCLI(t, "--log-level", "warn", "schema", "diff", "1001", "1", "9", "--registry", url)
		if err == nil || !strings.Contains(err.Error(), "has no version 9") {
			t.Errorf("schema diff 1001 1 9: %v, want an error saying there is no version 9", err)
		}
		_, _, err = runCLI(t, "--log-level", "warn", "schema", "diff", "ItemView", "1", "2", "--registry", url)
		if code := exitCode(err); code != 2 {
			t.Errorf("schema diff ItemView 1 2: %v (exit %d), want a usage error", err, code)
		}
	})
}

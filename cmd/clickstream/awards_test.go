package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/platform"
)

const awardsTestToken = "awards-cli-test-token"

// startPlatform runs registry, ingest and awards in-process on free ports,
// without the starter achievements.
func startPlatform(t *testing.T) *platform.Stack {
	t.Helper()
	return startStack(t, platform.Config{AdminToken: awardsTestToken})
}

func TestAwardsApplyExportExplain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	s := startPlatform(t)
	awardsURL := s.URL(platform.Awards)
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, err := runCLI(t, append(append([]string{"awards"}, args...), "--awards", awardsURL, "--admin-token", awardsTestToken)...)
		if err != nil {
			t.Fatalf("clickstream awards %v: %v\n%s\n%s", args, err, out, errOut)
		}
		return out
	}
	starter := filepath.Join("..", "..", "services", "awards", "starter_achievements.yaml")

	first := cli("apply", "-f", starter, "--actor", "ci")
	if !strings.Contains(first, "+++ achievement local-guide (new)") || !strings.Contains(first, "5 of 5 achievements changed") {
		t.Errorf("first apply:\n%s", first)
	}
	second := cli("apply", "-f", starter, "--actor", "ci")
	if strings.TrimSpace(second) != "no changes: the 5 achievements of "+starter+" are as stored" {
		t.Errorf("second apply reports changes:\n%s", second)
	}

	// Export, then apply the export: nothing changes either.
	exported := cli("export")
	file := filepath.Join(t.TempDir(), "exported.yaml")
	if err := os.WriteFile(file, []byte(exported), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := cli("apply", "-f", file); !strings.Contains(out, "no changes") {
		t.Errorf("applying the export changes something:\n%s\nexport:\n%s", out, exported)
	}

	// A changed goal shows in the diff; --dry-run saves nothing.
	changed := strings.Replace(exported, `goal: 10`, `goal: 12`, 1)
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	dry := cli("apply", "-f", file, "--dry-run")
	if !strings.Contains(dry, "-") || !strings.Contains(dry, "+") || !strings.Contains(dry, "dry run: 1 of 5 achievements would change") {
		t.Errorf("dry run:\n%s", dry)
	}
	if out := cli("apply", "-f", starter); !strings.Contains(out, "no changes") {
		t.Errorf("the dry run saved something:\n%s", out)
	}

	// An invalid file is refused with the problem, and nothing is saved.
	bad := strings.Replace(exported, "ReviewsLengthFilter", "LengthFilter", 1)
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, "awards", "apply", "-f", file, "--awards", awardsURL, "--admin-token", awardsTestToken)
	if err == nil || !strings.Contains(err.Error(), `unknown filter "LengthFilter"`) {
		t.Errorf("invalid file: %v", err)
	}

	// Explain a user with a trip sent through ingest.
	_, errOut, err := runCLIIn(t, `{"eventId":2004,"version":1,"data":{"context":{"userId":"u-cli"},"tripId":"t-1","distanceM":"4000"},"idempotencyKey":"cli-trip-1"}`+"\n",
		"send", "--ingest", s.URL(platform.Ingest), "--api-key", s.IngestKey())
	if err != nil {
		t.Fatalf("send: %v\n%s", err, errOut)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := cli("explain", "--user", "u-cli", "--achievement", "navigator-10km")
		if strings.Contains(out, "objective navi = 4") && strings.Contains(out, "(event ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("explain never showed the trip:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkReconcileCLI(t, s, cli)

	// A new achievement applied with --backfill-from counts the trip sent
	// before it existed.
	newFile := filepath.Join(t.TempDir(), "new.yaml")
	if err := os.WriteFile(newFile, []byte(`achievements:
  - id: navigator-3km
    title: Three kilometres with the navigator
    objectives:
      - key: navi
        sources: [navigation]
        rule: {"name": "SumRule", "config": {"field": "distance_m"}}
    strategy: {"goal":3,"strategy":[{"objective_id":"navi","normalization_factor":0.001}]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := cli("apply", "-f", newFile, "--backfill-from", "2020-01-01"); !strings.Contains(out, "backfill 1 started: navigator-3km counts the events since 2020-01-01T00:00:00Z") {
		t.Errorf("apply with --backfill-from:\n%s", out)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		out := cli("explain", "--user", "u-cli", "--achievement", "navigator-3km")
		if strings.Contains(out, "3 of 3, completed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backfill did not count the earlier trip:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := runCLI(t, "awards", "explain", "--user", "u-cli", "--achievement", "nope", "--awards", awardsURL, "--admin-token", awardsTestToken); err == nil ||
		!strings.Contains(err.Error(), "not found") {
		t.Errorf("explain of an unknown achievement: %v", err)
	}
	if _, _, err := runCLI(t, "awards", "export", "--awards", awardsURL, "--admin-token", "wrong"); err == nil || !strings.Contains(err.Error(), "--admin-token") {
		t.Errorf("a wrong admin token: %v", err)
	}
}

// checkReconcileCLI plants a stale achievement (u-cli's navigator-10km,
// 4 km driven) in the database and checks that reconcile prints it and
// fails, that --repair writes it and that recompute reports what it
// changed.
func checkReconcileCLI(t *testing.T, s *platform.Stack, cli func(args ...string) string) {
	t.Helper()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, s.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// Wait for the achievements worker to fold the trip.
	for deadline := time.Now().Add(20 * time.Second); ; {
		var progress float64
		err := pool.QueryRow(ctx, `SELECT progress FROM awards.user_achievements WHERE user_id = 'u-cli' AND achievement_id = 'navigator-10km'`).Scan(&progress)
		if err == nil && progress == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trip was not folded into navigator-10km: %v %v", progress, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := cli("reconcile"); !strings.Contains(out, "users checked: 0 drifts (counters 0, objective progress 0, achievement progress 0, completion 0)") {
		t.Errorf("reconcile before the corruption:\n%s", out)
	}
	if _, err := pool.Exec(ctx, `UPDATE awards.user_achievements SET progress = 1.5 WHERE user_id = 'u-cli' AND achievement_id = 'navigator-10km'`); err != nil {
		t.Fatal(err)
	}
	args := []string{"awards", "reconcile", "--user", "u-cli", "--awards", s.URL(platform.Awards), "--admin-token", awardsTestToken}
	out, _, err := runCLI(t, args...)
	t.Logf("reconcile:\n%s%v", out, err)
	if !strings.Contains(out, "achievement_progress u-cli navigator-10km: stored 1.5, expected 4\n") ||
		!strings.Contains(out, "1 users checked: 1 drifts (counters 0, objective progress 0, achievement progress 1, completion 0)") {
		t.Errorf("reconcile does not print the drift:\n%s", out)
	}
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "1 drifts found and not repaired") {
		t.Errorf("reconcile with a drift: %v, want exit status 1", err)
	}
	out = cli("reconcile", "--user", "u-cli", "--repair")
	if !strings.Contains(out, "achievement_progress u-cli navigator-10km: stored 1.5, expected 4 (repaired)") ||
		!strings.Contains(out, "1 repaired (counters 0, objective progress 0, achievement progress 1, completion 0)") {
		t.Errorf("reconcile --repair:\n%s", out)
	}
	// The repair gave the objectives new versions: the user achievement is
	// pending until the worker's next cycle, then compared again.
	for deadline := time.Now().Add(20 * time.Second); ; {
		out := cli("reconcile", "--user", "u-cli")
		if !strings.Contains(out, "1 users checked: 0 drifts") {
			t.Fatalf("reconcile after the repair:\n%s", out)
		}
		if !strings.Contains(out, "not compared") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the achievements worker never caught up:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := pool.Exec(ctx, `UPDATE awards.user_achievements SET progress = 2 WHERE user_id = 'u-cli' AND achievement_id = 'navigator-10km'`); err != nil {
		t.Fatal(err)
	}
	out = cli("recompute", "--user", "u-cli")
	t.Logf("recompute:\n%s", out)
	if !strings.Contains(out, "achievement_progress u-cli navigator-10km: stored 2, expected 4 (repaired)") ||
		!strings.Contains(out, "user u-cli: 1 corrected (counters 0, objective progress 0, achievement progress 1, completion 0)") {
		t.Errorf("recompute:\n%s", out)
	}
	if _, _, err := runCLI(t, "awards", "recompute", "--awards", s.URL(platform.Awards), "--admin-token", awardsTestToken); exitCode(err) != 2 {
		t.Errorf("recompute without --user: %v, want a usage error", err)
	}
}

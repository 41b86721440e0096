package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// runAwardsToken runs `awards token` with args and returns its output.
func runAwardsToken(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newAwardsTokenCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// TestAwardsToken: the token the command prints is accepted by a verifier
// with the dev secret `clickstream dev` writes, for the given user, and
// expires after --ttl.
func TestAwardsToken(t *testing.T) {
	dataDir := t.TempDir()
	secret, err := auth.LoadOrCreateToken(filepath.Join(dataDir, awardsJWTSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runAwardsToken(t, "--user", "u42", "--data-dir", dataDir, "--ttl", "2m")
	if err != nil {
		t.Fatalf("awards token: %v\n%s", err, out)
	}
	tok := strings.TrimSpace(out)
	v, err := awards.NewJWTVerifier(awards.JWTConfig{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	if user, err := v.VerifyToken(tok); err != nil || user != "u42" {
		t.Errorf("printed token verifies as %q, %v; want u42", user, err)
	}
	late, err := awards.NewJWTVerifier(awards.JWTConfig{Secret: []byte(secret), Now: func() time.Time { return time.Now().Add(3 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.VerifyToken(tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("after the 2m ttl: %v, want expired", err)
	}

	// --secret-file wins over the data directory.
	other := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(other, []byte("another-secret-of-at-least-32-bytes!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runAwardsToken(t, "--user", "u42", "--data-dir", dataDir, "--secret-file", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyToken(strings.TrimSpace(out)); err == nil {
		t.Error("a token signed with --secret-file verifies with the data directory's secret")
	}
}

func TestAwardsTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data-dir", t.TempDir()}, "--user is required"},
		{[]string{"--user", "u1", "--data-dir", t.TempDir()}, "run `clickstream dev` once"},
		{[]string{"--user", "u1", "--ttl", "-1h"}, "must be positive"},
	} {
		if _, err := runAwardsToken(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("awards token %v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}

package postgres_test

import (
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
)

func TestOpen(t *testing.T) {
	pool, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var one int
	if err := pool.QueryRow(t.Context(), `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Errorf("SELECT 1 = %d, %v", one, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	// Port 1 on the loopback interface refuses connections.
	_, err := postgres.Open(t.Context(), "postgres://app:s3cret@127.0.0.1:1/app?sslmode=disable&connect_timeout=5")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if !strings.Contains(err.Error(), "open database postgres://app:xxxxx@127.0.0.1:1/app") {
		t.Errorf("error %q does not name the redacted URL", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q reveals the password", err)
	}
}

package platform_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// TestStartFailureClosesFluentListener: when Start fails after binding the
// ingest Fluent input (here: the ingest HTTP address is taken), the Fluent
// address is free again once Start returned.
func TestStartFailureClosesFluentListener(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	dir := harness.DataDir(t)
	if err := os.WriteFile(filepath.Join(dir, platform.FluentKeysFile), []byte("web secret-web\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fluentAddr := free.Addr().String()
	free.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := platform.Start(ctx, platform.Config{
		DataDir:     dir,
		RegistryURL: "http://127.0.0.1:1",
		Services:    []string{platform.Ingest},
		Addrs:       map[string]string{platform.Ingest: busy.Addr().String(), platform.IngestFluent: fluentAddr},
		AdminToken:  testAdminToken,
		Ingest:      ingest.Config{PIISecret: testPIISecret},
	})
	if err == nil {
		s.Close()
		t.Fatalf("Start on the taken address %s succeeded", busy.Addr())
	}
	t.Logf("Start failed as it should: %v", err)
	ln, err := net.Listen("tcp", fluentAddr)
	if err != nil {
		t.Fatalf("the Fluent address is still bound after Start failed: %v", err)
	}
	ln.Close()
}

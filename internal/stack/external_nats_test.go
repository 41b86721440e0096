package stack_test

import (
	"context"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/internal/stack"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// TestServicesOnAnExternalNATS runs ingest and awards as `clickstream serve`
// does, against the NATS of another stack (an external server to them), with
// the data dir flag at its default: they start, and ingest's events land on
// that NATS.
func TestServicesOnAnExternalNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform and two more services")
	}
	dir := dataDir(t)
	// The first stack embeds NATS and listens for network clients.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := stack.Start(ctx, stack.Config{
		DataDir:    dir,
		NATSListen: "127.0.0.1:0",
		Addrs:      map[string]string{stack.Registry: "127.0.0.1:0"},
		Services:   []string{stack.Registry},
		AdminToken: testAdminToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for _, service := range []string{stack.Ingest, stack.Awards} {
		svcCtx, svcCancel := context.WithTimeout(ctx, time.Minute)
		s, err := stack.Start(svcCtx, stack.Config{
			DataDir:     ".clickstream", // the flag's default: ignored with a NATS URL
			DatabaseURL: first.DatabaseURL(),
			NATSURL:     first.NATSURL(),
			RegistryURL: first.URL(stack.Registry),
			Services:    []string{service},
			Addrs:       map[string]string{service: "127.0.0.1:0"},
			AdminToken:  testAdminToken,
			Ingest:      ingest.Config{PIISecret: testPIISecret},
		})
		if err != nil {
			svcCancel()
			t.Fatalf("serve %s --nats-url %s: %v", service, first.NATSURL(), err)
		}
		t.Logf("%s started on the external NATS %s at %s", service, first.NATSURL(), s.URL(service))
		s.Close()
		svcCancel()
	}
}

package platform_test

import (
	"context"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	"github.com/clickstream-dev/clickstream/platform"
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
	dir := harness.DataDir(t)
	// The first stack embeds NATS and listens for network clients.
	first := harness.StartStack(t, platform.Config{
		DataDir:    dir,
		NATSListen: "127.0.0.1:0",
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0"},
		Services:   []string{platform.Registry},
		AdminToken: testAdminToken,
	})
	ctx := context.Background()

	for _, service := range []string{platform.Ingest, platform.Awards} {
		svcCtx, svcCancel := context.WithTimeout(ctx, time.Minute)
		s, err := platform.Start(svcCtx, platform.Config{
			DataDir:     ".clickstream", // the flag's default: ignored with a NATS URL
			DatabaseURL: first.DatabaseURL(),
			NATSURL:     first.NATSURL(),
			RegistryURL: first.URL(platform.Registry),
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

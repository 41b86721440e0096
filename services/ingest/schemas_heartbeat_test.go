package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/descriptorpb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// silentRegistry is a registry whose watches announce heartbeats every
// second, send the current revision once and then fall silent without
// closing the stream: a registry that died with its connections open.
type silentRegistry struct {
	registryv1connect.UnimplementedRegistryServiceHandler
	watches atomic.Int32
	// reconnected is closed when a second watch arrives.
	reconnected chan struct{}
}

func (r *silentRegistry) WatchSchemas(ctx context.Context, _ *registryv1.WatchSchemasRequest, stream *connect.ServerStream[registryv1.WatchSchemasResponse]) error {
	if r.watches.Add(1) == 2 {
		close(r.reconnected)
	}
	if err := stream.Send(&registryv1.WatchSchemasResponse{Revision: 1, HeartbeatIntervalSeconds: 1}); err != nil {
		return err
	}
	<-ctx.Done() // silent until the client gives up
	return ctx.Err()
}

func (r *silentRegistry) GetSchemaSet(context.Context, *registryv1.GetSchemaSetRequest) (*registryv1.GetSchemaSetResponse, error) {
	return &registryv1.GetSchemaSetResponse{Revision: 1, FileDescriptorSet: &descriptorpb.FileDescriptorSet{}}, nil
}

func (r *silentRegistry) ListEnvironments(context.Context, *registryv1.ListEnvironmentsRequest) (*registryv1.ListEnvironmentsResponse, error) {
	return &registryv1.ListEnvironmentsResponse{}, nil
}

// TestSchemasDetectsSilentRegistry: a watch that hears nothing for several
// of the heartbeats the registry announced is cancelled and watched again,
// while the catalogue loaded before keeps being served.
func TestSchemasDetectsSilentRegistry(t *testing.T) {
	reg := &silentRegistry{reconnected: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle(registryv1connect.NewRegistryServiceHandler(reg))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	var loads atomic.Int32
	schemas := ingest.NewSchemas(registryv1connect.NewRegistryServiceClient(srv.Client(), srv.URL), srv.URL,
		func(*ingest.Catalogue) { loads.Add(1) }, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- schemas.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// Bounded wait, not a timing assertion: three missed heartbeats of one
	// second each, plus backoff, are far below it.
	select {
	case <-reg.reconnected:
	case <-time.After(time.Minute):
		t.Fatalf("the client never watched again after the registry fell silent (%d watches)", reg.watches.Load())
	}
	st := schemas.Status()
	if !st.Loaded || st.Revision != 1 {
		t.Errorf("status after the silent watch: loaded %v revision %d, want the catalogue of revision 1 still served", st.Loaded, st.Revision)
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("the catalogue was built %d times, want once: watching again at the same revision reuses it", n)
	}
}

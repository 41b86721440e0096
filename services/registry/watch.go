package registry

import (
	"context"

	"connectrpc.com/connect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// connectService serves Service over Connect. With the `simple` option the
// Connect and grpc-go signatures agree for unary RPCs only, so the one
// streaming RPC, WatchSchemas, is adapted here.
type connectService struct {
	*Service
}

var _ registryv1connect.RegistryServiceHandler = connectService{}

// WatchSchemas implements RegistryService.WatchSchemas for Connect.
func (c connectService) WatchSchemas(ctx context.Context, req *registryv1.WatchSchemasRequest, stream *connect.ServerStream[registryv1.WatchSchemasResponse]) error {
	return connect.NewError(connect.CodeUnimplemented, nil)
}

// RevisionWatcher tells subscribers about new catalogue revisions.
type RevisionWatcher interface{}

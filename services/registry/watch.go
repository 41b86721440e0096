package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// RevisionWatcher tells subscribers about new catalogue revisions: pushes
// and metadata changes (access, lifecycle, owners, new environments).
type RevisionWatcher interface {
	// CurrentRevision returns the newest committed catalogue revision (0
	// for an empty catalogue).
	CurrentRevision(ctx context.Context) (uint64, error)
	// SubscribeRevisions returns a channel that first yields the current
	// revision, then each newer one as it is committed. A subscriber that
	// falls behind skips to the latest revision: the channel only ever
	// holds the newest one not yet received, and revisions it yields only
	// grow. The subscription ends when ctx is done; the channel is closed
	// once it is released. SubscribeRevisions fails when the catalogue
	// cannot be watched now (the database is unreachable).
	SubscribeRevisions(ctx context.Context) (<-chan uint64, error)
}

// DefaultWatchHeartbeat is how often WatchSchemas sends a heartbeat when
// Config.WatchHeartbeat is zero.
const DefaultWatchHeartbeat = 5 * time.Second

// connectService serves Service over Connect. With the `simple` option the
// Connect and grpc-go signatures agree for unary RPCs only, so the one
// streaming RPC, WatchSchemas, is adapted here.
type connectService struct {
	*Service
	// heartbeat is how often WatchSchemas sends a heartbeat while no
	// revision is new.
	heartbeat time.Duration
}

var _ registryv1connect.RegistryServiceHandler = connectService{}

// WatchSchemas implements RegistryService.WatchSchemas for Connect: it sends
// the current revision, then every new one until the client goes away. With
// an environment it sends every revision too (a superset of those changing
// what the environment may send), after checking the environment exists.
//
// While no revision is new it sends a heartbeat (the current revision again,
// marked heartbeat) every c.heartbeat, so a client notices within a few
// heartbeats a registry that died without closing the connection.
func (c connectService) WatchSchemas(ctx context.Context, req *registryv1.WatchSchemasRequest, stream *connect.ServerStream[registryv1.WatchSchemasResponse]) error {
	if err := checkRequest(req); err != nil {
		return err
	}
	if env := strings.TrimSpace(req.GetEnvironment()); env != "" {
		if _, err := c.store.GetEnvironment(ctx, env); err != nil {
			return metadataErrorToConnect(err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	revisions, err := c.store.SubscribeRevisions(ctx)
	if err != nil {
		cancel()
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return metadataErrorToConnect(err)
		}
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("cannot watch the catalogue now, retry shortly: %w", err))
	}
	// Leave only once the subscription is released, so nothing it holds
	// outlives the call.
	defer func() {
		cancel()
		for range revisions {
		}
	}()
	interval := c.heartbeat
	if interval <= 0 {
		interval = DefaultWatchHeartbeat
	}
	seconds := uint32(max(1, (interval+time.Second-1)/time.Second))
	heartbeat := time.NewTicker(interval)
	defer heartbeat.Stop()
	var last uint64
	for {
		msg := &registryv1.WatchSchemasResponse{Revision: last, Heartbeat: true, HeartbeatIntervalSeconds: seconds}
		select {
		case revision, ok := <-revisions:
			if !ok {
				return watchEnded(ctx)
			}
			last = revision
			msg.Revision, msg.Heartbeat = revision, false
			heartbeat.Reset(interval)
		case <-heartbeat.C:
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// watchEnded is why a watch ended once its subscription closed.
func watchEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return metadataErrorToConnect(err)
	}
	return connect.NewError(connect.CodeUnavailable, errors.New("the catalogue watch ended; watch again"))
}

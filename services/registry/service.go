package registry

import (
	"context"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/internal/server"
)

// Service implements clickstream.registry.v1.RegistryService, the read API,
// for grpc-go (the in-process REST gateway). Connect serves it through
// connectService, which adds the streaming RPC in Connect's signature.
type Service struct {
	registryv1.UnimplementedRegistryServiceServer
	store Store
	// reads serves the browsing reads that need not see the newest write:
	// store, or a store on a streaming replica of its database.
	reads Store
	// schemaSets remembers the schema sets answered, to tell a client its
	// set did not change since a revision.
	schemaSets *schemaSetAnswers
}

var _ registryv1.RegistryServiceServer = (*Service)(nil)

// New returns the registry read API over store.
func New(store Store) *Service {
	return &Service{store: store, reads: store, schemaSets: newSchemaSetAnswers()}
}

// NewWithReplica returns the registry read API over store that serves the
// browsing reads from replica, a store on a streaming replica of store's
// database: ListEvents, GetEvent, GetEventVersion, DiffVersions,
// GetEventStats, ListUnused and ListDeviations, which may lag the primary
// by the replica's lag. What clients act on stays on store, since it must
// agree with the schema watch (which listens on the primary): GetSchemaSet
// and the environments, langpacks (generated and recorded on first
// download), and the watch itself.
func NewWithReplica(store, replica Store) *Service {
	return &Service{store: store, reads: replica, schemaSets: newSchemaSetAnswers()}
}

// AdminService implements clickstream.registry.v1.RegistryAdminService: the
// API that changes the catalogue. Routes puts it behind the admin token.
type AdminService struct {
	registryv1.UnimplementedRegistryAdminServiceServer
	store Store
}

var (
	_ registryv1.RegistryAdminServiceServer         = (*AdminService)(nil)
	_ registryv1connect.RegistryAdminServiceHandler = (*AdminService)(nil)
)

// NewAdmin returns the registry admin API over store.
func NewAdmin(store Store) *AdminService {
	return &AdminService{store: store}
}

// Config configures what the registry serves.
type Config struct {
	// AdminToken guards RegistryAdminService; empty closes the admin API.
	AdminToken string
	// WatchHeartbeat is how often a schema watch (WatchSchemas) hears from
	// the registry while nothing changes; 0 is DefaultWatchHeartbeat.
	WatchHeartbeat time.Duration
}

// adminPaths are the paths of the admin API on every protocol.
var adminPaths = []string{"/" + registryv1connect.RegistryAdminServiceName + "/", "/v1/admin/"}

// Routes is what the registry serves on its port: the read API open, the
// admin API behind the admin token.
func Routes(cfg Config, svc *Service, admin *AdminService, ready ...server.Check) server.Routes {
	idle := newIdleCollector(idleCollectAfter, idleCollectBurst)
	return server.Routes{
		Name:         "registry",
		GRPCServices: []string{registryv1connect.RegistryServiceName, registryv1connect.RegistryAdminServiceName},
		Connect: func(mux *http.ServeMux, opts ...connect.HandlerOption) {
			mux.Handle(registryv1connect.NewRegistryServiceHandler(connectService{Service: svc, heartbeat: cfg.WatchHeartbeat}, opts...))
			mux.Handle(registryv1connect.NewRegistryAdminServiceHandler(admin, opts...))
		},
		Gateway: func(ctx context.Context, mux *runtime.ServeMux) error {
			if err := registryv1.RegisterRegistryServiceHandlerServer(ctx, mux, svc); err != nil {
				return err
			}
			return registryv1.RegisterRegistryAdminServiceHandlerServer(ctx, mux, admin)
		},
		HTTP: func(mux *http.ServeMux) { mountHTTP(mux, svc) },
		Guard: func(h http.Handler) http.Handler {
			return idle.wrap(compressReads(auth.RequireAdmin(cfg.AdminToken, adminPaths...)(h)))
		},
		Ready: ready,
	}
}

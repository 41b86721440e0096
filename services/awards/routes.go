package awards

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/internal/server"
)

// RoutesConfig configures what the awards service serves.
type RoutesConfig struct {
	// AdminToken guards AwardsAdminService; empty closes it.
	AdminToken string
}

// adminPaths are the paths of the admin API on every protocol.
var adminPaths = []string{"/" + awardsv1connect.AwardsAdminServiceName + "/", "/v1/admin/"}

// Routes is what the awards service serves on its port: the public API
// open (it authenticates users itself), the admin API behind the admin
// token.
func Routes(cfg RoutesConfig, public *PublicAPI, admin *AdminAPI, ready ...server.Check) server.Routes {
	return server.Routes{
		Name:         "awards",
		GRPCServices: []string{awardsv1connect.AwardsServiceName, awardsv1connect.AwardsAdminServiceName},
		Connect: func(mux *http.ServeMux, opts ...connect.HandlerOption) {
			mux.Handle(awardsv1connect.NewAwardsServiceHandler(public, opts...))
			mux.Handle(awardsv1connect.NewAwardsAdminServiceHandler(admin, opts...))
		},
		Gateway: func(ctx context.Context, mux *runtime.ServeMux) error {
			if err := awardsv1.RegisterAwardsServiceHandlerServer(ctx, mux, public); err != nil {
				return err
			}
			return awardsv1.RegisterAwardsAdminServiceHandlerServer(ctx, mux, admin)
		},
		Guard: auth.RequireAdmin(cfg.AdminToken, adminPaths...),
		Ready: ready,
	}
}

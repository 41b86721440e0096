package awards

import (
	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
)

// AdminAPI implements clickstream.awards.v1.AwardsAdminService, the private
// API for operators, for grpc-go (the in-process REST gateway) and Connect
// alike. Routes puts it behind the admin token.
type AdminAPI struct {
	awardsv1.UnimplementedAwardsAdminServiceServer
	engine *Engine
}

var (
	_ awardsv1.AwardsAdminServiceServer         = (*AdminAPI)(nil)
	_ awardsv1connect.AwardsAdminServiceHandler = (*AdminAPI)(nil)
)

// NewAdminAPI returns the admin API over the engine.
func NewAdminAPI(e *Engine) *AdminAPI { return &AdminAPI{engine: e} }

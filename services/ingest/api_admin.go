package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/internal/server"
)

// AdminService implements clickstream.ingest.v1.IngestAdminService: API
// keys, dead letters and reports. Routes puts it behind the admin token.
type AdminService struct {
	ingestv1.UnimplementedIngestAdminServiceServer
	svc *Service
	// registry checks that the environment of a new key exists.
	registry registryv1connect.RegistryServiceClient
	// reports answers the report RPCs; nil without a warehouse.
	reports *Reports
	// log records what operators do (replays, with their actor).
	log *slog.Logger
	// subs answers the subscription RPCs; nil without.
	subs *Subscriptions
}

var _ ingestv1.IngestAdminServiceServer = (*AdminService)(nil)

// NewAdmin returns the admin API of svc.
func NewAdmin(svc *Service) *AdminService {
	return &AdminService{svc: svc, log: slog.New(slog.DiscardHandler)}
}

// WithLogger makes the admin API log what operators do to log.
func (a *AdminService) WithLogger(log *slog.Logger) *AdminService {
	a.log = log
	return a
}

// WithRegistry makes CreateKey check environments with the registry.
func (a *AdminService) WithRegistry(client registryv1connect.RegistryServiceClient) *AdminService {
	a.registry = client
	return a
}

// RoutesConfig configures what ingest serves.
type RoutesConfig struct {
	// AdminToken guards IngestAdminService; empty closes the admin API.
	AdminToken string
	// Schemas, when set, adds the state of the catalogue cache to /readyz.
	Schemas *Schemas
}

// adminPaths are the paths of the admin API on every protocol.
var adminPaths = []string{"/" + ingestv1connect.IngestAdminServiceName + "/", "/v1/admin/"}

// Routes is what ingest serves on its port: the event API and, behind the
// admin token, the admin API (Subscribe and AckEvents take a subscription's
// own token too, and check it themselves).
func Routes(cfg RoutesConfig, svc *Service, admin *AdminService, ready ...server.Check) server.Routes {
	return server.Routes{
		Name:         "ingest",
		GRPCServices: []string{ingestv1connect.IngestServiceName, ingestv1connect.IngestAdminServiceName},
		Connect: func(mux *http.ServeMux, opts ...connect.HandlerOption) {
			mux.Handle(ingestv1connect.NewIngestServiceHandler(svc, opts...))
			mux.Handle(ingestv1connect.NewIngestAdminServiceHandler(connectAdmin{admin}, opts...))
		},
		Gateway: func(ctx context.Context, mux *runtime.ServeMux) error {
			if err := ingestv1.RegisterIngestServiceHandlerServer(ctx, mux, svc); err != nil {
				return err
			}
			return ingestv1.RegisterIngestAdminServiceHandlerServer(ctx, mux, admin)
		},
		// Beacons send the batch as text/plain.
		PlainText: []string{"/v1/events:batch"},
		// Reflection serves the live catalogue.
		Descriptors: svc.Descriptors(),
		// A batch in JSON is split into its events, each decoded by
		// SendBatch against the live catalogue (DecodeBatchJSON).
		JSONDecoders: server.JSONDecoders{
			(&ingestv1.SendBatchRequest{}).ProtoReflect().Descriptor().FullName(): func(data []byte, m proto.Message) error {
				req, ok := m.(*ingestv1.SendBatchRequest)
				if !ok {
					return fmt.Errorf("%T is not a SendBatchRequest", m)
				}
				return DecodeBatchJSON(data, req)
			},
		},
		// The batch's verdicts, written without reflection per field.
		JSONEncoders: server.JSONEncoders{
			(&ingestv1.SendBatchResponse{}).ProtoReflect().Descriptor().FullName(): func(m proto.Message) ([]byte, error) {
				resp, ok := m.(*ingestv1.SendBatchResponse)
				if !ok {
					return nil, fmt.Errorf("%T is not a SendBatchResponse", m)
				}
				return EncodeBatchResponseJSON(resp)
			},
		},
		Guard: func(h http.Handler) http.Handler {
			h = Credentials(subscriberGuard(cfg.AdminToken, auth.RequireAdmin(cfg.AdminToken, adminPaths...)(h), h))
			// Pages send from other origins with browser keys.
			h = CORS(svc, slog.Default().Warn)(h)
			if cfg.Schemas != nil {
				h = cfg.Schemas.ReadyDetails(h)
			}
			return h
		},
		// The event API's batches have their own bound on every protocol;
		// the rest take the server's.
		Bodies:     []server.BodyLimit{{Prefixes: ingestPaths, MaxBytes: int64(svc.cfg.MaxBatchBytes)}},
		Ready:      ready,
		Collectors: append(svc.collectors(), admin.collectors()...),
	}
}

// collectors are the admin API's metrics: the subscriptions' lag.
func (a *AdminService) collectors() []prometheus.Collector {
	if a.subs == nil {
		return nil
	}
	return []prometheus.Collector{a.subs}
}

// SetReports answers the report RPCs from the warehouse.
func (a *AdminService) SetReports(r *Reports) { a.reports = r }

// GetHourlyCounts implements IngestAdminService.GetHourlyCounts.
func (a *AdminService) GetHourlyCounts(ctx context.Context, req *ingestv1.GetHourlyCountsRequest) (*ingestv1.GetHourlyCountsResponse, error) {
	if a.reports == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("reports need the warehouse: run ingest with PostgreSQL"))
	}
	return a.reports.GetHourlyCounts(ctx, req)
}

// GetWarehouseSample implements IngestAdminService.GetWarehouseSample.
func (a *AdminService) GetWarehouseSample(ctx context.Context, req *ingestv1.GetWarehouseSampleRequest) (*ingestv1.GetWarehouseSampleResponse, error) {
	if a.reports == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("the warehouse sample needs the warehouse: run ingest with PostgreSQL"))
	}
	return a.reports.GetWarehouseSample(ctx, req)
}

package platform

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/warehouse"
)

// WarehouseConfig configures the warehouse loader, which runs inside the
// ingest process.
type WarehouseConfig struct {
	// Disabled leaves the loader off (another ingest instance runs it;
	// loaders share one durable consumer anyway).
	Disabled bool
	// Retention is how long the typed tables and the lake keep events
	// (whole daily partitions and date= directories older are dropped); 0
	// keeps everything.
	Retention time.Duration
	// LakeDir, when set, is where the loader also writes Parquet files.
	LakeDir string
	// LakeFileSequences, LakeFlushEvents and LakeFlushAge roll the lake's
	// files (0: the defaults of warehouse.LakeConfig).
	LakeFileSequences uint64
	LakeFlushEvents   int
	LakeFlushAge      time.Duration
}

// legacyWarehouseConsumer is the durable consumer of the bytea warehouse
// (ingest.events) that the typed tables replaced; the table is kept, the
// consumer removed so it does not hold messages pending forever.
const legacyWarehouseConsumer = "warehouse"

// startWarehouse adds the warehouse loader to the runners and answers
// ingest's reports from the typed tables.
//
// The loader runs in the ingest process rather than as a service of its
// own: it needs what ingest has (the bus, the registry's schemas, the
// database) and serves no API of its own beyond ingest's reports, so a
// separate process would add a port, a health endpoint and a deployment
// for nothing. It is still its own package (services/warehouse) that
// imports no other service, so moving it out later is wiring only.
func (s *Stack) startWarehouse(ctx context.Context, pool *pgxpool.Pool, registry registryv1connect.RegistryServiceClient, admin *ingest.AdminService) error {
	store := warehouse.NewPostgresStore(pool)
	admin.SetReports(ingest.NewReports(warehouseReports{store}))
	cfg := s.cfg.Warehouse
	if cfg.Disabled {
		return nil
	}
	log := s.log.With("service", Ingest, "worker", "warehouse")
	if err := s.bus.JetStream().DeleteConsumer(ctx, bus.StreamEvents, legacyWarehouseConsumer); err == nil {
		log.Info("removed the consumer of the retired bytea warehouse; its table ingest.events is kept", "consumer", legacyWarehouseConsumer)
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		log.Warn("remove the consumer of the retired bytea warehouse", "consumer", legacyWarehouseConsumer, "err", err)
	}
	loaderCfg := warehouse.LoaderConfig{Logger: log}
	if cfg.LakeDir != "" {
		lake, err := warehouse.OpenLake(warehouse.LakeConfig{Dir: cfg.LakeDir, FileSequences: cfg.LakeFileSequences,
			FlushEvents: cfg.LakeFlushEvents, FlushAge: cfg.LakeFlushAge, Logger: log})
		if err != nil {
			return err
		}
		loaderCfg.Lake = lake
		log.Info("warehouse: writing the Parquet lake", "dir", cfg.LakeDir)
	}
	loader := warehouse.NewLoader(s.bus.JetStream(), warehouse.NewRegistrySchemas(registry, log), store, loaderCfg)
	s.runners = append(s.runners, loader.Run)
	if cfg.Retention > 0 {
		s.runners = append(s.runners, func(ctx context.Context) error {
			return warehouse.RunRetention(ctx, store, loaderCfg.Lake, cfg.Retention, log)
		})
	}
	return nil
}

// warehouseReports answers ingest's hourly counts from the typed tables.
type warehouseReports struct{ store *warehouse.PostgresStore }

func (r warehouseReports) HourlyCounts(ctx context.Context, q ingest.HourlyQuery) ([]ingest.HourlyCount, error) {
	counts, err := r.store.HourlyCounts(ctx, warehouse.HourlyQuery{From: q.From, To: q.To, EventID: q.EventID, Environment: q.Environment})
	if err != nil {
		return nil, err
	}
	out := make([]ingest.HourlyCount, len(counts))
	for i, c := range counts {
		out[i] = ingest.HourlyCount{Hour: c.Hour, Environment: c.Environment, EventID: c.EventID, Version: c.Version, EventName: c.EventName, Count: c.Count}
	}
	return out, nil
}

func (r warehouseReports) Sample(ctx context.Context, eventID uint32, limit int) (ingest.WarehouseSample, error) {
	s, err := r.store.Sample(ctx, eventID, limit)
	if errors.Is(err, warehouse.ErrNoTable) {
		return ingest.WarehouseSample{}, ingest.ErrNoWarehouseTable
	}
	if err != nil {
		return ingest.WarehouseSample{}, err
	}
	return ingest.WarehouseSample{Table: s.Table, Columns: s.Columns, Rows: s.Rows, TotalRows: s.TotalRows}, nil
}

var (
	_ ingest.HourlyCounter = warehouseReports{}
	_ ingest.TableSampler  = warehouseReports{}
)

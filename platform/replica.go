package platform

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/server"
)

// DefaultReplicaMaxLag is how far behind its primary the read replica may
// fall before the "postgres replica" readiness check fails (the service
// stays ready, degraded).
const DefaultReplicaMaxLag = 10 * time.Second

// replicaScrapeTimeout bounds the lag query of one /metrics scrape.
const replicaScrapeTimeout = 2 * time.Second

// migrateAtStart applies the migrations of the services this stack runs,
// unless the database is a standby: migrations then belong to `clickstream
// migrate` or the first writer started on the primary, and reach the
// standby by replication.
func (s *Stack) migrateAtStart(ctx context.Context, databaseURL string) error {
	err := Migrate(ctx, databaseURL, s.cfg.Services...)
	if errors.Is(err, postgres.ErrInRecovery) {
		s.log.Info("the database is a standby (in recovery): migrations skipped; run `clickstream migrate` against the primary",
			"database", postgres.Redact(databaseURL))
		return nil
	}
	return err
}

// readPool returns the pool that serves service's public reads: one on
// DatabaseReadURL for the registry and awards when it is set, otherwise
// primary.
func (s *Stack) readPool(ctx context.Context, service string, primary *pgxpool.Pool) (*pgxpool.Pool, error) {
	if s.cfg.DatabaseReadURL == "" || (service != Registry && service != Awards) {
		return primary, nil
	}
	pool, err := s.pool(ctx, s.cfg.DatabaseReadURL)
	if err != nil {
		return nil, fmt.Errorf("%s read replica: %w", service, err)
	}
	return pool, nil
}

// withReplica adds to routes what reports the lag of the read replica
// behind reads: the "postgres replica" readiness check and the
// clickstream_postgres_replica_lag_* gauges. It changes nothing when reads
// is the primary pool.
func (s *Stack) withReplica(routes server.Routes, reads, primary *pgxpool.Pool) server.Routes {
	if reads == primary {
		return routes
	}
	maxLag := s.cfg.ReplicaMaxLag
	if maxLag <= 0 {
		maxLag = DefaultReplicaMaxLag
	}
	routes.Ready = append(routes.Ready, replicaCheck(reads, maxLag))
	routes.Collectors = append(routes.Collectors, newReplicaCollector(reads))
	return routes
}

// replicaCheck is the readiness check of a read replica. It fails, as
// degraded, when the replica is unreachable, its replay is paused, or it is
// more than maxLag behind; the error says how far behind it is.
func replicaCheck(pool *pgxpool.Pool, maxLag time.Duration) server.Check {
	return server.Check{Name: "postgres replica", Degrades: true, Func: func(ctx context.Context) error {
		lag, err := postgres.MeasureReplicaLag(ctx, pool)
		switch {
		case err != nil:
			return err
		case lag.Paused:
			return errors.New(lag.String())
		case lag.Seconds > maxLag.Seconds():
			return fmt.Errorf("%s, more than the %s allowed: public reads are that stale", lag, maxLag)
		}
		return nil
	}}
}

// replicaCollector measures the replica's lag at every scrape.
type replicaCollector struct {
	pool                   *pgxpool.Pool
	seconds, bytes, paused *prometheus.Desc
}

func newReplicaCollector(pool *pgxpool.Pool) *replicaCollector {
	return &replicaCollector{
		pool: pool,
		seconds: prometheus.NewDesc("clickstream_postgres_replica_lag_seconds",
			"How far the read replica is behind its primary: the age of its last replayed transaction while received WAL waits for replay, 0 when all is replayed.", nil, nil),
		bytes: prometheus.NewDesc("clickstream_postgres_replica_lag_bytes",
			"WAL the read replica received from its primary and has not replayed yet.", nil, nil),
		paused: prometheus.NewDesc("clickstream_postgres_replica_replay_paused",
			"1 while WAL replay on the read replica is paused (pg_wal_replay_pause), else 0.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.seconds
	ch <- c.bytes
	ch <- c.paused
}

// Collect implements prometheus.Collector; it reports nothing when the
// replica does not answer (the readiness check says why).
func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), replicaScrapeTimeout)
	defer cancel()
	lag, err := postgres.MeasureReplicaLag(ctx, c.pool)
	if err != nil {
		return
	}
	paused := 0.0
	if lag.Paused {
		paused = 1
	}
	ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.GaugeValue, lag.Seconds)
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(lag.Bytes))
	ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused)
}

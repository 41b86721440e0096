package awards

import (
	"context"
	"log/slog"
	"time"
)

// DefaultProcessingLogRetention is how long the processing log keeps a
// month when the configuration does not say.
const DefaultProcessingLogRetention = 90 * 24 * time.Hour

// LogRetention keeps the processing log's partitions: at start and then
// periodically it creates the partitions of the current and the next month
// (UTC) and drops the months that lie entirely before now minus the
// retention. The log is what explain and the admin processing-log API show
// and what lets a backfill skip work already done; beyond the retention a
// replayed event still changes nothing, since the contribution ledger
// holds it.
type LogRetention struct {
	store LogPartitionStore
	cfg   LogRetentionConfig
	log   *slog.Logger
}

// LogRetentionConfig configures LogRetention.
type LogRetentionConfig struct {
	// Retention is how long a month of the log is kept: a month is dropped
	// once it ends before now minus Retention. Default
	// DefaultProcessingLogRetention; negative keeps every month.
	Retention time.Duration
	// Interval is the pause between rounds; default one hour.
	Interval time.Duration
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// NewLogRetention returns the processing log's maintenance on store.
func NewLogRetention(store LogPartitionStore, cfg LogRetentionConfig) *LogRetention {
	if cfg.Retention == 0 {
		cfg.Retention = DefaultProcessingLogRetention
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &LogRetention{store: store, cfg: cfg, log: cfg.Logger.With("worker", "processing log retention")}
}

// Run maintains the partitions until ctx is done. A failed round is
// logged and tried again at the next one: rows of a month without a
// partition go to the default partition meanwhile.
func (r *LogRetention) Run(ctx context.Context) error {
	for {
		if err := r.Round(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("maintain the processing log partitions", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.Interval):
		}
	}
}

// Round creates the current and the next month's partitions and drops the
// expired ones.
func (r *LogRetention) Round(ctx context.Context) error {
	now := r.cfg.Now()
	created, err := r.store.CreateLogPartitions(ctx, now, monthStart(now).AddDate(0, 1, 0))
	if len(created) > 0 {
		r.log.Info("processing log partitions created", "partitions", created)
	}
	if err != nil {
		return err
	}
	if r.cfg.Retention < 0 {
		return nil
	}
	dropped, err := r.store.DropLogPartitions(ctx, now.Add(-r.cfg.Retention))
	if len(dropped) > 0 {
		r.log.Info("processing log partitions dropped", "partitions", dropped, "retention", r.cfg.Retention)
	}
	return err
}

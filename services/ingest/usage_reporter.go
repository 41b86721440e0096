package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// UsageReporterConfig configures the UsageReporter.
type UsageReporterConfig struct {
	// RegistryURL is the registry's base URL, e.g. http://127.0.0.1:8081.
	RegistryURL string
	// AdminToken authorizes ReportUsage on the registry's admin API.
	AdminToken string
	// Interval between reports; 0 means 10s.
	Interval time.Duration
	// MaxMinutes bounds the distinct minutes kept while the registry does
	// not take reports; the oldest are dropped beyond it. 0 means 60.
	MaxMinutes int
	// HTTPClient calls the registry; nil uses one with a 30s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// maxUsageReport is the most counts sent in one ReportUsage call (the
// registry's limit).
const maxUsageReport = 10_000

// usageKey is what one count is kept per.
type usageKey struct {
	minute      int64 // unix seconds of the minute's start
	environment string
	eventID     uint32
	version     uint32
	appVersion  string
	status      string
	reason      string
}

// UsageReporter counts verdicts per minute in memory and reports them to the
// registry's ReportUsage periodically. Record never waits on the network;
// counts the registry did not take are kept for the next report, within
// MaxMinutes.
type UsageReporter struct {
	cfg    UsageReporterConfig
	log    *slog.Logger
	client registryv1connect.RegistryAdminServiceClient

	mu     sync.Mutex
	counts map[usageKey]int64

	// flushMu keeps one report in flight.
	flushMu sync.Mutex
}

var _ UsageRecorder = (*UsageReporter)(nil)

// NewUsageReporter returns a reporter to the registry at cfg.RegistryURL.
// Start it with Run.
func NewUsageReporter(cfg UsageReporterConfig) (*UsageReporter, error) {
	if cfg.RegistryURL == "" {
		return nil, errors.New("usage reporter: the registry URL is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.MaxMinutes <= 0 {
		cfg.MaxMinutes = 60
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var opts []connect.ClientOption
	if cfg.AdminToken != "" {
		opts = append(opts, connect.WithInterceptors(bearerToken(cfg.AdminToken)))
	}
	return &UsageReporter{
		cfg:    cfg,
		log:    cfg.Logger,
		client: registryv1connect.NewRegistryAdminServiceClient(cfg.HTTPClient, strings.TrimRight(cfg.RegistryURL, "/"), opts...),
		counts: map[usageKey]int64{},
	}, nil
}

// bearerToken sends token as the bearer of every call.
func bearerToken(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}
}

// Record counts one verdict. Verdicts on an unresolved event version (no id
// or version) are not counted: the registry has nothing to attribute them to.
func (r *UsageReporter) Record(u Usage) {
	if u.EventID == 0 || u.Version == 0 || u.Environment == "" {
		return
	}
	if u.Status != "rejected" {
		u.Reason = ""
	}
	k := usageKey{
		minute:      u.At.Truncate(time.Minute).Unix(),
		environment: u.Environment,
		eventID:     u.EventID,
		version:     u.Version,
		appVersion:  u.AppVersion,
		status:      u.Status,
		reason:      u.Reason,
	}
	r.mu.Lock()
	r.counts[k]++
	r.mu.Unlock()
}

// Pending is how many counts wait for the next report.
func (r *UsageReporter) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.counts)
}

// Run reports every Interval until ctx is done, then once more with a
// fresh 10s deadline, so the last counts are not lost at shutdown.
func (r *UsageReporter) Run(ctx context.Context) error {
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := r.Flush(final); err != nil {
				r.log.Warn("usage: the last report failed; its counts are lost", "err", err, "counts", r.Pending())
			}
			return nil
		case <-tick.C:
			if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("usage: report failed; retrying with the next one", "err", err, "pending", r.Pending())
			}
		}
	}
}

// Close reports what is left.
func (r *UsageReporter) Close(ctx context.Context) error { return r.Flush(ctx) }

// Flush reports every pending count. Counts the registry did not take are
// kept for the next Flush (bounded by MaxMinutes); counts it refuses as
// invalid are dropped and logged, since sending them again cannot help.
func (r *UsageReporter) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	taken := r.counts
	r.counts = make(map[usageKey]int64, len(taken))
	r.mu.Unlock()
	if len(taken) == 0 {
		return nil
	}

	keys := make([]usageKey, 0, len(taken))
	for k := range taken {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b usageKey) int { return cmp.Compare(a.minute, b.minute) })
	for len(keys) > 0 {
		n := min(len(keys), maxUsageReport)
		chunk, err := r.report(ctx, keys[:n], taken)
		if err != nil {
			r.keep(chunk, keys[n:], taken)
			return fmt.Errorf("report usage (%d counts): %w", len(chunk)+len(keys)-n, err)
		}
		keys = keys[n:]
	}
	return nil
}

// report sends keys, dropping counts the registry refuses as invalid one at
// a time. It returns what is still unsent on failure.
func (r *UsageReporter) report(ctx context.Context, keys []usageKey, counts map[usageKey]int64) ([]usageKey, error) {
	keys = slices.Clone(keys)
	for len(keys) > 0 {
		req := &registryv1.ReportUsageRequest{Counts: make([]*registryv1.UsageCount, len(keys))}
		for i, k := range keys {
			req.Counts[i] = &registryv1.UsageCount{
				Minute:      timestamppb.New(time.Unix(k.minute, 0)),
				Environment: k.environment,
				EventId:     k.eventID,
				Version:     k.version,
				AppVersion:  k.appVersion,
				Status:      k.status,
				Reason:      k.reason,
				Count:       counts[k],
			}
		}
		_, err := r.client.ReportUsage(ctx, req)
		if err == nil {
			return nil, nil
		}
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			return keys, err
		}
		// The registry names the first count it refuses: counts[i]....
		var i int
		var ce *connect.Error
		if !errors.As(err, &ce) {
			return keys, err
		}
		if _, serr := fmt.Sscanf(ce.Message(), "counts[%d]", &i); serr != nil || i < 0 || i >= len(keys) {
			r.log.Error("usage: the registry refused a report; dropping it", "err", err, "counts", len(keys))
			return nil, nil
		}
		r.log.Warn("usage: the registry refused a count; dropping it", "err", err,
			"environment", keys[i].environment, "event_id", keys[i].eventID, "version", keys[i].version, "count", counts[keys[i]])
		keys = slices.Delete(keys, i, i+1)
	}
	return nil, nil
}

// keep puts unsent counts back, added to those recorded meanwhile, and
// drops the oldest minutes beyond MaxMinutes.
func (r *UsageReporter) keep(unsent, rest []usageKey, counts map[usageKey]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ks := range [][]usageKey{unsent, rest} {
		for _, k := range ks {
			r.counts[k] += counts[k]
		}
	}
	minutes := map[int64]bool{}
	for k := range r.counts {
		minutes[k.minute] = true
	}
	if len(minutes) <= r.cfg.MaxMinutes {
		return
	}
	sorted := make([]int64, 0, len(minutes))
	for m := range minutes {
		sorted = append(sorted, m)
	}
	slices.Sort(sorted)
	cutoff := sorted[len(sorted)-r.cfg.MaxMinutes] // keep minutes >= cutoff
	var dropped, events int64
	for k, n := range r.counts {
		if k.minute < cutoff {
			dropped++
			events += n
			delete(r.counts, k)
		}
	}
	r.log.Warn("usage: the registry has not taken reports for too long; dropped the oldest minutes",
		"minutes", len(sorted)-r.cfg.MaxMinutes, "counts", dropped, "events", events, "oldest_kept", time.Unix(cutoff, 0).UTC())
}

package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// UsageStore keeps per-minute usage counts and answers stats and deviations.
type UsageStore interface {
	// RecordUsage adds counts to the stored ones, in one transaction. A
	// count naming an event version that is not registered fails the whole
	// report with an *UnregisteredVersionError; nothing is stored then.
	RecordUsage(ctx context.Context, counts []UsageCount) error
	// EventStats answers q, or ErrNotFound when the event (or the asked
	// version) is not registered.
	EventStats(ctx context.Context, q StatsQuery) (EventStats, error)
	// VersionVolumes returns, per event version and environment that sent
	// it in the window or in the baseline, the counts deviations are judged
	// on.
	VersionVolumes(ctx context.Context, q VolumeQuery) ([]VersionVolume, error)
	// UnusedVersions returns the active versions with no usage at or after
	// since, in event and version order.
	UnusedVersions(ctx context.Context, since time.Time) ([]UnusedVersion, error)
}

// Usage outcomes, as ingest reports them.
const (
	UsageAccepted = "accepted"
	UsageRejected = "rejected"
)

// UsageCount is how many events of one version arrived in one minute from
// one environment and app version with one outcome.
type UsageCount struct {
	// Minute is the start of the minute.
	Minute      time.Time
	Environment string
	EventID     uint32
	Version     uint32
	AppVersion  string
	// Status is UsageAccepted or UsageRejected.
	Status string
	// Reason is the rejection reason; empty when accepted.
	Reason string
	Count  int64
}

// UnregisteredVersionError says that a usage report names an event version
// the catalogue does not have.
type UnregisteredVersionError struct {
	// Index of the first such count in the report.
	Index   int
	EventID uint32
	Version uint32
	// EventKnown is set when the event exists but not this version.
	EventKnown bool
}

func (e *UnregisteredVersionError) Error() string {
	if e.EventKnown {
		return fmt.Sprintf("counts[%d].version: event %d has no version %d; register it with `clickstream schema push` first",
			e.Index, e.EventID, e.Version)
	}
	return fmt.Sprintf("counts[%d].event_id: event %d is not registered; register it with `clickstream schema push` first",
		e.Index, e.EventID)
}

// StatsQuery asks for the usage of one event over [From, To).
type StatsQuery struct {
	EventID uint32
	// Version 0 means every version.
	Version uint32
	// Environment "" means every environment.
	Environment string
	From, To    time.Time
	// Bucket is the width of one point of the series.
	Bucket time.Duration
}

// EventStats is the usage of one event over a period.
type EventStats struct {
	// Series has one point per bucket of the period, empty ones included.
	Series   []StatsPoint
	Accepted int64
	Rejected int64
	// RejectionsByReason over the period; reason "" when none was given.
	RejectionsByReason map[string]int64
	// LastSeen is when each (environment, app version, version) last sent
	// the event, ever; newest first.
	LastSeen []LastSeen
}

// RejectionRate is the share of rejected events, 0 without events.
func (s EventStats) RejectionRate() float64 {
	return rate(s.Rejected, s.Accepted+s.Rejected)
}

// StatsPoint is one bucket of a usage series.
type StatsPoint struct {
	Start    time.Time
	Accepted int64
	Rejected int64
}

// LastSeen is the last minute one (environment, app version) sent one
// version of an event.
type LastSeen struct {
	Environment string
	AppVersion  string
	Version     uint32
	At          time.Time
}

// UnusedVersion is an active version nobody sent for a while.
type UnusedVersion struct {
	EventID     uint32
	Version     uint32
	MessageName string
	// LastSeen is the last minute it was sent; zero when never.
	LastSeen time.Time
}

// maxUsageCounts bounds one report, so one request is one modest
// transaction.
const maxUsageCounts = 10_000

// ReportUsage implements RegistryAdminService.ReportUsage: ingest's
// per-minute counts, added to the stored ones. A report is valid or refused
// as a whole; recorded counts every count of a valid report, zeros
// included (they store nothing).
func (a *AdminService) ReportUsage(ctx context.Context, req *registryv1.ReportUsageRequest) (*registryv1.ReportUsageResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	counts, err := usageCounts(req.GetCounts())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if err := a.store.RecordUsage(ctx, counts); err != nil {
		var unregistered *UnregisteredVersionError
		if errors.As(err, &unregistered) {
			return nil, connect.NewError(connect.CodeInvalidArgument, unregistered)
		}
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return &registryv1.ReportUsageResponse{Recorded: int32(len(counts))}, nil
}

// usageCounts validates a report and returns its counts with each minute
// truncated to the minute.
func usageCounts(in []*registryv1.UsageCount) ([]UsageCount, error) {
	if len(in) > maxUsageCounts {
		return nil, fmt.Errorf("%d counts in one report; send at most %d per report", len(in), maxUsageCounts)
	}
	counts := make([]UsageCount, 0, len(in))
	for i, c := range in {
		field := func(name, format string, args ...any) error {
			return fmt.Errorf("counts[%d].%s: %s", i, name, fmt.Sprintf(format, args...))
		}
		switch {
		case c.GetMinute() == nil:
			return nil, field("minute", "required: the start of the minute the events arrived in")
		case c.GetMinute().CheckValid() != nil:
			return nil, field("minute", "%v", c.GetMinute().CheckValid())
		case c.GetEnvironment() == "":
			return nil, field("environment", "required: the environment that sent the events, e.g. \"web\"")
		case c.GetEventId() == 0:
			return nil, field("event_id", "required: the event's numeric id, e.g. 2001")
		case c.GetVersion() == 0:
			return nil, field("version", "required: versions start at 1")
		case c.GetStatus() != UsageAccepted && c.GetStatus() != UsageRejected:
			return nil, field("status", "%q is not a status; use %q or %q", c.GetStatus(), UsageAccepted, UsageRejected)
		case c.GetReason() != "" && c.GetStatus() != UsageRejected:
			return nil, field("reason", "%q given for accepted events; a reason goes with status %q only", c.GetReason(), UsageRejected)
		case c.GetCount() < 0:
			return nil, field("count", "%d is negative; counts are 0 or more", c.GetCount())
		}
		counts = append(counts, UsageCount{
			Minute:      c.GetMinute().AsTime().Truncate(time.Minute),
			Environment: c.GetEnvironment(),
			EventID:     c.GetEventId(),
			Version:     c.GetVersion(),
			AppVersion:  c.GetAppVersion(),
			Status:      c.GetStatus(),
			Reason:      c.GetReason(),
			Count:       c.GetCount(),
		})
	}
	return counts, nil
}

// Defaults and bounds of GetEventStats.
const (
	defaultStatsPeriod = 24 * time.Hour
	defaultBucket      = 60 // minutes
	maxStatsPoints     = 10_000
)

// GetEventStats implements RegistryService.GetEventStats.
func (s *Service) GetEventStats(ctx context.Context, req *registryv1.GetEventStatsRequest) (*registryv1.GetEventStatsResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	q, err := statsQuery(req, time.Now())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	stats, err := s.reads.EventStats(ctx, q)
	if errors.Is(err, ErrNotFound) {
		if q.Version != 0 {
			return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("event %d has no version %d; list its versions with GET /v1/events/%d", q.EventID, q.Version, q.EventID))
		}
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("event %d is not registered; list events with GET /v1/events", q.EventID))
	}
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	resp := &registryv1.GetEventStatsResponse{
		Accepted:           stats.Accepted,
		Rejected:           stats.Rejected,
		RejectionRate:      stats.RejectionRate(),
		RejectionsByReason: stats.RejectionsByReason,
	}
	for _, p := range stats.Series {
		resp.Series = append(resp.Series, &registryv1.StatsPoint{Start: timestamppb.New(p.Start), Accepted: p.Accepted, Rejected: p.Rejected})
	}
	for _, l := range stats.LastSeen {
		resp.LastSeen = append(resp.LastSeen, &registryv1.LastSeen{
			Environment: l.Environment, AppVersion: l.AppVersion, Version: l.Version, At: timestamppb.New(l.At),
		})
	}
	return resp, nil
}

// statsQuery validates req and fills its defaults: the 24 hours before now,
// hourly buckets.
func statsQuery(req *registryv1.GetEventStatsRequest, now time.Time) (StatsQuery, error) {
	q := StatsQuery{EventID: req.GetEventId(), Version: req.GetVersion(), Environment: req.GetEnvironment()}
	if q.EventID == 0 {
		return q, errors.New("event_id is required: pass the event's numeric id, e.g. 2001")
	}
	if err := req.GetFrom().CheckValid(); req.GetFrom() != nil && err != nil {
		return q, fmt.Errorf("from: %w", err)
	}
	if err := req.GetTo().CheckValid(); req.GetTo() != nil && err != nil {
		return q, fmt.Errorf("to: %w", err)
	}
	q.To = now
	if req.GetTo() != nil {
		q.To = req.GetTo().AsTime()
	}
	q.From = q.To.Add(-defaultStatsPeriod)
	if req.GetFrom() != nil {
		q.From = req.GetFrom().AsTime()
	}
	if !q.From.Before(q.To) {
		return q, fmt.Errorf("from (%s) must be before to (%s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	minutes := req.GetBucketMinutes()
	switch {
	case minutes < 0:
		return q, fmt.Errorf("bucket_minutes: %d is negative; use 1 or more (default %d)", minutes, defaultBucket)
	case minutes == 0:
		minutes = defaultBucket
	}
	q.Bucket = time.Duration(minutes) * time.Minute
	if points := q.To.Sub(q.From) / q.Bucket; points > maxStatsPoints {
		return q, fmt.Errorf("bucket_minutes: %d minutes over %s make %d points, more than %d; use wider buckets or a shorter period",
			minutes, q.To.Sub(q.From), points, maxStatsPoints)
	}
	return q, nil
}

// Defaults and bounds of ListUnused.
const (
	defaultUnusedDays = 30
	maxUnusedDays     = 3650
)

// ListUnused implements RegistryService.ListUnused: active versions nobody
// sent for the asked number of days, candidates to retire.
func (s *Service) ListUnused(ctx context.Context, req *registryv1.ListUnusedRequest) (*registryv1.ListUnusedResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	days := req.GetDays()
	switch {
	case days < 0 || days > maxUnusedDays:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("days: %d is out of range; use 1 to %d (default %d)", days, maxUnusedDays, defaultUnusedDays))
	case days == 0:
		days = defaultUnusedDays
	}
	since := time.Now().AddDate(0, 0, -int(days))
	unused, err := s.reads.UnusedVersions(ctx, since)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	resp := &registryv1.ListUnusedResponse{}
	for _, u := range unused {
		pu := &registryv1.UnusedVersion{Version: &registryv1.EventVersionRef{EventId: u.EventID, Version: u.Version, MessageName: u.MessageName}}
		if !u.LastSeen.IsZero() {
			pu.LastSeen = timestamppb.New(u.LastSeen)
		}
		resp.Versions = append(resp.Versions, pu)
	}
	return resp, nil
}

// rate is part/total, 0 when total is 0.
func rate(part, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(part) / float64(total)
}

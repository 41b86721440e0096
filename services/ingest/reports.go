package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// maxReportRange bounds one hourly report.
const maxReportRange = 93 * 24 * time.Hour

// HourlyQuery asks for event counts over [From, To).
type HourlyQuery struct {
	From, To time.Time
	// EventID 0 means every event.
	EventID uint32
	// Environment "" means every environment.
	Environment string
}

// HourlyCount is how many events of one version one environment sent in
// one hour.
type HourlyCount struct {
	Hour        time.Time
	Environment string
	EventID     uint32
	Version     uint32
	EventName   string
	Count       int64
}

// HourlyCounter counts stored events; the warehouse's typed tables answer
// it (the composition root wires them in: ingest does not import the
// warehouse).
type HourlyCounter interface {
	// HourlyCounts answers q, ordered by hour, environment, event and version.
	HourlyCounts(ctx context.Context, q HourlyQuery) ([]HourlyCount, error)
}

// WarehouseSample is an event's typed table and its most recent rows.
type WarehouseSample struct {
	// Table is schema-qualified, e.g. "warehouse.item_view".
	Table   string
	Columns []string
	// Rows hold one value per column in PostgreSQL's text form; nil is NULL.
	Rows      [][]*string
	TotalRows int64
}

// ErrNoWarehouseTable is the error of TableSampler.Sample for an event with
// no table yet.
var ErrNoWarehouseTable = errors.New("no warehouse table")

// TableSampler shows an event's typed table.
type TableSampler interface {
	// Sample returns the table of the event and its limit most recent
	// rows; ErrNoWarehouseTable when the event has none yet.
	Sample(ctx context.Context, eventID uint32, limit int) (WarehouseSample, error)
}

// Reports answers the report RPCs of the admin API from the warehouse.
type Reports struct {
	store   HourlyCounter
	samples TableSampler
}

// NewReports returns the reports over store; when store is also a
// TableSampler it answers GetWarehouseSample too.
func NewReports(store HourlyCounter) *Reports {
	r := &Reports{store: store}
	r.samples, _ = store.(TableSampler)
	return r
}

// Sample limits of GetWarehouseSample.
const (
	defaultSampleRows = 10
	maxSampleRows     = 100
)

// GetWarehouseSample answers IngestAdminService.GetWarehouseSample.
func (r *Reports) GetWarehouseSample(ctx context.Context, req *ingestv1.GetWarehouseSampleRequest) (*ingestv1.GetWarehouseSampleResponse, error) {
	if r.samples == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("this ingest has no typed warehouse to sample"))
	}
	limit := int(req.GetLimit())
	switch {
	case req.GetEventId() == 0:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("event_id is required: the registry's id of the event, e.g. 1001"))
	case limit < 0 || limit > maxSampleRows:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("limit %d is out of range: ask for 1 to %d rows (0 means %d)", limit, maxSampleRows, defaultSampleRows))
	case limit == 0:
		limit = defaultSampleRows
	}
	sample, err := r.samples.Sample(ctx, req.GetEventId(), limit)
	if errors.Is(err, ErrNoWarehouseTable) {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("event %d has no warehouse table yet: the loader creates it with the event's first accepted event", req.GetEventId()))
	}
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("the warehouse cannot answer now, retry shortly: %w", err))
	}
	resp := &ingestv1.GetWarehouseSampleResponse{Table: sample.Table, Columns: sample.Columns, TotalRows: sample.TotalRows}
	for _, row := range sample.Rows {
		lv := &structpb.ListValue{Values: make([]*structpb.Value, len(row))}
		for i, v := range row {
			if v == nil {
				lv.Values[i] = structpb.NewNullValue()
			} else {
				lv.Values[i] = structpb.NewStringValue(*v)
			}
		}
		resp.Rows = append(resp.Rows, lv)
	}
	return resp, nil
}

// GetHourlyCounts answers IngestAdminService.GetHourlyCounts: stored events
// per hour, event version and environment over [from, to).
func (r *Reports) GetHourlyCounts(ctx context.Context, req *ingestv1.GetHourlyCountsRequest) (*ingestv1.GetHourlyCountsResponse, error) {
	q, err := hourlyQuery(req)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	counts, err := r.store.HourlyCounts(ctx, q)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("the warehouse cannot answer now, retry shortly: %w", err))
	}
	resp := &ingestv1.GetHourlyCountsResponse{Counts: make([]*ingestv1.HourlyCount, len(counts))}
	for i, c := range counts {
		resp.Counts[i] = &ingestv1.HourlyCount{
			Hour:        timestamppb.New(c.Hour),
			Environment: c.Environment,
			EventId:     c.EventID,
			Version:     c.Version,
			EventName:   c.EventName,
			Count:       c.Count,
		}
	}
	return resp, nil
}

func hourlyQuery(req *ingestv1.GetHourlyCountsRequest) (HourlyQuery, error) {
	switch {
	case req.GetFrom() == nil || req.GetTo() == nil:
		return HourlyQuery{}, errors.New("from and to are required: the report covers [from, to), e.g. from 2025-06-02T00:00:00Z to 2025-06-03T00:00:00Z")
	case req.GetFrom().CheckValid() != nil:
		return HourlyQuery{}, fmt.Errorf("from: %v", req.GetFrom().CheckValid())
	case req.GetTo().CheckValid() != nil:
		return HourlyQuery{}, fmt.Errorf("to: %v", req.GetTo().CheckValid())
	}
	q := HourlyQuery{From: req.GetFrom().AsTime(), To: req.GetTo().AsTime(), EventID: req.GetEventId(), Environment: req.GetEnvironment()}
	if err := checkEnvironmentParam("environment", q.Environment); err != nil {
		return q, err
	}
	switch {
	case !q.To.After(q.From):
		return q, fmt.Errorf("to %s is not after from %s", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	case q.To.Sub(q.From) > maxReportRange:
		return q, fmt.Errorf("the range %s to %s is longer than %d days; ask for a shorter one", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), int(maxReportRange/(24*time.Hour)))
	}
	return q, nil
}

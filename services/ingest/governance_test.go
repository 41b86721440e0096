package ingest_test

import (
	"context"
	"testing"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

func TestCatalogueGovernance(t *testing.T) {
	photoV1 := ingest.VersionRef{EventID: 2001, Version: 1}
	photoV2 := ingest.VersionRef{EventID: 2001, Version: 2}
	itemV2 := ingest.VersionRef{EventID: 1001, Version: 2}
	catalogue := realCatalogue(t).WithGovernance(ingest.Governance{
		Status: map[ingest.VersionRef]ingest.Lifecycle{photoV1: ingest.LifecycleRetired},
		Access: map[string]map[ingest.VersionRef]bool{
			"ios": {photoV1: true, photoV2: true, itemV2: true},
			"web": {itemV2: true},
		},
	})
	svc := ingest.New(ingest.Config{}, catalogue, bustest.New(t))
	photoV1Event := jsonEvent(t, "", &ingestv1.JsonEvent{EventId: 2001, Version: 1}, `{"context":{"userId":"u"},"photoId":"p"}`)
	tests := []struct {
		name, env string
		ev        *ingestv1.Event
		path      string
		reason    ingestv1.RejectReason
		inMessage []string
	}{
		{"allowed", "ios", typed(t, "", photoStatus()), "", ingestv1.RejectReason_REJECT_REASON_UNSPECIFIED, nil},
		{"retired", "ios", photoV1Event, "", ingestv1.RejectReason_REJECT_REASON_RETIRED, []string{"PhotoStatusChangedV1", "retired", "version 2"}},
		{"not allowed", "web", typed(t, "", photoStatus()), "", ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED, []string{`"web"`, "PhotoStatusChangedV2"}},
		{"unknown environment", "tv", typed(t, "", itemView()), "", ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED, []string{`"tv"`}},
		{"unknown event stays unknown", "web", typedBytes("", "clickstream.events.v1.NoSuchV1", nil), "typed.type_url", ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ingest.WithCaller(context.Background(), ingest.Caller{Environment: tt.env})
			resp, err := svc.SendBatch(ctx, &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{tt.ev}})
			if err != nil {
				t.Fatal(err)
			}
			r := resp.GetResults()[0]
			if tt.reason == ingestv1.RejectReason_REJECT_REASON_UNSPECIFIED {
				if r.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
					t.Fatalf("%v, want ACCEPTED", r)
				}
				return
			}
			wantRejection(t, r.GetRejection(), tt.reason, tt.path, tt.inMessage...)
		})
	}
}

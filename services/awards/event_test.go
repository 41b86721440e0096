package awards_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/services/awards"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// event wraps a typed payload as the awards engine sees it.
func event(recordID string, at time.Time, payload proto.Message) awards.Event {
	return awards.Event{
		RecordID:   recordID,
		Name:       string(payload.ProtoReflect().Descriptor().FullName()),
		UserID:     "u1",
		OccurredAt: at,
		Payload:    payload.ProtoReflect(),
	}
}

func photo(id string, status eventsv1.ContentStatus) *eventsv1.PhotoStatusChangedV2 {
	return &eventsv1.PhotoStatusChangedV2{
		Context:  &eventsv1.Context{UserId: "u1", Geo: &eventsv1.Geo{City: "Lisbon"}},
		PhotoId:  id,
		ObjectId: "place-1",
		Status:   status,
		Rubric:   "cafe",
	}
}

func review(id, object string, status eventsv1.ContentStatus, length int32) *eventsv1.ReviewStatusChangedV1 {
	return &eventsv1.ReviewStatusChangedV1{
		Context:    &eventsv1.Context{UserId: "u1"},
		ReviewId:   id,
		ObjectId:   object,
		Status:     status,
		Rubric:     "theatre",
		TextLength: length,
	}
}

func descriptors(msgs ...proto.Message) []protoreflect.MessageDescriptor {
	var mds []protoreflect.MessageDescriptor
	for _, m := range msgs {
		mds = append(mds, m.ProtoReflect().Descriptor())
	}
	return mds
}

func TestEventField(t *testing.T) {
	ev := event("r1", t0, photo("p1", eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE))
	tests := []struct {
		path       string
		wantText   string
		wantStatus string
		wantSet    bool
	}{
		{"photo_id", "p1", "p1", true},
		{"status", "CONTENT_STATUS_ACTIVE", "active", true},
		{"context.geo.city", "Lisbon", "Lisbon", true},
		{"context.geo.latitude", "", "", false}, // zero scalar is unset in proto3
		{"context.session_id", "", "", false},
		{"previous_status", "", "", false},
		{"no_such_field", "", "", false},
		{"photo_id.deeper", "", "", false},
		{"context.platform", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, _, set := ev.Field(tt.path)
			text, textOK := ev.FieldText(tt.path)
			status, _ := ev.FieldStatus(tt.path)
			if set != tt.wantSet || textOK != tt.wantSet || text != tt.wantText || status != tt.wantStatus {
				t.Errorf("Field(%q): set %v, text %q (%v), status %q; want set %v, text %q, status %q",
					tt.path, set, text, textOK, status, tt.wantSet, tt.wantText, tt.wantStatus)
			}
		})
	}
	n, ok := event("r2", t0, &eventsv1.NavigationTripFinishedV1{TripId: "t", DistanceM: 4000}).FieldNumber("distance_m")
	if !ok || n != 4000 {
		t.Errorf("FieldNumber(distance_m) = %v, %v; want 4000, true", n, ok)
	}
	if _, _, ok := (awards.Event{}).Field("status"); ok {
		t.Error("Field on an event without payload reports set")
	}
}

func TestEventFromRecord(t *testing.T) {
	payload := photo("p1", eventsv1.ContentStatus_CONTENT_STATUS_ACTIVE)
	rec := &busv1.EventRecord{
		Id: "rec-1", EventId: 2001, EventVersion: 2,
		EventName:   "clickstream.events.v1.PhotoStatusChangedV2",
		Environment: "app", UserId: "u1", OccurredAt: timestamppb.New(t0),
	}
	ev := awards.EventFromRecord(rec, payload.ProtoReflect())
	if ev.RecordID != "rec-1" || ev.EventID != 2001 || ev.Version != 2 || ev.Environment != "app" ||
		ev.UserID != "u1" || !ev.OccurredAt.Equal(t0) || ev.Subject() != "PhotoStatusChanged" {
		t.Errorf("EventFromRecord = %+v", ev)
	}
}

func TestEventSubject(t *testing.T) {
	for name, want := range map[string]string{
		"clickstream.events.v1.PhotoStatusChangedV2":     "PhotoStatusChanged",
		"clickstream.events.v1.NavigationTripFinishedV1": "NavigationTripFinished",
		"clickstream.events.v1.V2":                       "V2",
		"Plain":                                          "Plain",
		"":                                               "",
	} {
		if got := (awards.Event{Name: name}).Subject(); got != want {
			t.Errorf("Subject(%q) = %q, want %q", name, got, want)
		}
	}
}

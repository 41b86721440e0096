package ingest_test

import (
	"testing"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// TestDeadLetterEventOfUnresolvedVersion checks that a dead letter of an
// event whose version ingest could not resolve names the version as the
// client sent it, so it can be replayed once that version is registered.
func TestDeadLetterEventOfUnresolvedVersion(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	tests := []struct {
		key  string
		ev   *ingestv1.Event
		want string
	}{
		{"dl-typed", typedBytes("dl-typed", "clickstream.events.v1.ItemViewV9", []byte{8, 1}), "clickstream.events.v1.ItemViewV9"},
		{"dl-json-name", jsonEvent(t, "dl-json-name", &ingestv1.JsonEvent{Name: "clickstream.events.v1.ItemViewV9"}, `{}`), "clickstream.events.v1.ItemViewV9"},
		{"dl-json-id", jsonEvent(t, "dl-json-id", &ingestv1.JsonEvent{EventId: 1001, Version: 9}, `{}`), "id:1001:v9"},
		{"dl-json-unknown-id", jsonEvent(t, "dl-json-unknown-id", &ingestv1.JsonEvent{EventId: 4242, Version: 1}, `{}`), "id:4242:v1"},
		{"dl-resolved", typedBytes("dl-resolved", "clickstream.events.v1.ItemViewV2", []byte{0xff}), "clickstream.events.v1.ItemViewV2"},
	}
	events := make([]*ingestv1.Event, len(tests))
	for i, tt := range tests {
		events[i] = tt.ev
	}
	resp := send(t, svc, events...)
	stored := byMsgID(t, storedMsgs(t, b, bus.StreamDeadLetter))
	for i, tt := range tests {
		if got := resp.GetResults()[i].GetStatus(); got != rejected {
			t.Errorf("%s: %s, want rejected", tt.key, got)
			continue
		}
		m, ok := stored["dl-"+tt.key]
		if !ok {
			t.Errorf("%s: no dead letter", tt.key)
			continue
		}
		if got := m.Header.Get(ingest.HeaderEvent); got != tt.want {
			t.Errorf("%s: header %s = %q, want %q", tt.key, ingest.HeaderEvent, got, tt.want)
		}
	}
}

package ingest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// postJSON posts body and decodes a SendBatchResponse from a 200.
func postJSON(t *testing.T, url, contentType, body string) *ingestv1.SendBatchResponse {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: status %d, want 200: %s", url, resp.StatusCode, data)
	}
	out := &ingestv1.SendBatchResponse{}
	if err := protojson.Unmarshal(data, out); err != nil {
		t.Fatalf("response %s: %v", data, err)
	}
	return out
}

const (
	tripV1       = `"@type":"type.googleapis.com/clickstream.events.v1.NavigationTripFinishedV1"`
	tripContext  = `"context":{"userId":"u-1","geo":{"latitude":55.7}}`
	unknownTyped = `{"@type":"type.googleapis.com/clickstream.events.v1.NoSuchEventV9","colour":"red"}`
)

// jsonBatch is a batch, in JSON, of a valid typed event, an unknown
// @type, an unknown nested field, a wrong type, and the JSON form with a
// wrong type and an unknown nested field; keys end in suffix.
func jsonBatch(suffix string) string {
	return `{"events":[
 {"idempotencyKey":"ok-` + suffix + `","typed":{` + tripV1 + `,` + tripContext + `,"tripId":"t-1","distanceM":"12500"}},
 {"idempotencyKey":"type-` + suffix + `","typed":` + unknownTyped + `},
 {"idempotencyKey":"field-` + suffix + `","typed":{` + tripV1 + `,"context":{"userId":"u-1","geo":{"latitude":55.7,"altitude":140}},"tripId":"t-2","distanceM":"1"}},
 {"idempotencyKey":"wrong-` + suffix + `","typed":{` + tripV1 + `,` + tripContext + `,"tripId":"t-3","distance_m":"twelve"}},
 {"idempotencyKey":"jwrong-` + suffix + `","json":{"name":"clickstream.events.v1.NavigationTripFinishedV1","data":{` + tripContext + `,"tripId":"t-4","distance_m":true}}},
 {"idempotencyKey":"jfield-` + suffix + `","json":{"name":"clickstream.events.v1.NavigationTripFinishedV1","data":{"context":{"geo":{"altitude":1}},"tripId":"t-5","distanceM":5}}}
]}`
}

// One bad typed or JSON event in a JSON batch is rejected alone, over REST
// and over Connect JSON, with the field path as the client named it, and
// dead-lettered (the typed form that did not decode with its JSON as sent);
// the valid event is accepted.
func TestJSONBatchPerEventVerdicts(t *testing.T) {
	svc, b := newService(t, ingest.Config{})
	url := serveIngest(t, ingest.Routes(ingest.RoutesConfig{}, svc, ingest.NewAdmin(svc)))

	for _, proto := range []struct{ name, url, suffix string }{
		{"REST", url + "/v1/events:batch", "rest"},
		{"Connect", url + "/clickstream.ingest.v1.IngestService/SendBatch", "connect"},
	} {
		resp := postJSON(t, proto.url, "application/json", jsonBatch(proto.suffix))
		if len(resp.GetResults()) != 6 {
			t.Fatalf("%s: %d verdicts, want 6: %v", proto.name, len(resp.GetResults()), resp)
		}
		r := resp.GetResults()
		if r[0].GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Errorf("%s: valid typed event: %v %v", proto.name, r[0].GetStatus(), r[0].GetRejection())
		}
		wantRejection(t, r[1].GetRejection(), ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT, "typed.type_url", "NoSuchEventV9")
		wantRejection(t, r[2].GetRejection(), ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, "context.geo.altitude", "altitude")
		wantRejection(t, r[3].GetRejection(), ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, "distance_m", "number")
		wantRejection(t, r[4].GetRejection(), ingestv1.RejectReason_REJECT_REASON_WRONG_TYPE, "distance_m", "boolean")
		wantRejection(t, r[5].GetRejection(), ingestv1.RejectReason_REJECT_REASON_UNKNOWN_FIELD, "context.geo.altitude")
		if r[1].GetId() != "type-"+proto.suffix {
			t.Errorf("%s: the rejected event's id is %q, want its idempotency key", proto.name, r[1].GetId())
		}
		if resp.GetAccepted() != 1 || resp.GetRejected() != 5 {
			t.Errorf("%s: accepted %d rejected %d, want 1 and 5", proto.name, resp.GetAccepted(), resp.GetRejected())
		}
		t.Logf("%s: accepted %d, rejected %d: %s", proto.name, resp.GetAccepted(), resp.GetRejected(), protojson.Format(resp))
	}

	events := storedMsgs(t, b, "EVENTS")
	dead := storedMsgs(t, b, "DEADLETTER")
	t.Logf("EVENTS %d, DEADLETTER %d", len(events), len(dead))
	if len(events) != 2 || len(dead) != 10 {
		t.Fatalf("EVENTS %d and DEADLETTER %d, want 2 and 10", len(events), len(dead))
	}
	byKey := map[string]int{}
	for i, m := range dead {
		byKey[strings.TrimPrefix(m.Header.Get("Nats-Msg-Id"), "dl-")] = i
	}
	for _, suffix := range []string{"rest", "connect"} {
		m := dead[byKey["type-"+suffix]]
		if string(m.Data) != unknownTyped || m.Header.Get(ingest.HeaderPayloadForm) != ingest.TypedJSONPayloadForm {
			t.Errorf("dead letter of the unknown @type: %s form %q, want the typed JSON as sent, form %q",
				m.Data, m.Header.Get(ingest.HeaderPayloadForm), ingest.TypedJSONPayloadForm)
		}
		m = dead[byKey["field-"+suffix]]
		if got := m.Header.Get(ingest.HeaderFieldPath); got != "context.geo.altitude" || !strings.Contains(string(m.Data), `"altitude":140`) {
			t.Errorf("dead letter of the unknown field: path %q data %s", got, m.Data)
		}
		if got := dead[byKey["jwrong-"+suffix]].Header.Get(ingest.HeaderReason); got != "REJECT_REASON_WRONG_TYPE" {
			t.Errorf("dead letter of the JSON form's wrong type: reason %q", got)
		}
	}
}

// A batch whose envelope is not a batch is refused whole, naming what is
// wrong; an event that is not an object is rejected alone.
func TestJSONBatchEnvelope(t *testing.T) {
	svc, _ := newService(t, ingest.Config{})
	url := serveIngest(t, ingest.Routes(ingest.RoutesConfig{}, svc, ingest.NewAdmin(svc)))
	for _, body := range []string{`[1]`, `{"events":{}}`, `{"evnts":[]}`} {
		resp, err := http.Post(url+"/v1/events:batch", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", body, resp.StatusCode, data)
		}
	}
	resp := postJSON(t, url+"/v1/events:batch", "application/json",
		`{"events":[7,{"idempotencyKey":"x","typed":{`+tripV1+`,`+tripContext+`,"tripId":"t","distanceM":3}}]}`)
	wantRejection(t, resp.GetResults()[0].GetRejection(), ingestv1.RejectReason_REJECT_REASON_MALFORMED, "", "not a JSON object")
	if resp.GetResults()[1].GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Errorf("the valid event beside a malformed one: %v", resp.GetResults()[1])
	}
}

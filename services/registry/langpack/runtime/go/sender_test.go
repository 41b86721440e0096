package sender

import (
	"errors"
	"net"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// TestRetryCodesAreTheClients: the Go langpack retries after exactly the
// errors the Go client retries after, for every code, with and without a
// transport cause.
func TestRetryCodesAreTheClients(t *testing.T) {
	causes := map[string]error{
		"plain":     errors.New("the handler said so"),
		"transport": &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")},
	}
	retried := 0
	for code := connect.Code(1); code <= 16; code++ {
		for name, cause := range causes {
			err := connect.NewError(code, cause)
			if got, want := retryable(err), ingestclient.Retryable(err); got != want {
				t.Errorf("%s error with code %s: the langpack retries %t, the client %t", name, code, got, want)
			}
			if retryable(err) {
				retried++
			}
		}
	}
	t.Logf("%d of %d (code, cause) pairs are retried by both", retried, 16*len(causes))
	if retried != 2*len(ingestclient.RetryableCodes())+len(ingestclient.TransportCodes()) {
		t.Errorf("%d pairs retried, want every retryable code twice and every transport code once", retried)
	}
}

// TestAsEventCopiesAnotherType: an event version generated elsewhere (here a
// dynamic message of the same descriptor) is checked as this pack's type
// through the wire form, field for field.
func TestAsEventCopiesAnotherType(t *testing.T) {
	want := &ingestv1.Event{IdempotencyKey: "k-1", Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{Name: "clickstream.events.v1.ItemViewV2", EventId: 1001}}}
	other := dynamicpb.NewMessage(want.ProtoReflect().Descriptor())
	b, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, other); err != nil {
		t.Fatal(err)
	}
	got, err := asEvent[*ingestv1.Event](other)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("asEvent = %v, want %v", got, want)
	}
	if same, err := asEvent[*ingestv1.Event](want); err != nil || same != want {
		t.Errorf("asEvent of the pack's own type made a copy (%v)", err)
	}
}

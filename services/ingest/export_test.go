package ingest

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// Decode exposes decode to the external tests: the event version (zero when
// unresolved), the message when valid, the bytes a dead letter keeps, and
// the rejection when invalid.
func (c *Catalogue) Decode(ev *ingestv1.Event, maxBytes int) (EventType, *dynamicpb.Message, []byte, *ingestv1.Rejection) {
	d := c.decode(ev, maxBytes)
	return d.typ, d.msg, d.original, d.rejection
}

// WithCredentialsForTest returns ctx as Credentials leaves it for a
// Connect call carrying secret as its API key.
func WithCredentialsForTest(ctx context.Context, secret string) context.Context {
	return context.WithValue(ctx, credentialsKey{}, credentials{secret: secret, protocol: busv1.Protocol_PROTOCOL_CONNECT})
}

// SetClockForTest makes k read the time from now.
func (k *Keys) SetClockForTest(now func() time.Time) { k.now = now }

// CheckIdempotencyKey exposes checkIdempotencyKey; RejectedKeyID and
// KeyExcerpt what stands for a rejected key.
var (
	CheckIdempotencyKey = checkIdempotencyKey
	RejectedKeyID       = rejectedKeyID
	KeyExcerpt          = keyExcerpt
)

// DecodeJSONEventForTest decodes and validates one event of a JSON batch
// as SendBatch does (fast: the hot path where the event's shape allows it),
// or always the general way through protojson and google.protobuf.Struct
// (fast false). It returns the event's idempotency key, its event version,
// its payload encoded when valid, and the rejection when not.
func (c *Catalogue) DecodeJSONEventForTest(raw []byte, fast bool, maxBytes int) (key string, t EventType, payload []byte, rej *ingestv1.Rejection, tookFast bool) {
	var x jsonDecoded
	if fast {
		x = c.decodeJSON(raw)
	} else {
		x = c.decodeJSONSlow(raw)
	}
	key = x.event.GetIdempotencyKey()
	if x.rejection != nil {
		return key, t, nil, x.rejection, x.data != nil
	}
	d := c.validateExpanded(x, maxBytes)
	if d.rejection != nil {
		return key, d.typ, nil, d.rejection, x.data != nil
	}
	if d.asReceived {
		payload = d.payload
	} else {
		payload, _ = proto.MarshalOptions{Deterministic: true}.Marshal(d.msg)
	}
	return key, d.typ, payload, nil, x.data != nil
}

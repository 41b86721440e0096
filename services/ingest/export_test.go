package ingest

import (
	"context"
	"time"

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

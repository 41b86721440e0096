package ingest

import (
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// Decode exposes decode to the external tests: the event version (zero when
// unresolved), the message when valid, the bytes a dead letter keeps, and
// the rejection when invalid.
func (c *Catalogue) Decode(ev *ingestv1.Event, maxBytes int) (EventType, *dynamicpb.Message, []byte, *ingestv1.Rejection) {
	d := c.decode(ev, maxBytes)
	return d.typ, d.msg, d.original, d.rejection
}

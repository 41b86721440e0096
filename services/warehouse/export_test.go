package warehouse

import (
	"time"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
)

// DecodeRow exposes decodeRow to the benchmarks (the lake writer alone).
func (t *Table) DecodeRow(rec *busv1.EventRecord, seq uint64) (Row, error) {
	return t.decodeRow(rec, seq, time.Time{})
}

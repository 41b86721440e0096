package warehouse

import (
	"time"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
)

// DecodeRow exposes decodeRow to the benchmarks (the lake writer alone).
func (t *Table) DecodeRow(rec *busv1.EventRecord, seq uint64) (Row, error) {
	return t.decodeRow(rec, seq, time.Time{})
}

// DecodeRowDynamic decodes as DecodeRow, always as a dynamic message (the
// way the wire plans are held to).
func (t *Table) DecodeRowDynamic(rec *busv1.EventRecord, seq uint64) (Row, error) {
	c := *t
	c.dynamicOnly = true
	return c.decodeRow(rec, seq, time.Time{})
}

// HasWirePlan reports whether the version is decoded by a wire plan.
func (t *Table) HasWirePlan(version uint32) bool {
	vl := t.versions[version]
	return vl != nil && vl.plan != nil
}

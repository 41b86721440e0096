package ingest

import "time"

// Usage is one verdict to count: per minute, environment, event version,
// app version, status and rejection reason.
type Usage struct {
	At          time.Time
	Environment string
	EventID     uint32
	Version     uint32
	AppVersion  string
	// "accepted" or "rejected"; duplicates are not counted.
	Status string
	// Rejection reason code, e.g. "REJECT_REASON_MISSING_REQUIRED_FIELD".
	Reason string
}

// UsageRecorder counts verdicts; it must not block SendBatch.
type UsageRecorder interface {
	Record(u Usage)
}

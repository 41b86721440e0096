package registry

// UsageStore keeps per-minute usage counts and answers stats and deviations.
type UsageStore interface{}

// Package awards turns the event stream into achievements: objectives,
// counters, strategies and each user's progress.
//
// It must not import another service (registry, ingest) or platform: it reads
// events from the bus and schemas from the registry's gRPC API
// (layering.txt).
package awards

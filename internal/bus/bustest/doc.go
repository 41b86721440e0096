// Package bustest gives tests a real bus: an embedded, in-process NATS server with
// JetStream and the clickstream streams.
//
// Test plumbing: imported by tests only; it knows no service.
package bustest

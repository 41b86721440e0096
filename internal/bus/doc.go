// Package bus is the event bus of clickstream: NATS JetStream, embedded in-process by default
// (file store under the data dir) or an external NATS cluster.
//
// It owns the three streams (EVENTS, DEADLETTER, AWARDS), the subject naming of events and
// the batched, acknowledged publishing that ingest relies on: a batch is reported stored only
// after JetStream acknowledged every message, and Nats-Msg-Id makes retries dedupe.
//
// On a NATS cluster the streams are replicated (StreamsConfig.Replicas): Open raises their
// replicas and loosens their limits, but never lowers what an operator gave them, or leaves
// them entirely to the operator and only checks them. LocalCluster runs a cluster in-process
// for `clickstream dev --cluster` and the tests.
//
// Plumbing: it knows no service (see layering.txt); it carries
// clickstream.bus.v1.EventRecord bytes and stream settings, not their
// meaning.
package bus

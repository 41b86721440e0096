// Package cluster holds the scale-out tests of the platform, in-process: a 3-node NATS
// JetStream cluster with the streams at three replicas, one registry and several ingest
// instances on a shared PostgreSQL. The acceptance test shuts down the node leading the
// EVENTS stream under load and counts what the streams hold at the end: every accepted
// event once, every rejected one dead-lettered, nothing else. The benchmark compares the
// ingest throughput of one and two instances.
//
// The test takes about a minute and is skipped with -short.
package cluster

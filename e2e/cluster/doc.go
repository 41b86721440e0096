// Package cluster holds the scale-out tests of the platform, in-process: a 3-node NATS
// JetStream cluster with the streams at three replicas, one registry and several ingest
// instances on a shared PostgreSQL (each a harness.Stack). The acceptance test shuts down
// the node leading the EVENTS stream under load — a harness.Sender spreads the batches over
// two ingest instances and retries with client/ingestclient's policy — and counts what the
// streams hold at the end: every accepted event once, every rejected one dead-lettered,
// nothing else. TestPostgresFailover stops the PostgreSQL primary, promotes its streaming
// replica and sees registry, ingest and awards carry on without a restart, on a multi-host
// URL with target_session_attrs=read-write. The benchmark compares the ingest throughput of
// one and two instances.
//
// The test takes about a minute and is skipped with -short; `make cluster-test` runs it.
//
// Imports: e2e/harness, platform, internal/bus (and bustest for the cluster), and the
// generated clients; never another e2e test package. Nothing imports this package.
package cluster

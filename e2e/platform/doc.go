// Package platform holds the end-to-end tests of the composition root: the
// whole platform (or a part of it, as `clickstream serve` runs it) started
// in-process with platform.Start through harness.StartStack, on free ports and
// a fresh data directory, and driven over gRPC, Connect and REST — every
// service three ways, conservation of events, reject reasons, API keys and
// PII, edges of every route family, langpacks fetched by real toolchains,
// awards on several instances, reads from a replica, restarts.
//
// Most tests start PostgreSQL and NATS and are skipped with -short.
//
// Imports: e2e/harness, platform, internal/ plumbing (bus, postgres, server),
// the services' public configuration, and the generated clients; never
// another e2e test package. Nothing imports this package.
package platform

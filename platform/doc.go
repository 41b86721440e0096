// Package platform is Clickstream's composition root: it builds registry,
// ingest and awards from configuration, with PostgreSQL and NATS
// JetStream, and runs them — all of them in one process for `clickstream
// dev` and the end-to-end tests, or one of them for `clickstream serve
// <service>`. It is the one package that imports every service; nothing
// under internal/ imports it or any service (see layering.txt).
//
// It is the one package that imports every service (the composition root); it
// must not import cmd/ or e2e/, and nothing under internal/ or services/
// imports it.
package platform

// Package faults holds the process-level fault tests of the platform: the
// shipped binary runs as a child process (`clickstream dev`, harness.Dev), a
// harness.Sender sends events with unique idempotency keys through
// client/ingestclient and its retry policy, and the tests kill the process
// with SIGKILL or stop its PostgreSQL mid-load. At the end they count what is
// on the bus and in the database: nothing lost, nothing twice. The awards load
// test checks that every user's progress equals what the test computes from
// what it sent. The abuse suite (TestAbuse) sends what an attacker would —
// gzip bombs and oversized bodies to every service on every protocol, a
// Fluent frame nested millions deep, a redirecting webhook receiver, console
// path tricks, crafted JWTs — and holds the process to a memory bound,
// alive and ready.
//
// The tests are slow (about a minute each) and skipped with -short; `make
// faults` runs only them, `make test` runs them with everything else.
//
// Imports: e2e/harness, the generated clients, and internal/postgres to stop
// a PostgreSQL; never another e2e test package. Nothing imports this package.
package faults

// Package faults holds the process-level fault tests of the platform: the
// shipped binary runs as a child process (`clickstream dev`), a client of the
// tests' own sends events with unique idempotency keys and retries, and the
// tests kill the process with SIGKILL or stop its PostgreSQL mid-load. At
// the end they count what is on the bus and in the database: nothing lost,
// nothing twice.
//
// The tests are slow (about a minute each) and skipped with -short; `make
// faults` runs only them, `make test` runs them with everything else.
package faults

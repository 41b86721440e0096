// Package migrations holds the warehouse's PostgreSQL migrations (schema
// "warehouse"), embedded in the binary and applied by `clickstream migrate`.
// The per-event tables themselves are created by the loader as event
// versions arrive.
//
// It imports nothing of ours.
package migrations

// Package migrations holds ingest's PostgreSQL migrations (schema
// "ingest"), embedded in the binary and applied by `clickstream migrate`.
//
// It imports nothing of ours.
package migrations

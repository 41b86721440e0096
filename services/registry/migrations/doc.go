// Package migrations holds the registry's PostgreSQL migrations (schema
// "registry"), embedded in the binary and applied by `clickstream migrate`.
//
// It imports nothing of ours.
package migrations

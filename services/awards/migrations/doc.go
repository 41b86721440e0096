// Package migrations holds the awards service's PostgreSQL migrations
// (schema "awards"), embedded in the binary and applied by `clickstream migrate`.
//
// It imports nothing of ours.
package migrations

// Package migrations holds the registry's PostgreSQL migrations (schema
// "registry"), embedded in the binary and applied by `clickstream migrate`.
package migrations

import "embed"

// FS holds the numbered goose SQL migrations.
//
//go:embed *.sql
var FS embed.FS

// Schema is the PostgreSQL schema the registry owns.
const Schema = "registry"

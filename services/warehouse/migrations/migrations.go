package migrations

import "embed"

// FS holds the numbered goose SQL migrations.
//
//go:embed *.sql
var FS embed.FS

// Schema is the PostgreSQL schema the warehouse owns.
const Schema = "warehouse"

package migrations

import "embed"

// FS holds the numbered goose SQL migrations.
//
//go:embed *.sql
var FS embed.FS

// Schema is the PostgreSQL schema ingest owns.
const Schema = "ingest"

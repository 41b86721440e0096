// Package warehouse loads every accepted event into typed tables: one
// PostgreSQL table per event (schema "warehouse"), a column per field across
// all versions of the event, and optionally the same rows as Parquet files in
// a lake directory for engines beyond PostgreSQL.
//
// The Loader is a durable consumer of the EVENTS stream; it reads event
// schemas from the registry over gRPC (RegistrySchemas), adds a version's
// columns before its first row, writes each batch in one transaction (COPY
// into a staging table, INSERT … ON CONFLICT DO NOTHING) and acknowledges
// only after the commit and, with a lake, after the Parquet files holding the
// batch are renamed into place.
//
// It imports no other service: it talks to the registry over gRPC and reads
// the bus.
package warehouse

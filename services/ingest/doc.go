// Package ingest takes events in: it validates each against its registered
// message, answers one verdict per event, publishes accepted events to the
// bus before answering, and keeps rejected ones in the dead-letter stream.
//
// It must not import another service (registry, awards) or platform: it reads
// the catalogue from the registry's gRPC API and writes to the bus
// (layering.txt); only its tests use services/registry/schema to compile
// fixture catalogues.
package ingest

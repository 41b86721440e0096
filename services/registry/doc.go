// Package registry is the catalogue of event schemas: events, their immutable
// versions, and the revisions that registered them.
//
// It must not import another service (ingest, awards) or platform
// (layering.txt).
package registry

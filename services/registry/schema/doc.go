// Package schema compiles event schemas at run time and enforces the version
// discipline of the event catalogue: every message carrying the
// (clickstream.options.v1.event) option is one version of an event, a
// published version is frozen (its fingerprint never changes) and never
// removed, and every change is a new version.
//
// The CLI (`clickstream schema check|lock`) compiles the repo's proto/ with
// Compile and compares it with proto/events.lock; the registry builds a Set
// from a pushed FileDescriptorSet with NewSet and runs the same checks.
//
// It is part of the registry service and must not import another service or
// platform.
package schema

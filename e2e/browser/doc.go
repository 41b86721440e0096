// Package browser drives the web console in headless Chromium against a
// real dev stack (PostgreSQL, NATS JetStream, registry, ingest and awards in
// process): the acceptance flows of issue 12, with a screenshot of every page.
package browser

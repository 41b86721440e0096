// Package browser drives the web console in headless Chromium against a
// real dev stack (PostgreSQL, NATS JetStream, registry, ingest and awards in
// process, a harness.Stack): the acceptance flows of issue 12, with a
// screenshot of every page, and a shop page on another origin sending with
// the TypeScript langpack and a browser key (fetch, then a beacon).
//
// Imports: e2e/harness, platform, the services' public configuration and
// schema packages, and chromedp; never another e2e test package. Nothing
// imports this package.
package browser

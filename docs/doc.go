// Package docs holds the documentation pages of Clickstream (one Markdown
// file per subsystem, linked from the README) and the test that keeps their
// examples true: examples_test.go runs every ```sh block marked
// `<!-- run: NAME -->` against a `clickstream dev` it starts, and checks that
// every page is linked and every relative link resolves. See
// development.md, "Examples in these docs are tested".
//
// The package has no code of its own and must not be imported.
package docs

package protosrc

import "embed"

// FS is the starter catalogue embedded in the binary so `clickstream dev` works
// from any directory. Its root holds the proto import root (clickstream/...)
// and events.lock, the fingerprints of published event versions.
//
//go:embed clickstream events.lock
var FS embed.FS

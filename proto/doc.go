// Package protosrc holds the starter event catalogue: the proto sources under
// clickstream/ and the fingerprint lock events.lock, embedded in the binary so
// `clickstream dev` works from any directory.
//
// It imports nothing of ours.
package protosrc

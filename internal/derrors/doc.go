// Package derrors wraps errors with the operation that failed, once, at the
// top of a function (as pkgsite's internal/derrors does). It is plumbing:
// it knows no service and no driver.
//
// Plumbing: it imports only the standard library.
package derrors

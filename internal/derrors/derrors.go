package derrors

import "fmt"

// Wrap prefixes a non-nil *errp with the operation that failed, formatted
// from format and args. Functions defer it once at the top so that every
// return path names the operation and its key arguments:
//
//	defer derrors.Wrap(&err, "save achievement %q", id)
//
// errors.Is and errors.As still see the wrapped error. Every service's
// store wraps its errors with it.
func Wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf(format+": %w", append(args, *errp)...)
	}
}

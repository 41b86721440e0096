package postgres

import "fmt"

// wrap prefixes a non-nil *errp with the operation that failed. Exported functions defer it
// once at the top so that every return path names the operation and its key arguments.
func wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf(format+": %w", append(args, *errp)...)
	}
}

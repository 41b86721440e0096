package awards

import "errors"

// ErrNotFound is returned (wrapped) for an achievement, user, backfill or
// other entity that does not exist; the APIs answer NotFound.
var ErrNotFound = errors.New("not found")

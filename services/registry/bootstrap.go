package registry

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// RegisterSet registers every event version of a compiled schema set that
// the catalogue does not have yet, in one revision, as a push does: a set
// that breaks a version rule fails with a *RejectedError listing every
// violation. A registry registers the catalogue it was built with at start,
// which may be older than what was pushed to it since: a set that only
// lacks registered versions, and adds none, registers nothing and is not an
// error.
func RegisterSet(ctx context.Context, store Store, set *schema.Set, author, message string) (RegisterResult, error) {
	fds, err := proto.MarshalOptions{Deterministic: true}.Marshal(set.FileDescriptorSet())
	if err != nil {
		return RegisterResult{}, fmt.Errorf("encode descriptor set: %w", err)
	}
	res, err := pushSchemas(ctx, store, pushRequest{
		set:           set,
		descriptorSet: fds,
		author:        author,
		message:       message,
		behindIsFine:  true,
	})
	if err != nil {
		return RegisterResult{}, err
	}
	return RegisterResult{Revision: res.Revision, Added: res.Added}, nil
}

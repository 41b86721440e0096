package registry

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// RegisterSet registers every event version of a compiled schema set that
// the catalogue does not have yet, in one revision. The set must pass the
// catalogue-shape checks first; violations are returned as one error that
// lists them all.
func RegisterSet(ctx context.Context, store Store, set *schema.Set, author, message string) (RegisterResult, error) {
	versions, violations := set.Events()
	if len(violations) > 0 {
		lines := make([]string, len(violations))
		for i, v := range violations {
			lines[i] = v.Error()
		}
		return RegisterResult{}, &ConflictError{Problems: lines}
	}
	fds, err := proto.MarshalOptions{Deterministic: true}.Marshal(set.FileDescriptorSet())
	if err != nil {
		return RegisterResult{}, fmt.Errorf("encode descriptor set: %w", err)
	}
	reg := Registration{Author: author, Message: message, DescriptorSet: fds}
	for _, v := range versions {
		reg.Versions = append(reg.Versions, NewVersion{
			EventID:     v.ID,
			Version:     v.Version,
			EventName:   v.Name,
			MessageName: v.MessageName,
			Description: strings.TrimSpace(v.Description),
			Fingerprint: v.Fingerprint,
		})
	}
	return store.Register(ctx, reg)
}

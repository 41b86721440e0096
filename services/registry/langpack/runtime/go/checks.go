package sender

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// ValidationError says which required field of which event is missing.
type ValidationError struct {
	Event   string // message name, e.g. "ItemViewV2"
	ID      uint32
	Version uint32
	Field   string // path of the field, e.g. "context.user_id"
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s (event %d v%d): required field %s is not set (required means present and not the zero value)", e.Event, e.ID, e.Version, e.Field)
}

// EventInfo describes an event version of this langpack.
type EventInfo struct {
	ID          uint32
	Version     uint32
	MessageName string
	Description string
	Deprecated  bool
	OwnerTeam   string
	validate    func(proto.Message) error
}

// Validate checks that every required field of m is set.
func (e EventInfo) Validate(m proto.Message) error { return e.validate(m) }

// asEvent returns m as this langpack's Go type T: m itself, or a copy
// through the wire form when m is the same event version generated
// elsewhere (another environment's langpack, or the project's gen/go), so
// that an event built with those types is checked, and sent, here too.
func asEvent[T proto.Message](m proto.Message) (T, error) {
	if v, ok := m.(T); ok {
		return v, nil
	}
	var zero T
	v, ok := zero.ProtoReflect().Type().New().Interface().(T)
	if !ok {
		return zero, fmt.Errorf("%T cannot make a new %T", zero, zero)
	}
	b, err := proto.Marshal(m)
	if err == nil {
		err = proto.Unmarshal(b, v)
	}
	if err != nil {
		return zero, fmt.Errorf("check %s (Go type %T) as this langpack's %T: %w", m.ProtoReflect().Descriptor().FullName(), m, v, err)
	}
	return v, nil
}

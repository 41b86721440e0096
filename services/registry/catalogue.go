// Package registry is the catalogue of event schemas: events, their immutable
// versions, and the revisions that registered them.
package registry

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by the store when a requested event does not exist.
var ErrNotFound = errors.New("not found")

// Event is one registered event and all of its versions, oldest first.
type Event struct {
	ID          uint32
	Name        string
	Description string
	Versions    []EventVersion
}

// EventVersion is one immutable version of an event.
type EventVersion struct {
	EventID     uint32
	Version     uint32
	MessageName string
	Description string
	Fingerprint string
	Status      Lifecycle
	Revision    uint64
	CreatedAt   time.Time
}

// Lifecycle is the status of an event version: active, deprecated or
// retired. Retired versions are kept forever.
type Lifecycle string

// Lifecycle statuses.
const (
	LifecycleActive     Lifecycle = "active"
	LifecycleDeprecated Lifecycle = "deprecated"
	LifecycleRetired    Lifecycle = "retired"
)

// Registration is a set of event versions to register in one revision.
type Registration struct {
	Author  string
	Message string
	// DescriptorSet is the serialized FileDescriptorSet the versions come from.
	DescriptorSet []byte
	Versions      []NewVersion
}

// NewVersion is an event version as compiled from a schema push.
type NewVersion struct {
	EventID     uint32
	Version     uint32
	EventName   string
	MessageName string
	Description string
	Fingerprint string
}

// RegisterResult says what a registration changed.
type RegisterResult struct {
	// Revision is the catalogue revision after the registration; unchanged
	// when nothing was new.
	Revision uint64
	// Added lists the versions registered now ("ItemViewV2").
	Added []string
}

// EventFilter narrows ListEvents.
type EventFilter struct {
	// Text matches names and descriptions, case-insensitively.
	Text string
}

// Store keeps the registry's state: the catalogue and, in their own files,
// environments, governance, usage and revision notifications.
type Store interface {
	EnvironmentStore
	GovernanceStore
	UsageStore
	RevisionWatcher

	// Register adds the versions not yet registered under a new revision. A
	// version already registered with another fingerprint, a new version
	// that is not last+1, or an id registered under another name fails the
	// whole registration with a *ConflictError; nothing is stored then.
	Register(ctx context.Context, r Registration) (RegisterResult, error)
	// ListEvents returns matching events and the current revision.
	ListEvents(ctx context.Context, f EventFilter) ([]Event, uint64, error)
	// GetEvent returns one event or ErrNotFound.
	GetEvent(ctx context.Context, id uint32) (Event, error)
}

// ConflictError lists why a registration was refused, one line per problem.
type ConflictError struct {
	Problems []string
}

func (e *ConflictError) Error() string {
	msg := "registration refused:"
	for _, p := range e.Problems {
		msg += "\n  " + p
	}
	return msg
}

package registry

import (
	"context"
	"errors"
	"time"

	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// ErrNotFound is returned by the store when a requested event does not exist.
var ErrNotFound = errors.New("not found")

// ErrCatalogueMoved is returned by Register when a push has been stored
// since the revision the registration was checked against: check it again.
var ErrCatalogueMoved = errors.New("the catalogue changed since the registration was checked")

// Event is one registered event and all of its versions, oldest first.
type Event struct {
	ID          uint32
	Name        string
	Description string
	Versions    []EventVersion
	// Owner is the team answerable for the event; zero until one is set.
	Owner Owner
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
	// DocsRevision is the push that last changed the version's
	// documentation (descriptions, pii, required), Revision when none did.
	DocsRevision uint64
	CreatedAt    time.Time
	// Environments allowed to send the version, by name.
	Environments []string
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

// Revisions are the catalogue's two revision counters.
type Revisions struct {
	// Current is the newest revision of any kind: a push, or a metadata
	// change (access, lifecycle, owner). Caches are labelled with it.
	Current uint64
	// Push is the newest revision that stored descriptors. Every push
	// holds every registered version, so its descriptor set declares the
	// whole catalogue. 0 when nothing was ever pushed.
	Push uint64
}

// Registration is a set of event versions to register in one revision.
type Registration struct {
	Author  string
	Message string
	// DescriptorSet is the serialized FileDescriptorSet the versions come
	// from; it must declare every registered version too.
	DescriptorSet []byte
	Versions      []NewVersion
	// Documented are registered versions whose documentation the push
	// changes, shape unchanged: their description is updated and their
	// documentation revision becomes the new revision.
	Documented []DocumentedVersion
	// Base is the push revision (Revisions.Push) the registration was
	// checked against. Register refuses with ErrCatalogueMoved when another
	// push has been stored since.
	Base uint64
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

// DocumentedVersion is a registered version whose documentation a push
// changes.
type DocumentedVersion struct {
	EventID     uint32
	Version     uint32
	MessageName string
	// Description is the version's new description.
	Description string
	// Changes are what changed, as the audit records them.
	Changes []schema.DocChange
}

// RegisterResult says what a registration changed.
type RegisterResult struct {
	// Revision is the catalogue revision after the registration; unchanged
	// when nothing was new.
	Revision uint64
	// Added lists the versions registered now ("ItemViewV2").
	Added []string
	// Documented lists the registered versions whose documentation changed
	// now ("ItemViewV1").
	Documented []string
}

// EventFilter narrows ListEvents; zero fields do not filter.
type EventFilter struct {
	// Text matches names and descriptions, case-insensitively.
	Text string
	// Environment keeps events with a version the environment may send.
	// An environment that does not exist is ErrNotFound.
	Environment string
	// OwnerTeam keeps events owned by the team (any case).
	OwnerTeam string
	// Status keeps events with a version in the status.
	Status Lifecycle
}

// Store keeps the registry's state: the catalogue and, in their own files,
// environments, governance, usage and revision notifications.
type Store interface {
	EnvironmentStore
	GovernanceStore
	UsageStore
	RevisionWatcher
	LangpackStore

	// Register adds the versions not yet registered, and the documentation
	// of r.Documented, under a new revision, audited as a push,
	// if the catalogue is still at r.Base (else ErrCatalogueMoved). A
	// version already registered with another fingerprint, a new version
	// that is not last+1, or an id registered under another name fails the
	// whole registration with a *ConflictError; nothing is stored then.
	Register(ctx context.Context, r Registration) (RegisterResult, error)
	// Catalogue returns every event with all its versions, and the
	// revisions they are as of, from one snapshot.
	Catalogue(ctx context.Context) ([]Event, Revisions, error)
	// ListEvents returns matching events, each with all its versions, and
	// the current revision.
	ListEvents(ctx context.Context, f EventFilter) ([]Event, uint64, error)
	// GetEvent returns one event or ErrNotFound.
	GetEvent(ctx context.Context, id uint32) (Event, error)
	// Revisions returns the catalogue's revision counters.
	Revisions(ctx context.Context) (Revisions, error)
	// Descriptors returns the parsed descriptor set a push revision stored,
	// or ErrNotFound. Stored descriptors never change, so the result is
	// shared and must not be modified.
	Descriptors(ctx context.Context, revision uint64) (*Descriptors, error)
	// AllowedVersions returns the versions an environment may send (every
	// version when environment is empty), sorted by event id and version,
	// and the revisions they are as of, from one snapshot. An environment
	// that does not exist is ErrNotFound.
	AllowedVersions(ctx context.Context, environment string) ([]EventVersion, Revisions, error)
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

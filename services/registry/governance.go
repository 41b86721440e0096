package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// Owner is the team answerable for an event.
type Owner struct {
	Team string
	// Contact says how to reach the team: a channel, an email, a rota.
	Contact   string
	UpdatedAt time.Time
}

// AuditEntry is one metadata change: who made it, when, and the state of
// the entity before and after.
type AuditEntry struct {
	ID    int64
	Actor string
	// Action is what was done: "create_environment", "set_access",
	// "set_owner" or "set_lifecycle".
	Action string
	// Entity is what changed: "environment:web", "event:2001",
	// "event:2001:v2".
	Entity string
	// Before and After are JSON documents; nil when there was no state.
	Before, After json.RawMessage
	At            time.Time
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	// Entity selects one entity, e.g. "event:2001:v2"; empty for all.
	Entity string
	// Limit is the most entries returned; 0 means DefaultAuditLimit and
	// anything above MaxAuditLimit means MaxAuditLimit.
	Limit int
}

// Audit list sizes.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// Audit actions.
const (
	actionCreateEnvironment = "create_environment"
	actionSetAccess         = "set_access"
	actionSetOwner          = "set_owner"
	actionSetLifecycle      = "set_lifecycle"
	// actionPush is a schema push that stored a revision (entity
	// "catalogue"); actionDocument a version's documentation it changed.
	actionPush     = "push"
	actionDocument = "document"
)

// GovernanceStore keeps owners, lifecycle and the audit of metadata
// changes. Every change writes its audit row in the transaction that makes
// it, and is a metadata revision of the catalogue, so watchers hear of it.
type GovernanceStore interface {
	// SetOwner makes o.Team (required) the owner of an event and returns
	// the owner now recorded. Setting the current owner again records
	// nothing.
	SetOwner(ctx context.Context, eventID uint32, o Owner, actor string) (Owner, error)
	// GetOwner returns the owner of an event, or ErrNotFound when the
	// event is unknown or has no owner yet.
	GetOwner(ctx context.Context, eventID uint32) (Owner, error)
	// SetLifecycle moves a version forward: active → deprecated → retired
	// (active → retired is allowed). Moving back is refused with an error
	// matching ErrLifecycleBackwards; setting the current status records
	// nothing. It returns the version after the change.
	SetLifecycle(ctx context.Context, eventID, version uint32, status Lifecycle, actor string) (EventVersion, error)
	// ListAudit returns audit entries, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// Errors of metadata changes, matched with errors.Is. The errors the store
// returns carry a message for the caller: which entity, which rule, what to
// do.
var (
	// ErrInvalid: the request breaks a rule (a name, a required value).
	ErrInvalid = errors.New("invalid request")
	// ErrAlreadyExists: the entity to create exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrLifecycleBackwards: a lifecycle change would move a version back.
	ErrLifecycleBackwards = errors.New("lifecycle only moves forward")
)

// metadataError is an error a caller can act on. It matches its kind (one
// of the errors above or ErrNotFound) with errors.Is.
type metadataError struct {
	kind error
	msg  string
}

func (e *metadataError) Error() string        { return e.msg }
func (e *metadataError) Is(target error) bool { return target == e.kind }

func invalidf(format string, args ...any) error {
	return &metadataError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &metadataError{kind: ErrNotFound, msg: fmt.Sprintf(format, args...)}
}

func existsf(format string, args ...any) error {
	return &metadataError{kind: ErrAlreadyExists, msg: fmt.Sprintf(format, args...)}
}

func backwardsf(format string, args ...any) error {
	return &metadataError{kind: ErrLifecycleBackwards, msg: fmt.Sprintf(format, args...)}
}

// checkActor refuses a change nobody signs.
func checkActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return invalidf("actor is required: say who makes the change, e.g. your handle or \"ci@payments\"; it is recorded in the audit")
	}
	return nil
}

// metadataErrorToConnect maps a store error to a Connect error whose message
// is the one meant for the caller.
func metadataErrorToConnect(err error) error {
	var me *metadataError
	if errors.As(err, &me) {
		code := connect.CodeInternal
		switch me.kind {
		case ErrInvalid:
			code = connect.CodeInvalidArgument
		case ErrNotFound:
			code = connect.CodeNotFound
		case ErrAlreadyExists:
			code = connect.CodeAlreadyExists
		case ErrLifecycleBackwards:
			code = connect.CodeFailedPrecondition
		}
		return connect.NewError(code, errors.New(me.msg))
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}

// lifecycleRank orders statuses: a version only moves to a higher rank.
func lifecycleRank(l Lifecycle) int {
	switch l {
	case LifecycleActive:
		return 0
	case LifecycleDeprecated:
		return 1
	case LifecycleRetired:
		return 2
	}
	return -1
}

// eventEntity is the audit entity of an event: "event:2001".
func eventEntity(id uint32) string { return fmt.Sprintf("event:%d", id) }

// versionEntity is the audit entity of an event version: "event:2001:v2".
// catalogueEntity is the audit entity of pushes.
const catalogueEntity = "catalogue"

func versionEntity(id, version uint32) string { return fmt.Sprintf("event:%d:v%d", id, version) }

// SetOwner implements RegistryAdminService.SetOwner.
func (a *AdminService) SetOwner(ctx context.Context, req *registryv1.SetOwnerRequest) (*registryv1.SetOwnerResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	if req.GetEventId() == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("event_id is required: pass the event's numeric id, e.g. 2001"))
	}
	owner, err := a.store.SetOwner(ctx, req.GetEventId(), Owner{
		Team:    strings.TrimSpace(req.GetOwner().GetTeam()),
		Contact: strings.TrimSpace(req.GetOwner().GetContact()),
	}, strings.TrimSpace(req.GetActor()))
	if err != nil {
		return nil, metadataErrorToConnect(err)
	}
	e, err := a.store.GetEvent(ctx, req.GetEventId())
	if err != nil {
		return nil, metadataErrorToConnect(err)
	}
	pe := eventToProto(e)
	pe.Owner = &registryv1.Owner{Team: owner.Team, Contact: owner.Contact}
	return &registryv1.SetOwnerResponse{Event: pe}, nil
}

// SetLifecycle implements RegistryAdminService.SetLifecycle.
func (a *AdminService) SetLifecycle(ctx context.Context, req *registryv1.SetLifecycleRequest) (*registryv1.SetLifecycleResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	if req.GetEventId() == 0 || req.GetVersion() == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("event_id and version are required: name one event version, e.g. event 2001 version 2"))
	}
	status, ok := requestedLifecycle(req.GetStatus())
	if !ok {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(
			"status %v is not a lifecycle status: use LIFECYCLE_STATUS_DEPRECATED or LIFECYCLE_STATUS_RETIRED", req.GetStatus()))
	}
	v, err := a.store.SetLifecycle(ctx, req.GetEventId(), req.GetVersion(), status, strings.TrimSpace(req.GetActor()))
	if err != nil {
		return nil, metadataErrorToConnect(err)
	}
	pe := eventToProto(Event{ID: v.EventID, Versions: []EventVersion{v}})
	return &registryv1.SetLifecycleResponse{Version: pe.GetVersions()[0]}, nil
}

// ListAudit implements RegistryAdminService.ListAudit.
func (a *AdminService) ListAudit(ctx context.Context, req *registryv1.ListAuditRequest) (*registryv1.ListAuditResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	if req.GetLimit() < 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(
			"limit %d is negative: pass 1 to %d, or 0 for %d", req.GetLimit(), MaxAuditLimit, DefaultAuditLimit))
	}
	entries, err := a.store.ListAudit(ctx, AuditFilter{Entity: strings.TrimSpace(req.GetEntity()), Limit: int(req.GetLimit())})
	if err != nil {
		return nil, metadataErrorToConnect(err)
	}
	resp := &registryv1.ListAuditResponse{}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, &registryv1.AuditEntry{
			Id:     e.ID,
			Actor:  e.Actor,
			Action: e.Action,
			Entity: e.Entity,
			Before: string(e.Before),
			After:  string(e.After),
			At:     timestamppb.New(e.At),
		})
	}
	return resp, nil
}

// requestedLifecycle is the status a SetLifecycle request asks for.
func requestedLifecycle(s registryv1.LifecycleStatus) (Lifecycle, bool) {
	switch s {
	case registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE:
		return LifecycleActive, true
	case registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED:
		return LifecycleDeprecated, true
	case registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED:
		return LifecycleRetired, true
	}
	return "", false
}

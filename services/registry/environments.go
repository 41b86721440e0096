package registry

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// Environment is a sending context — an app, a site, a backend, a partner —
// and the event versions it may send. Its langpack and its ingest keys are
// scoped to exactly those versions.
type Environment struct {
	Name        string
	Description string
	CreatedAt   time.Time
	// Allowed lists the versions the environment may send, by event id and
	// version.
	Allowed []EventVersionRef
}

// EventVersionRef names one event version.
type EventVersionRef struct {
	EventID     uint32
	Version     uint32
	MessageName string
}

// AccessChange allows or denies an event version in an environment.
type AccessChange struct {
	Environment string
	EventID     uint32
	// Version 0 means every registered version of the event.
	Version uint32
	Allowed bool
	// Actor is who makes the change, for the audit.
	Actor string
}

// EnvironmentStore keeps environments and the event versions each may send.
// Every change is audited and, when it alters what an environment may send,
// recorded as a metadata revision of the catalogue.
type EnvironmentStore interface {
	// CreateEnvironment adds an environment that may send nothing yet. A
	// name breaking the naming rule is refused (errors.Is ErrInvalid), a
	// taken one too (errors.Is ErrAlreadyExists).
	CreateEnvironment(ctx context.Context, name, description, actor string) (Environment, error)
	// ListEnvironments returns every environment with what it may send,
	// by name.
	ListEnvironments(ctx context.Context) ([]Environment, error)
	// GetEnvironment returns one environment or ErrNotFound.
	GetEnvironment(ctx context.Context, name string) (Environment, error)
	// SetEventAccess allows or denies an event version (or all versions of
	// an event) in an environment and returns the environment after the
	// change. Allowing what is allowed and denying what is not change
	// nothing and record nothing.
	SetEventAccess(ctx context.Context, c AccessChange) (Environment, error)
}

// environmentName is the rule of registry.environments.name.
var environmentName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// checkEnvironmentName says what is wrong with an environment name, if anything.
func checkEnvironmentName(name string) error {
	if environmentName.MatchString(name) {
		return nil
	}
	return invalidf("environment name %q breaks the naming rule: use 1 to 63 characters of a-z, 0-9, '_' and '-', "+
		"starting with a letter or digit, e.g. \"web\", \"ios\" or \"partner-tickets\"", name)
}

// environmentEntity is the audit entity of an environment: "environment:web".
func environmentEntity(name string) string { return "environment:" + name }

// ListEnvironments implements RegistryService.ListEnvironments.
func (s *Service) ListEnvironments(ctx context.Context, _ *registryv1.ListEnvironmentsRequest) (*registryv1.ListEnvironmentsResponse, error) {
	envs, err := s.store.ListEnvironments(ctx)
	if err != nil {
		return nil, metadataErrorToConnect(err)
	}
	resp := &registryv1.ListEnvironmentsResponse{}
	for _, e := range envs {
		resp.Environments = append(resp.Environments, environmentToProto(e))
	}
	return resp, nil
}

// GetEnvironment implements RegistryService.GetEnvironment.
func (s *Service) GetEnvironment(ctx context.Context, req *registryv1.GetEnvironmentRequest) (*registryv1.GetEnvironmentResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(req.GetName())
	if name == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("name is required: pass the environment's name, e.g. \"web\"; list them with GET /v1/environments"))
	}
	e, err := s.store.GetEnvironment(ctx, name)
	if err != nil {
		return nil, metadataErrorToConnect(err)
	}
	return &registryv1.GetEnvironmentResponse{Environment: environmentToProto(e)}, nil
}

// CreateEnvironment implements RegistryAdminService.CreateEnvironment.
func (a *AdminService) CreateEnvironment(ctx context.Context, req *registryv1.CreateEnvironmentRequest) (*registryv1.CreateEnvironmentResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	e, err := a.store.CreateEnvironment(ctx, req.GetName(), strings.TrimSpace(req.GetDescription()), strings.TrimSpace(req.GetActor()))
	if err != nil {
		return nil, metadataErrorToConnect(err)
	}
	return &registryv1.CreateEnvironmentResponse{Environment: environmentToProto(e)}, nil
}

// SetEventAccess implements RegistryAdminService.SetEventAccess.
func (a *AdminService) SetEventAccess(ctx context.Context, req *registryv1.SetEventAccessRequest) (*registryv1.SetEventAccessResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	e, err := a.store.SetEventAccess(ctx, AccessChange{
		Environment: strings.TrimSpace(req.GetEnvironment()),
		EventID:     req.GetEventId(),
		Version:     req.GetVersion(),
		Allowed:     req.GetAllowed(),
		Actor:       strings.TrimSpace(req.GetActor()),
	})
	if err != nil {
		return nil, metadataErrorToConnect(err)
	}
	return &registryv1.SetEventAccessResponse{Environment: environmentToProto(e)}, nil
}

func environmentToProto(e Environment) *registryv1.Environment {
	pe := &registryv1.Environment{
		Name:        e.Name,
		Description: e.Description,
		CreatedAt:   timestamppb.New(e.CreatedAt),
	}
	for _, v := range e.Allowed {
		pe.Allowed = append(pe.Allowed, &registryv1.EventVersionRef{EventId: v.EventID, Version: v.Version, MessageName: v.MessageName})
	}
	return pe
}

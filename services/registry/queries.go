package registry

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// ListEvents implements RegistryService.ListEvents.
func (s *Service) ListEvents(ctx context.Context, req *registryv1.ListEventsRequest) (*registryv1.ListEventsResponse, error) {
	events, revision, err := s.store.ListEvents(ctx, EventFilter{Text: req.GetText()})
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	resp := &registryv1.ListEventsResponse{Revision: revision}
	for _, e := range events {
		resp.Events = append(resp.Events, eventToProto(e))
	}
	return resp, nil
}

// GetEvent implements RegistryService.GetEvent.
func (s *Service) GetEvent(ctx context.Context, req *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error) {
	if req.GetEventId() == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("event_id is required: pass the event's numeric id, e.g. 2001"))
	}
	e, err := s.store.GetEvent(ctx, req.GetEventId())
	if errors.Is(err, ErrNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("event %d is not registered; list events with GET /v1/events", req.GetEventId()))
	}
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return &registryv1.GetEventResponse{Event: eventToProto(e)}, nil
}

func eventToProto(e Event) *registryv1.Event {
	pe := &registryv1.Event{Id: e.ID, Name: e.Name, Description: e.Description}
	for _, v := range e.Versions {
		pe.Versions = append(pe.Versions, &registryv1.EventVersion{
			EventId:     v.EventID,
			Version:     v.Version,
			MessageName: v.MessageName,
			Description: v.Description,
			Fingerprint: v.Fingerprint,
			Status:      lifecycleToProto(v.Status),
			Revision:    v.Revision,
			CreatedAt:   timestamppb.New(v.CreatedAt),
		})
	}
	return pe
}

func lifecycleToProto(l Lifecycle) registryv1.LifecycleStatus {
	switch l {
	case LifecycleActive:
		return registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE
	case LifecycleDeprecated:
		return registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED
	case LifecycleRetired:
		return registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED
	}
	return registryv1.LifecycleStatus_LIFECYCLE_STATUS_UNSPECIFIED
}

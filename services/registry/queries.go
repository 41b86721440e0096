package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// ListEvents implements RegistryService.ListEvents.
func (s *Service) ListEvents(ctx context.Context, req *registryv1.ListEventsRequest) (*registryv1.ListEventsResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	f := EventFilter{
		Text:        strings.TrimSpace(req.GetText()),
		Environment: strings.TrimSpace(req.GetEnvironment()),
		OwnerTeam:   strings.TrimSpace(req.GetOwnerTeam()),
	}
	if req.GetStatus() != registryv1.LifecycleStatus_LIFECYCLE_STATUS_UNSPECIFIED {
		status, ok := requestedLifecycle(req.GetStatus())
		if !ok {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(
				"status %v is not a lifecycle status: use LIFECYCLE_STATUS_ACTIVE, LIFECYCLE_STATUS_DEPRECATED or LIFECYCLE_STATUS_RETIRED", req.GetStatus()))
		}
		f.Status = status
	}
	events, revision, err := s.reads.ListEvents(ctx, f)
	if errors.Is(err, ErrNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf(
			"environment %q does not exist; list environments with GET /v1/environments", f.Environment))
	}
	if err != nil {
		return nil, catalogueError(err)
	}
	resp := &registryv1.ListEventsResponse{Revision: revision}
	for _, e := range events {
		resp.Events = append(resp.Events, eventToProto(e))
	}
	return resp, nil
}

// GetEvent implements RegistryService.GetEvent.
func (s *Service) GetEvent(ctx context.Context, req *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	e, err := s.event(ctx, req.GetEventId())
	if err != nil {
		return nil, err
	}
	d, err := s.findDescriptors(ctx)
	if err != nil {
		return nil, err
	}
	pe := eventToProto(e)
	for i, v := range e.Versions {
		md, err := versionMessage(ctx, d, v)
		if err != nil {
			return nil, err
		}
		documentVersion(pe.Versions[i], md)
	}
	return &registryv1.GetEventResponse{Event: pe}, nil
}

// GetEventVersion implements RegistryService.GetEventVersion.
func (s *Service) GetEventVersion(ctx context.Context, req *registryv1.GetEventVersionRequest) (*registryv1.GetEventVersionResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	e, err := s.event(ctx, req.GetEventId())
	if err != nil {
		return nil, err
	}
	v, err := versionOf(e, req.GetVersion(), "version")
	if err != nil {
		return nil, err
	}
	d, err := s.findDescriptors(ctx)
	if err != nil {
		return nil, err
	}
	md, err := versionMessage(ctx, d, v)
	if err != nil {
		return nil, err
	}
	pv := versionProto(v)
	documentVersion(pv, md)
	return &registryv1.GetEventVersionResponse{Version: pv, Owner: ownerProto(e.Owner)}, nil
}

// DiffVersions implements RegistryService.DiffVersions.
func (s *Service) DiffVersions(ctx context.Context, req *registryv1.DiffVersionsRequest) (*registryv1.DiffVersionsResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	e, err := s.event(ctx, req.GetEventId())
	if err != nil {
		return nil, err
	}
	from, err := versionOf(e, req.GetFromVersion(), "from_version")
	if err != nil {
		return nil, err
	}
	to, err := versionOf(e, req.GetToVersion(), "to_version")
	if err != nil {
		return nil, err
	}
	d, err := s.findDescriptors(ctx)
	if err != nil {
		return nil, err
	}
	old, err := versionMessage(ctx, d, from)
	if err != nil {
		return nil, err
	}
	updated, err := versionMessage(ctx, d, to)
	if err != nil {
		return nil, err
	}
	return &registryv1.DiffVersionsResponse{Changes: diffVersions(old, updated)}, nil
}

// diffVersions lists the shape differences between two versions of an
// event, leaving out the difference of their names (…V1, …V2), which every
// two versions have.
func diffVersions(old, updated protoreflect.MessageDescriptor) []string {
	renamed := fmt.Sprintf("message renamed from %s to %s", old.FullName(), updated.FullName())
	changes := schema.DiffMessages(old, updated)
	return slices.DeleteFunc(changes, func(c string) bool { return c == renamed })
}

// event returns one event, or a Connect error a caller can act on.
func (s *Service) event(ctx context.Context, id uint32) (Event, error) {
	if id == 0 {
		return Event{}, connect.NewError(connect.CodeInvalidArgument, errors.New("event_id is required: pass the event's numeric id, e.g. 2001"))
	}
	e, err := s.reads.GetEvent(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Event{}, connect.NewError(connect.CodeNotFound, fmt.Errorf("event %d is not registered; list events with GET /v1/events", id))
	}
	if err != nil {
		return Event{}, catalogueError(err)
	}
	return e, nil
}

// versionOf returns version n of e, or a Connect error naming the request
// field and the versions e has.
func versionOf(e Event, n uint32, field string) (EventVersion, error) {
	var have []string
	for _, v := range e.Versions {
		if v.Version == n {
			return v, nil
		}
		have = append(have, fmt.Sprint(v.Version))
	}
	if n == 0 {
		return EventVersion{}, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(
			"%s is required: event %d %s has versions %s", field, e.ID, e.Name, strings.Join(have, ", ")))
	}
	return EventVersion{}, connect.NewError(connect.CodeNotFound, fmt.Errorf(
		"%s: event %d %s has no version %d; its versions are %s", field, e.ID, e.Name, n, strings.Join(have, ", ")))
}

// findDescriptors returns where the descriptors of registered versions are
// found.
func (s *Service) findDescriptors(ctx context.Context) (registeredDescriptors, error) {
	revs, err := s.reads.Revisions(ctx)
	if err != nil {
		return registeredDescriptors{}, catalogueError(err)
	}
	return registeredDescriptors{store: s.reads, push: revs.Push}, nil
}

// versionMessage returns the descriptor of a registered version.
func versionMessage(ctx context.Context, d registeredDescriptors, v EventVersion) (protoreflect.MessageDescriptor, error) {
	md, err := d.message(ctx, v)
	if err == nil && md == nil {
		err = fmt.Errorf("%s is registered but no stored descriptor set declares it", v.MessageName)
	}
	if err != nil {
		return nil, catalogueError(err)
	}
	return md, nil
}

// catalogueError maps a store error to a Connect error.
func catalogueError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}

func eventToProto(e Event) *registryv1.Event {
	pe := &registryv1.Event{Id: e.ID, Name: e.Name, Description: e.Description, Owner: ownerProto(e.Owner)}
	for _, v := range e.Versions {
		pe.Versions = append(pe.Versions, versionProto(v))
	}
	return pe
}

func versionProto(v EventVersion) *registryv1.EventVersion {
	return &registryv1.EventVersion{
		EventId:      v.EventID,
		Version:      v.Version,
		MessageName:  v.MessageName,
		Description:  v.Description,
		Fingerprint:  v.Fingerprint,
		Status:       lifecycleToProto(v.Status),
		Revision:     v.Revision,
		DocsRevision: v.DocsRevision,
		CreatedAt:    timestamppb.New(v.CreatedAt),
		Environments: v.Environments,
	}
}

// ownerProto is nil for an event without an owner.
func ownerProto(o Owner) *registryv1.Owner {
	if o.Team == "" {
		return nil
	}
	return &registryv1.Owner{Team: o.Team, Contact: o.Contact}
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

// documentVersion adds the file and the fields of md to pv.
func documentVersion(pv *registryv1.EventVersion, md protoreflect.MessageDescriptor) {
	pv.File = md.ParentFile().Path()
	fields := md.Fields()
	for i := range fields.Len() {
		pv.Fields = append(pv.Fields, fieldDoc(fields.Get(i)))
	}
	slices.SortFunc(pv.Fields, func(a, b *registryv1.Field) int { return cmp.Compare(a.GetNumber(), b.GetNumber()) })
}

// Meanings of the required field option.
const (
	requiredSet     = "must be set"
	requiredNonZero = "must not be the zero value"
)

// fieldDoc documents one field: its shape and its field option.
func fieldDoc(f protoreflect.FieldDescriptor) *registryv1.Field {
	doc := &registryv1.Field{
		Number:   int32(f.Number()),
		Name:     string(f.Name()),
		JsonName: f.JSONName(),
		Type:     protoType(f),
	}
	switch {
	case f.IsList():
		doc.Label = "repeated"
	case f.HasPresence():
		doc.Label = "optional"
	}
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		doc.Oneof = string(o.Name())
	}
	opt := fieldOption(f)
	doc.Pii = opt.GetPii()
	doc.Example = opt.GetExample()
	doc.Description = opt.GetDescription()
	if doc.Description == "" {
		doc.Description = strings.TrimSpace(f.ParentFile().SourceLocations().ByDescriptor(f).LeadingComments)
	}
	if opt.GetRequired() {
		doc.Required = true
		doc.RequiredMeans = requiredNonZero
		if f.HasPresence() {
			doc.RequiredMeans = requiredSet
		}
	}
	return doc
}

// protoType is the type of f as written in proto: "int64",
// "clickstream.events.v1.Context", "map<string, string>".
func protoType(f protoreflect.FieldDescriptor) string {
	switch {
	case f.IsMap():
		return fmt.Sprintf("map<%s, %s>", protoType(f.MapKey()), protoType(f.MapValue()))
	case f.Message() != nil:
		return string(f.Message().FullName())
	case f.Enum() != nil:
		return string(f.Enum().FullName())
	}
	return f.Kind().String()
}

// fieldOption returns the (clickstream.options.v1.field) option of f, or
// nil. Stored descriptors are decoded with the generated option types
// registered, so the option is a typed extension.
func fieldOption(f protoreflect.FieldDescriptor) *optionsv1.FieldOptions {
	opts, ok := f.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil || !proto.HasExtension(opts, optionsv1.E_Field) {
		return nil
	}
	opt, _ := proto.GetExtension(opts, optionsv1.E_Field).(*optionsv1.FieldOptions)
	return opt
}

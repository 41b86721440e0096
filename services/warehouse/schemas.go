package warehouse

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// Schemas answers which event a message belongs to and the messages of all
// its versions.
type Schemas interface {
	// Event returns the event of the message fullName
	// ("clickstream.events.v1.ItemViewV2"): its id and the messages of all
	// its registered versions, oldest first; ok is false when unknown.
	Event(fullName string) (eventID uint32, versions []protoreflect.MessageDescriptor, ok bool)
	// Refresh fetches the schemas again when the catalogue moved on.
	Refresh(ctx context.Context) error
}

// FileSchemas is a Schemas over a set of compiled files: the event messages
// are those carrying the clickstream event option.
type FileSchemas struct {
	byID     map[uint32][]protoreflect.MessageDescriptor
	idByName map[string]uint32
	revision uint64
}

var _ Schemas = (*FileSchemas)(nil)

// NewFileSchemas indexes the event messages of files.
func NewFileSchemas(files *protoregistry.Files, revision uint64) *FileSchemas {
	s := &FileSchemas{byID: map[uint32][]protoreflect.MessageDescriptor{}, idByName: map[string]uint32{}, revision: revision}
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Messages().Len() {
			md := fd.Messages().Get(i)
			ev := eventOptions(md)
			if ev == nil {
				continue
			}
			s.idByName[string(md.FullName())] = ev.GetId()
			s.byID[ev.GetId()] = append(s.byID[ev.GetId()], md)
		}
		return true
	})
	for _, mds := range s.byID {
		slices.SortFunc(mds, func(a, b protoreflect.MessageDescriptor) int { return int(messageVersion(a)) - int(messageVersion(b)) })
	}
	return s
}

// Event implements Schemas.
func (s *FileSchemas) Event(fullName string) (uint32, []protoreflect.MessageDescriptor, bool) {
	id, ok := s.idByName[fullName]
	if !ok {
		return 0, nil, false
	}
	return id, s.byID[id], true
}

// Refresh implements Schemas: a fixed set has nothing to fetch.
func (s *FileSchemas) Refresh(context.Context) error { return nil }

// RegistrySchemas is a Schemas fetched from the registry over gRPC
// (GetSchemaSet). The loader refreshes it when it meets a message it does
// not know.
type RegistrySchemas struct {
	client registryv1connect.RegistryServiceClient
	log    *slog.Logger

	mu      sync.RWMutex
	current *FileSchemas
}

var _ Schemas = (*RegistrySchemas)(nil)

// NewRegistrySchemas returns schemas fetched with client.
func NewRegistrySchemas(client registryv1connect.RegistryServiceClient, log *slog.Logger) *RegistrySchemas {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RegistrySchemas{client: client, log: log, current: &FileSchemas{}}
}

// Refresh implements Schemas.
func (r *RegistrySchemas) Refresh(ctx context.Context) error {
	r.mu.RLock()
	since := r.current.revision
	r.mu.RUnlock()
	resp, err := r.client.GetSchemaSet(ctx, &registryv1.GetSchemaSetRequest{SinceRevision: since})
	if err != nil {
		return fmt.Errorf("fetch event schemas from the registry: %w", err)
	}
	if resp.GetNotModified() {
		return nil
	}
	files, err := protodesc.NewFiles(resp.GetFileDescriptorSet())
	if err != nil {
		return fmt.Errorf("event schemas of revision %d: %w", resp.GetRevision(), err)
	}
	next := NewFileSchemas(files, resp.GetRevision())
	r.mu.Lock()
	r.current = next
	r.mu.Unlock()
	r.log.Info("warehouse: event schemas loaded", "revision", resp.GetRevision(), "events", len(next.byID))
	return nil
}

// Event implements Schemas.
func (r *RegistrySchemas) Event(fullName string) (uint32, []protoreflect.MessageDescriptor, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current.Event(fullName)
}

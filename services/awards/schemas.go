package awards

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	optionsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/options/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Schemas answers what the engine needs to know about event messages: the
// registered versions of an event (to validate configurations against every
// field they have) and a message by name (to decode payloads).
type Schemas interface {
	// Versions returns the message of every registered version of the
	// event subject ("PhotoStatusChanged"), oldest first; none when the
	// event is unknown.
	Versions(subject string) []protoreflect.MessageDescriptor
	// Message returns the event message of that full name.
	Message(fullName string) (protoreflect.MessageDescriptor, bool)
}

// FileSchemas is a Schemas over a set of compiled files: the event messages
// are those carrying the clickstream event option.
type FileSchemas struct {
	bySubject map[string][]protoreflect.MessageDescriptor
	byName    map[string]protoreflect.MessageDescriptor
	revision  uint64
}

var _ Schemas = (*FileSchemas)(nil)

// NewFileSchemas indexes the event messages of files.
func NewFileSchemas(files *protoregistry.Files, revision uint64) *FileSchemas {
	s := &FileSchemas{bySubject: map[string][]protoreflect.MessageDescriptor{}, byName: map[string]protoreflect.MessageDescriptor{}, revision: revision}
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Messages().Len() {
			md := fd.Messages().Get(i)
			opts, ok := md.Options().(*descriptorpb.MessageOptions)
			if !ok || !proto.HasExtension(opts, optionsv1.E_Event) {
				continue
			}
			s.byName[string(md.FullName())] = md
			subject := eventSubject(string(md.FullName()))
			s.bySubject[subject] = append(s.bySubject[subject], md)
		}
		return true
	})
	for _, mds := range s.bySubject {
		slices.SortFunc(mds, func(a, b protoreflect.MessageDescriptor) int { return eventVersion(a) - eventVersion(b) })
	}
	return s
}

// eventVersion is the version of an event message from its event option.
func eventVersion(md protoreflect.MessageDescriptor) int {
	opts, _ := md.Options().(*descriptorpb.MessageOptions)
	ev, _ := proto.GetExtension(opts, optionsv1.E_Event).(*optionsv1.EventOptions)
	return int(ev.GetVersion())
}

// Versions implements Schemas.
func (s *FileSchemas) Versions(subject string) []protoreflect.MessageDescriptor {
	return s.bySubject[subject]
}

// Message implements Schemas.
func (s *FileSchemas) Message(fullName string) (protoreflect.MessageDescriptor, bool) {
	md, ok := s.byName[fullName]
	return md, ok
}

// Subjects lists the known event subjects, sorted.
func (s *FileSchemas) Subjects() []string { return sortedKeys(s.bySubject) }

// RegistrySchemas is a Schemas fetched from the registry over gRPC
// (GetSchemaSet for every environment). Refresh fetches again when the
// catalogue moved on; the engine calls it when it meets an event it does not
// know and on a timer.
type RegistrySchemas struct {
	client registryv1connect.RegistryServiceClient
	log    *slog.Logger

	mu      sync.RWMutex
	current *FileSchemas
	fetched time.Time
}

var _ Schemas = (*RegistrySchemas)(nil)

// NewRegistrySchemas returns schemas fetched with client; call Refresh
// before use.
func NewRegistrySchemas(client registryv1connect.RegistryServiceClient, log *slog.Logger) *RegistrySchemas {
	if log == nil {
		log = slog.Default()
	}
	return &RegistrySchemas{client: client, log: log, current: &FileSchemas{}}
}

// Refresh fetches the schema set when the registry has a newer revision.
func (r *RegistrySchemas) Refresh(ctx context.Context) error {
	r.mu.RLock()
	since := r.current.revision
	r.mu.RUnlock()
	resp, err := r.client.GetSchemaSet(ctx, &registryv1.GetSchemaSetRequest{SinceRevision: since, OmitSourceInfo: true})
	if err != nil {
		return fmt.Errorf("fetch event schemas from the registry: %w", err)
	}
	if resp.GetNotModified() {
		r.mu.Lock()
		r.fetched = time.Now()
		r.mu.Unlock()
		return nil
	}
	files, err := protodesc.NewFiles(resp.GetFileDescriptorSet())
	if err != nil {
		return fmt.Errorf("event schemas of revision %d: %w", resp.GetRevision(), err)
	}
	next := NewFileSchemas(files, resp.GetRevision())
	r.mu.Lock()
	r.current, r.fetched = next, time.Now()
	r.mu.Unlock()
	r.log.Info("event schemas loaded", "revision", resp.GetRevision(), "events", len(next.bySubject))
	return nil
}

// RefreshIfOlder refreshes when the last fetch is older than age; errors
// are logged, the schemas in hand stay.
func (r *RegistrySchemas) RefreshIfOlder(ctx context.Context, age time.Duration) {
	r.mu.RLock()
	stale := time.Since(r.fetched) > age
	r.mu.RUnlock()
	if !stale {
		return
	}
	if err := r.Refresh(ctx); err != nil {
		r.log.Warn("refresh event schemas", "err", err)
	}
}

// Versions implements Schemas.
func (r *RegistrySchemas) Versions(subject string) []protoreflect.MessageDescriptor {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current.Versions(subject)
}

// Message implements Schemas.
func (r *RegistrySchemas) Message(fullName string) (protoreflect.MessageDescriptor, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current.Message(fullName)
}

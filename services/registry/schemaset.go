package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// Descriptors is the descriptor set one push revision stored, parsed. It is
// immutable and shared between callers.
type Descriptors struct {
	Revision uint64
	// Files resolves every file, message and enum of the set.
	Files *protoregistry.Files
	// protos are the files as stored, by path.
	protos map[string]*descriptorpb.FileDescriptorProto
	// events are the full names of the messages carrying the event option.
	events map[protoreflect.FullName]bool
}

// parseDescriptors parses a stored FileDescriptorSet. An empty one (a
// registration without descriptors) declares nothing.
func parseDescriptors(revision uint64, data []byte) (*Descriptors, error) {
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &fds); err != nil {
		return nil, fmt.Errorf("decode the descriptors of revision %d: %w", revision, err)
	}
	files, err := protodesc.NewFiles(&fds)
	if err != nil {
		return nil, fmt.Errorf("build the descriptors of revision %d: %w", revision, err)
	}
	d := &Descriptors{
		Revision: revision,
		Files:    files,
		protos:   make(map[string]*descriptorpb.FileDescriptorProto, len(fds.GetFile())),
		events:   map[protoreflect.FullName]bool{},
	}
	set := &schema.Set{}
	for _, f := range fds.GetFile() {
		d.protos[f.GetName()] = f
		fd, err := files.FindFileByPath(f.GetName())
		if err != nil {
			return nil, fmt.Errorf("build the descriptors of revision %d: %w", revision, err)
		}
		set.Files = append(set.Files, fd)
	}
	events, _ := set.Events()
	for _, ev := range events {
		d.events[protoreflect.FullName(ev.MessageName)] = true
	}
	return d, nil
}

// Message returns the message declared under a full name, if any.
func (d *Descriptors) Message(name string) (protoreflect.MessageDescriptor, bool) {
	desc, err := d.Files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, false
	}
	md, ok := desc.(protoreflect.MessageDescriptor)
	return md, ok
}

// SchemaSet returns the files that declare the named event messages and
// everything they import, each after its imports, with the event messages
// not named (and not referenced by a named one) left out of them: the set
// declares exactly the named events. Files are shared with d where nothing
// is left out.
func (d *Descriptors) SchemaSet(messages []string) (*descriptorpb.FileDescriptorSet, error) {
	keep := map[protoreflect.FullName]bool{}
	var roots []string
	for _, name := range messages {
		md, ok := d.Message(name)
		if !ok {
			return nil, fmt.Errorf("%s is not declared in the descriptors of revision %d", name, d.Revision)
		}
		roots = append(roots, md.ParentFile().Path())
		reachable(md, keep)
	}
	slices.Sort(roots)

	out := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var visit func(path string)
	visit = func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		f := d.protos[path]
		for _, dep := range f.GetDependency() {
			visit(dep)
		}
		out.File = append(out.File, d.without(f, keep))
	}
	for _, path := range slices.Compact(roots) {
		visit(path)
	}
	return out, nil
}

// reachable adds md and every message it references, transitively, to seen.
func reachable(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) {
	if seen[md.FullName()] {
		return
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		if m := fields.Get(i).Message(); m != nil {
			reachable(m, seen)
		}
	}
	nested := md.Messages()
	for i := range nested.Len() {
		reachable(nested.Get(i), seen)
	}
}

// without returns f without its top-level event messages that keep lacks;
// f itself when there are none.
func (d *Descriptors) without(f *descriptorpb.FileDescriptorProto, keep map[protoreflect.FullName]bool) *descriptorpb.FileDescriptorProto {
	prefix := ""
	if f.GetPackage() != "" {
		prefix = f.GetPackage() + "."
	}
	index := make([]int, len(f.GetMessageType())) // old index → new index, -1 when left out
	var kept []*descriptorpb.DescriptorProto
	for i, m := range f.GetMessageType() {
		name := protoreflect.FullName(prefix + m.GetName())
		if d.events[name] && !keep[name] {
			index[i] = -1
			continue
		}
		index[i] = len(kept)
		kept = append(kept, m)
	}
	if len(kept) == len(f.GetMessageType()) {
		return f
	}

	// A shallow copy: everything but the messages and their source info is
	// shared with f.
	out := &descriptorpb.FileDescriptorProto{}
	src, dst := f.ProtoReflect(), out.ProtoReflect()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
	out.MessageType = kept
	out.SourceCodeInfo = renumberMessages(f.GetSourceCodeInfo(), index)
	return out
}

// fileMessageType is the field number of FileDescriptorProto.message_type,
// the first element of the source path of a top-level message.
const fileMessageType = 4

// renumberMessages moves the source locations of top-level messages to
// their new indexes and drops those of messages left out (index -1).
func renumberMessages(info *descriptorpb.SourceCodeInfo, index []int) *descriptorpb.SourceCodeInfo {
	if info == nil {
		return nil
	}
	out := &descriptorpb.SourceCodeInfo{}
	for _, loc := range info.GetLocation() {
		path := loc.GetPath()
		if len(path) < 2 || path[0] != fileMessageType || int(path[1]) >= len(index) {
			out.Location = append(out.Location, loc)
			continue
		}
		to := index[path[1]]
		switch {
		case to < 0:
			continue
		case to == int(path[1]):
			out.Location = append(out.Location, loc)
		default:
			moved := proto.CloneOf(loc)
			moved.Path = slices.Clone(path)
			moved.Path[1] = int32(to)
			out.Location = append(out.Location, moved)
		}
	}
	return out
}

// descriptorCache keeps the parsed descriptors of the newest few push
// revisions. Stored descriptors never change, so an entry never goes stale.
type descriptorCache struct {
	load func(ctx context.Context, revision uint64) ([]byte, error)

	mu      sync.Mutex
	entries map[uint64]*descriptorEntry
}

type descriptorEntry struct {
	ready chan struct{} // closed when d and err are set
	d     *Descriptors
	err   error
}

// descriptorCacheSize is how many revisions the cache keeps: the newest
// serves queries, older ones explain rejected pushes.
const descriptorCacheSize = 4

func newDescriptorCache(load func(ctx context.Context, revision uint64) ([]byte, error)) *descriptorCache {
	return &descriptorCache{load: load, entries: map[uint64]*descriptorEntry{}}
}

// get returns the parsed descriptors of a push revision, loading and parsing
// them once however many callers ask at the same time.
func (c *descriptorCache) get(ctx context.Context, revision uint64) (*Descriptors, error) {
	c.mu.Lock()
	e, ok := c.entries[revision]
	if ok {
		c.mu.Unlock()
		select {
		case <-e.ready:
			return e.d, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e = &descriptorEntry{ready: make(chan struct{})}
	c.entries[revision] = e
	c.evict(revision)
	c.mu.Unlock()

	data, err := c.load(ctx, revision)
	if err == nil {
		e.d, e.err = parseDescriptors(revision, data)
	} else {
		e.err = err
	}
	close(e.ready)
	if e.err != nil {
		c.mu.Lock()
		if c.entries[revision] == e {
			delete(c.entries, revision) // the next caller tries again
		}
		c.mu.Unlock()
	}
	return e.d, e.err
}

// evict drops the oldest revisions but added while the cache is over its
// size. Callers hold c.mu.
func (c *descriptorCache) evict(added uint64) {
	for len(c.entries) > descriptorCacheSize {
		oldest := uint64(0)
		for rev := range c.entries {
			if rev != added && (oldest == 0 || rev < oldest) {
				oldest = rev
			}
		}
		delete(c.entries, oldest)
	}
}

// GetSchemaSet implements RegistryService.GetSchemaSet.
func (s *Service) GetSchemaSet(ctx context.Context, req *registryv1.GetSchemaSetRequest) (*registryv1.GetSchemaSetResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	versions, revs, err := s.store.AllowedVersions(ctx, req.GetEnvironment())
	if errors.Is(err, ErrNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf(
			"environment %q does not exist; list environments with GET /v1/environments", req.GetEnvironment()))
	}
	if err != nil {
		return nil, catalogueError(err)
	}
	resp := &registryv1.GetSchemaSetResponse{Revision: revs.Current}
	if req.GetSinceRevision() != 0 && req.GetSinceRevision() == revs.Current {
		resp.NotModified = true
		return resp, nil
	}
	resp.FileDescriptorSet = &descriptorpb.FileDescriptorSet{}
	if len(versions) == 0 {
		return resp, nil
	}
	d, err := s.store.Descriptors(ctx, revs.Push)
	if err != nil {
		return nil, catalogueError(err)
	}
	names := make([]string, len(versions))
	for i, v := range versions {
		names[i] = v.MessageName
		pv := versionProto(v)
		if md, ok := d.Message(v.MessageName); ok {
			pv.File = md.ParentFile().Path()
		}
		resp.Versions = append(resp.Versions, pv)
	}
	if resp.FileDescriptorSet, err = d.SchemaSet(names); err != nil {
		return nil, catalogueError(fmt.Errorf("schema set of environment %q: %w", req.GetEnvironment(), err))
	}
	return resp, nil
}

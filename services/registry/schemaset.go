package registry

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
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
	// files are the files as stored, by path, still encoded: a fraction of
	// their decoded size, decoded again for each schema set built.
	files map[string][]byte
	// events are the full names of the messages carrying the event option.
	events map[protoreflect.FullName]bool
	// size is the length of the stored set.
	size int
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
	encoded, err := splitFiles(data)
	if err != nil || len(encoded) != len(fds.GetFile()) {
		return nil, fmt.Errorf("split the descriptors of revision %d into files: %d of %d, %v", revision, len(encoded), len(fds.GetFile()), err)
	}
	d := &Descriptors{
		Revision: revision,
		Files:    files,
		files:    make(map[string][]byte, len(fds.GetFile())),
		events:   map[protoreflect.FullName]bool{},
		size:     len(data),
	}
	set := &schema.Set{}
	for i, f := range fds.GetFile() {
		d.files[f.GetName()] = encoded[i]
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

// fileDescriptorSetFile is the field number of FileDescriptorSet.file.
const fileDescriptorSetFile = 1

// splitFiles returns the encoded files of an encoded FileDescriptorSet, in
// order, as slices of data.
func splitFiles(data []byte) ([][]byte, error) {
	var files [][]byte
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		data = data[n:]
		if num == fileDescriptorSetFile && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			files = append(files, v[:len(v):len(v)])
			data = data[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, data)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		data = data[n:]
	}
	return files, nil
}

// file decodes the stored file at path.
func (d *Descriptors) file(path string) (*descriptorpb.FileDescriptorProto, error) {
	f := &descriptorpb.FileDescriptorProto{}
	if err := proto.Unmarshal(d.files[path], f); err != nil {
		return nil, fmt.Errorf("decode %s of revision %d: %w", path, d.Revision, err)
	}
	return f, nil
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
// declares exactly the named events. The files are decoded for the call:
// the caller may keep or change them.
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
	var visit func(path string) error
	visit = func(path string) error {
		if seen[path] {
			return nil
		}
		seen[path] = true
		f, err := d.file(path)
		if err != nil {
			return err
		}
		for _, dep := range f.GetDependency() {
			if err := visit(dep); err != nil {
				return err
			}
		}
		out.File = append(out.File, d.without(f, keep))
		return nil
	}
	for _, path := range slices.Compact(roots) {
		if err := visit(path); err != nil {
			return nil, err
		}
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

// The parsed descriptor sets a store keeps, newest push first: the newest
// serves every query, langpack and schema set; an older one is read only to
// explain a rejected push about a version the newest lacks. They are bounded
// by their estimated size in memory, not by their number, so a catalogue of
// thousands of versions keeps one or two sets and a small one keeps several.
const (
	// descriptorCacheBudget bounds the estimated memory of the sets kept
	// (the one used last is kept whatever its size).
	descriptorCacheBudget = 64 << 20
	// parsedDescriptorsFactor is how many times its stored length a parsed
	// set takes in memory: the descriptors, the index of their source
	// locations and the stored bytes (measured on a catalogue of a thousand
	// versions with comments: 1.1 MB stored, about 22 MB parsed).
	parsedDescriptorsFactor = 20
)

// newDescriptorCache returns a cache of parsed descriptor sets, which load
// reads by push revision. Stored descriptors never change, so an entry
// never goes stale.
func newDescriptorCache(load func(ctx context.Context, revision uint64) ([]byte, error)) *boundedCache[uint64, *Descriptors] {
	return newBoundedCache(descriptorCacheBudget, func(ctx context.Context, revision uint64) (*Descriptors, int64, error) {
		data, err := load(ctx, revision)
		if err != nil {
			return nil, 0, err
		}
		d, err := parseDescriptors(revision, data)
		if err != nil {
			return nil, 0, err
		}
		return d, int64(max(d.size, 1)) * parsedDescriptorsFactor, nil
	})
}

// schemaSetAnswers remembers a digest of each schema set answered, by
// environment and catalogue revision, so that a client asking whether its
// set changed since a revision (GetSchemaSetRequest.since_revision) hears
// "not modified" while the revisions since changed nothing it holds: an
// access grant to another environment, an owner. Without it every client
// downloads and parses the whole set again at every revision.
type schemaSetAnswers = boundedCache[schemaSetAt, [sha256.Size]byte]

// schemaSetAt names the schema set of an environment at a revision.
type schemaSetAt struct {
	environment string
	revision    uint64
}

// schemaSetAnswersKept is how many answers' digests are remembered (about
// a hundred bytes each); a client asking about one forgotten gets the whole
// set, as after a restart.
const schemaSetAnswersKept = 4096

func newSchemaSetAnswers() *schemaSetAnswers {
	return newBoundedCache(schemaSetAnswersKept, func(context.Context, schemaSetAt) ([sha256.Size]byte, int64, error) {
		return [sha256.Size]byte{}, 0, errors.New("schema set answers are only put")
	})
}

// schemaSetDigest identifies what a schema set answer holds: the push its
// descriptors come from and its versions, lifecycle and file included.
func schemaSetDigest(push uint64, versions []*registryv1.EventVersion) ([sha256.Size]byte, error) {
	h := sha256.New()
	b := binary.BigEndian.AppendUint64(nil, push)
	opts := proto.MarshalOptions{Deterministic: true}
	for _, v := range versions {
		var err error
		if b, err = opts.MarshalAppend(protowire.AppendVarint(b, uint64(proto.Size(v))), v); err != nil {
			return [sha256.Size]byte{}, err
		}
		if len(b) > 64<<10 {
			h.Write(b)
			b = b[:0]
		}
	}
	h.Write(b)
	return [sha256.Size]byte(h.Sum(nil)), nil
}

// GetSchemaSet implements RegistryService.GetSchemaSet. An answer is "not
// modified" when the catalogue is still at since_revision, or when what the
// environment's set holds is what this registry answered at since_revision.
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
	since := req.GetSinceRevision()
	if since != 0 && since == revs.Current {
		resp.NotModified = true
		return resp, nil
	}
	var d *Descriptors
	if len(versions) > 0 {
		if d, err = s.store.Descriptors(ctx, revs.Push); err != nil {
			return nil, catalogueError(err)
		}
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
	digest, err := schemaSetDigest(revs.Push, resp.Versions)
	if err != nil {
		return nil, catalogueError(fmt.Errorf("schema set of environment %q: %w", req.GetEnvironment(), err))
	}
	s.schemaSets.put(schemaSetAt{req.GetEnvironment(), revs.Current}, digest, 1)
	if since != 0 && since < revs.Current {
		if before, ok := s.schemaSets.peek(schemaSetAt{req.GetEnvironment(), since}); ok && before == digest {
			return &registryv1.GetSchemaSetResponse{Revision: revs.Current, NotModified: true}, nil
		}
	}
	resp.FileDescriptorSet = &descriptorpb.FileDescriptorSet{}
	if len(versions) == 0 {
		return resp, nil
	}
	if resp.FileDescriptorSet, err = d.SchemaSet(names); err != nil {
		return nil, catalogueError(fmt.Errorf("schema set of environment %q: %w", req.GetEnvironment(), err))
	}
	if req.GetOmitSourceInfo() {
		for _, f := range resp.FileDescriptorSet.GetFile() {
			f.SourceCodeInfo = nil // the files are decoded for this answer alone
		}
	}
	return resp, nil
}

package schema

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Set is a compiled schema: the files of one proto tree and, through their
// imports, everything they depend on.
type Set struct {
	// Files are the files of the compiled tree (not its imports), sorted by path.
	Files []protoreflect.FileDescriptor
}

// Compile compiles every .proto file under the root of fsys (for example
// os.DirFS("proto") or protosrc.FS) with protocompile, keeping source info so
// line numbers and comments are available.
//
// Imports are resolved from fsys first, then from each of extra in order, then
// from the standard imports (google/protobuf/*). Only the files of fsys become
// Set.Files; files found in extra are dependencies. Test fixtures use extra to
// import the repo's clickstream/options/v1/options.proto instead of carrying a
// copy of it.
//
// The error lists every compile error, one per line, as file:line:col: message;
// each is a reporter.ErrorWithPos reachable with errors.As.
func Compile(ctx context.Context, fsys fs.FS, extra ...fs.FS) (*Set, error) {
	var paths []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && path.Ext(p) == ".proto" {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compile schemas: list proto files: %w", err)
	}
	if len(paths) == 0 {
		return nil, errors.New("compile schemas: no .proto files found")
	}
	slices.Sort(paths)

	sources := append([]fs.FS{fsys}, extra...)
	var errs []reporter.ErrorWithPos
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: func(name string) (io.ReadCloser, error) {
				return openFirst(sources, name)
			},
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			errs = append(errs, err) // the reporter is called under a lock
			return nil               // keep going: report every error at once
		}, nil),
	}
	files, err := compiler.Compile(ctx, paths...)
	if err != nil {
		if len(errs) == 0 {
			return nil, fmt.Errorf("compile schemas: %w", err)
		}
		// Files compile concurrently: report in file order, not arrival order.
		slices.SortStableFunc(errs, func(a, b reporter.ErrorWithPos) int {
			pa, pb := a.GetPosition(), b.GetPosition()
			return cmp.Or(strings.Compare(pa.Filename, pb.Filename), cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Col, pb.Col))
		})
		joined := make([]error, 0, len(errs)+1)
		for _, e := range errs {
			joined = append(joined, e)
		}
		if !errors.Is(err, reporter.ErrInvalidSource) {
			joined = append(joined, err)
		}
		return nil, fmt.Errorf("compile schemas: %d error(s):\n%w", len(errs), errors.Join(joined...))
	}
	set := &Set{Files: make([]protoreflect.FileDescriptor, len(files))}
	for i, f := range files {
		set.Files[i] = f
	}
	return set, nil
}

// openFirst opens name from the first of sources that has it.
func openFirst(sources []fs.FS, name string) (io.ReadCloser, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
	for _, src := range sources {
		f, err := src.Open(name)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
}

// NewSet builds a Set from a FileDescriptorSet, as pushed to the registry by
// the CLI (see Set.FileDescriptorSet). The set must be self-contained: every
// import of every file is in it. Set.Files are the files of fds except the
// standard imports (google/protobuf/*), sorted by path.
func NewSet(fds *descriptorpb.FileDescriptorSet) (*Set, error) {
	files, err := protodesc.NewFiles(fds)
	if err != nil {
		return nil, fmt.Errorf("build schema set from %d files: %w", len(fds.GetFile()), err)
	}
	set := &Set{}
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(fd.Path(), "google/protobuf/") {
			set.Files = append(set.Files, fd)
		}
		return true
	})
	slices.SortFunc(set.Files, func(a, b protoreflect.FileDescriptor) int {
		return strings.Compare(a.Path(), b.Path())
	})
	return set, nil
}

// FileDescriptorSet returns every file of the set and all of its imports,
// each after its dependencies, with source info.
func (s *Set) FileDescriptorSet() *descriptorpb.FileDescriptorSet {
	out := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			visit(imports.Get(i).FileDescriptor)
		}
		out.File = append(out.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range s.Files {
		visit(fd)
	}
	return out
}

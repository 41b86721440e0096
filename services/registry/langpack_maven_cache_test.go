package registry

import (
	"crypto/sha256"
	"os"
	"sync"
	"testing"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// descriptorSet is files with everything they import, imports first.
func descriptorSet(files []protoreflect.FileDescriptor) *descriptorpb.FileDescriptorSet {
	out := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			visit(fd.Imports().Get(i).FileDescriptor)
		}
		out.File = append(out.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range files {
		visit(fd)
	}
	return out
}

// TestMavenJarsCompileOnce: concurrent requests for one jar run javac
// once (they get the same bytes, the same array) and the next request is
// answered from the cache.
func TestMavenJarsCompileOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs javac")
	}
	if _, err := langpack.FindJDK(t.Context(), ""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set): apt-get install default-jdk-headless", err)
		}
		t.Skipf("%v: apt-get install default-jdk-headless", err)
	}
	set, err := schema.Compile(t.Context(), protosrc.FS)
	if err != nil {
		t.Fatal(err)
	}
	events, _ := set.Events()
	in := langpack.Input{Environment: "web", Revision: 1, Version: langpack.Version{Major: 1}, Files: descriptorSet(set.Files),
		Events: []langpack.Event{{ID: events[0].ID, Version: events[0].Version, MessageName: events[0].MessageName}}}
	p, err := langpack.Generate(langpack.Java, in)
	if err != nil {
		t.Fatal(err)
	}
	a, err := langpack.BuildMavenArtifact(langpack.NamesFor("web"), p.Manifest.PackageVersion, p.Files)
	if err != nil {
		t.Fatal(err)
	}
	m := newMavenJars()
	key := sha256.Sum256(a.Sources)
	jars := make([][]byte, 4)
	var wg sync.WaitGroup
	for i := range jars {
		wg.Go(func() {
			jar, err := m.jar(t.Context(), key, a)
			if err != nil {
				t.Error(err)
			}
			jars[i] = jar
		})
	}
	wg.Wait()
	again, err := m.jar(t.Context(), key, a)
	if err != nil {
		t.Fatal(err)
	}
	jars = append(jars, again)
	for i, jar := range jars {
		if len(jar) == 0 || &jar[0] != &jars[0][0] {
			t.Fatalf("request %d got a jar of its own: javac ran more than once", i)
		}
	}
	t.Logf("%d requests, one compilation: a %d-byte jar; %d cached, %d bytes", len(jars), len(jars[0]), len(m.byKey), m.size)
	if len(m.byKey) != 1 || m.size != len(jars[0]) {
		t.Errorf("cache holds %d jars, %d bytes; want 1, %d", len(m.byKey), m.size, len(jars[0]))
	}
}

// TestMavenJarsBounded: the cache keeps at most its limit in bytes,
// dropping the least recently used jar first.
func TestMavenJarsBounded(t *testing.T) {
	m := newMavenJars()
	m.limit = 100
	key := func(i byte) [32]byte { return [32]byte{i} }
	m.add(key(1), make([]byte, 40))
	m.add(key(2), make([]byte, 40))
	m.lru.MoveToFront(m.byKey[key(1)]) // 1 was read since
	m.add(key(3), make([]byte, 40))
	if _, ok := m.byKey[key(2)]; ok || m.size != 80 || len(m.byKey) != 2 {
		t.Errorf("after 3×40 bytes in 100: %d jars, %d bytes, 2 kept=%v; want 2 jars, 80 bytes, the least recent (2) dropped", len(m.byKey), m.size, m.byKey[key(2)] != nil)
	}
	m.add(key(4), make([]byte, 101))
	if _, ok := m.byKey[key(4)]; ok {
		t.Error("a jar larger than the whole cache was kept")
	}
}

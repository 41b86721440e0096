package registry

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// mavenJarCacheBytes bounds the compiled jars a registry keeps in memory.
// A jar is tens to hundreds of kilobytes, so this holds the jars of many
// environments' recent versions; one evicted is compiled again on request.
const mavenJarCacheBytes = 32 << 20

// mavenJarBuild is the kind of the stored build that is a version's jar of
// classes (registry.langpack_builds).
const mavenJarBuild = "jar"

// mavenCompileTimeout bounds one javac run.
const mavenCompileTimeout = 5 * time.Minute

// mavenFile answers the POM, the -sources.jar or the jar of classes of a
// stored Java langpack version (base is the requested file name). The jar
// of classes is compiled with the host's JDK; without one the request is
// answered 501 with what to do, while the POM and the sources jar are
// served as usual. The first jar built of a version is stored with it and
// served from then on. ok is false when the answer was written.
func (h langpackHTTP) mavenFile(w http.ResponseWriter, r *http.Request, l Langpack, names langpack.Names, base string) (data []byte, contentType string, ok bool) {
	isJar := !strings.HasSuffix(base, ".pom") && !strings.HasSuffix(base, "-sources.jar")
	if isJar {
		// A jar built before is served as stored, without unpacking the
		// pack: a restart, another registry instance or a JDK upgrade
		// never gives this version other bytes.
		switch jar, err := h.svc.store.LangpackBuild(r.Context(), l, mavenJarBuild); {
		case err == nil:
			return jar, "application/java-archive", true
		case !errors.Is(err, ErrNotFound):
			h.fail(w, r, err)
			return nil, "", false
		}
	}
	files, err := langpackFiles(l)
	if err != nil {
		h.fail(w, r, err)
		return nil, "", false
	}
	version := l.PackageVersion()
	a, err := langpack.BuildMavenArtifact(names, version, files)
	if err != nil {
		h.fail(w, r, err)
		return nil, "", false
	}
	switch {
	case strings.HasSuffix(base, ".pom"):
		return a.POM, "application/xml", true
	case strings.HasSuffix(base, "-sources.jar"):
		return a.Sources, "application/java-archive", true
	}
	jar, err := h.jars.jar(r.Context(), sha256.Sum256(l.Archive), a)
	var noJDK *noJDKError
	switch {
	case errors.As(err, &noJDK):
		http.Error(w, fmt.Sprintf("%s cannot be served: this registry has no JDK to compile the Java langpacks (%v): "+
			"install one on the registry's host (e.g. apt-get install default-jdk-headless, or set JAVA_HOME to a JDK 8 or later) "+
			"and restart the registry. Meanwhile %s and %s are served: compile the sources yourself (see docs/langpacks.md)",
			base, strings.TrimPrefix(noJDK.err.Error(), "no JDK: "), langpack.MavenFile(names, version, "-sources.jar"), langpack.MavenFile(names, version, ".pom")), http.StatusNotImplemented)
		return nil, "", false
	case errors.Is(err, context.Canceled):
		http.Error(w, "request canceled", http.StatusServiceUnavailable)
		return nil, "", false
	case err != nil:
		slog.ErrorContext(r.Context(), "compile a Java langpack", "environment", l.Environment, "version", version, "err", err)
		http.Error(w, fmt.Sprintf("%s could not be compiled by the registry's JDK; its log says why. The sources are served as %s",
			base, langpack.MavenFile(names, version, "-sources.jar")), http.StatusInternalServerError)
		return nil, "", false
	}
	jdk, err := h.jars.findJDK()
	if err != nil {
		h.fail(w, r, err)
		return nil, "", false
	}
	if jar, err = h.svc.store.AddLangpackBuild(r.Context(), l, mavenJarBuild, "javac "+jdk.Version, jar); err != nil {
		h.fail(w, r, err)
		return nil, "", false
	}
	return jar, "application/java-archive", true
}

// noJDKError is the host having no usable JDK.
type noJDKError struct{ err error }

func (e *noJDKError) Error() string { return "no JDK: " + e.err.Error() }

// mavenJars compiles the Java langpacks' jars of classes with the host's
// JDK (found on first use: $JAVA_HOME/bin/javac, else javac on PATH) and
// keeps them in memory, least recently used first out, within
// mavenJarCacheBytes. A stored langpack version never changes, so a jar is
// keyed by its archive's hash and compiled once while it stays cached;
// concurrent requests for one jar wait for one javac, and javac runs one at
// a time.
type mavenJars struct {
	findJDK func() (*langpack.JDK, error)
	slot    chan struct{} // one javac at a time

	mu     sync.Mutex
	lru    *list.List // of *mavenJar, most recent first
	byKey  map[[32]byte]*list.Element
	size   int // bytes cached, at most limit
	limit  int
	flight map[[32]byte]*mavenCompile
}

type mavenJar struct {
	key  [32]byte
	data []byte
}

type mavenCompile struct {
	done chan struct{}
	data []byte
	err  error
}

func newMavenJars() *mavenJars {
	return &mavenJars{
		findJDK: sync.OnceValues(func() (*langpack.JDK, error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			jdk, err := langpack.FindJDK(ctx, "")
			if err != nil {
				slog.Warn("the registry serves the Java langpacks' sources jars and POMs only: it found no JDK to compile their jars", "err", err)
				return nil, err
			}
			slog.Info("the registry compiles the Java langpacks' jars", "javac", jdk.Javac, "version", jdk.Version)
			return jdk, nil
		}),
		slot:   make(chan struct{}, 1),
		limit:  mavenJarCacheBytes,
		lru:    list.New(),
		byKey:  map[[32]byte]*list.Element{},
		flight: map[[32]byte]*mavenCompile{},
	}
}

// jar returns the jar of classes of the artifact stored under key.
func (m *mavenJars) jar(ctx context.Context, key [32]byte, a *langpack.MavenArtifact) ([]byte, error) {
	jdk, err := m.findJDK()
	if err != nil {
		return nil, &noJDKError{err: err}
	}
	m.mu.Lock()
	if e, ok := m.byKey[key]; ok {
		m.lru.MoveToFront(e)
		m.mu.Unlock()
		return e.Value.(*mavenJar).data, nil
	}
	c, ok := m.flight[key]
	if !ok {
		c = &mavenCompile{done: make(chan struct{})}
		m.flight[key] = c
		// Detached from the request: others may wait for the same jar.
		go m.compile(jdk, key, a, c)
	}
	m.mu.Unlock()
	select {
	case <-c.done:
		return c.data, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *mavenJars) compile(jdk *langpack.JDK, key [32]byte, a *langpack.MavenArtifact, c *mavenCompile) {
	defer close(c.done)
	m.slot <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), mavenCompileTimeout)
	c.data, c.err = jdk.CompileJar(ctx, a)
	cancel()
	<-m.slot

	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.flight, key)
	if c.err == nil {
		m.add(key, c.data)
	}
}

// add caches a jar, evicting the least recently used beyond the bound;
// m.mu is held.
func (m *mavenJars) add(key [32]byte, data []byte) {
	if len(data) > m.limit {
		return
	}
	m.byKey[key] = m.lru.PushFront(&mavenJar{key: key, data: data})
	m.size += len(data)
	for m.size > m.limit {
		old := m.lru.Remove(m.lru.Back()).(*mavenJar)
		delete(m.byKey, old.key)
		m.size -= len(old.data)
	}
}

package registry

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// garbage is where allocating handlers leave what they allocate, so the
// compiler keeps the allocations.
var garbage []byte

// TestIdleCollector: once idle after a burst of allocation the registry
// collects once; a request in flight, a watch, or little allocation holds
// it back.
func TestIdleCollector(t *testing.T) {
	const after = 50 * time.Millisecond
	c := newIdleCollector(after, 32<<20)
	release := make(chan struct{})
	h := c.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/burst":
			for range 64 {
				garbage = make([]byte, 1<<20)
			}
		case "/slow":
			<-release
		case "/clickstream.registry.v1.RegistryService/WatchSchemas":
			<-release
		}
	}))
	get := func(path string) { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil)) }
	// collections waits for want collections (a while, on a busy machine),
	// then returns how many ran.
	collections := func(want int64) int64 {
		deadline := time.Now().Add(5 * time.Second)
		for c.collections.Load() != want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		return c.collections.Load()
	}
	quiet := func() { time.Sleep(4 * after) }

	get("/small")
	quiet()
	if n := c.collections.Load(); n != 0 {
		t.Errorf("after a small request: %d collections, want 0", n)
	}

	// A burst while a watch stays open: the watch does not count as work.
	go get("/clickstream.registry.v1.RegistryService/WatchSchemas")
	get("/burst")
	if n := collections(1); n != 1 {
		t.Errorf("idle after a burst of 64 MiB: %d collections, want 1", n)
	}
	quiet()
	if n := c.collections.Load(); n != 1 {
		t.Errorf("still idle: %d collections, want still 1", n)
	}

	// A request in flight, then a burst: no collection until the request
	// ends and the registry is idle again.
	done := make(chan struct{})
	go func() { get("/slow"); close(done) }()
	for c.inflight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	get("/burst")
	quiet()
	if n := c.collections.Load(); n != 1 {
		t.Errorf("with a request in flight: %d collections, want still 1", n)
	}
	close(release)
	<-done
	if n := collections(2); n != 2 {
		t.Errorf("idle after the request ended: %d collections, want 2", n)
	}
	t.Logf("%d collections", c.collections.Load())
}

package registry

import (
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The registry's work comes in bursts: a langpack of a thousand versions
// allocates a few hundred megabytes in a second or two, then nothing for
// minutes. The Go runtime sizes its heap from what was live at its last
// collection, which a burst inflates, and returns memory to the system
// only down to that size; an idle process collects again only every two
// minutes. So once the registry is idle after a burst it collects once,
// and the runtime's scavenger then returns what the burst took.
const (
	// idleCollectAfter is how long the registry must be idle (no request
	// in flight or finished) before it collects.
	idleCollectAfter = 5 * time.Second
	// idleCollectBurst is what the process must have allocated since the
	// registry last collected for a collection to be worth it.
	idleCollectBurst = 64 << 20
)

// idleCollector runs a garbage collection once the registry has been idle
// for after, when the process allocated burst bytes or more since the last
// one it ran.
type idleCollector struct {
	after time.Duration
	burst uint64

	inflight atomic.Int64
	mu       sync.Mutex
	timer    *time.Timer
	// allocated is the process's total allocation when it last collected.
	allocated uint64
	// collections counts the collections it ran.
	collections atomic.Int64
}

func newIdleCollector(after time.Duration, burst uint64) *idleCollector {
	return &idleCollector{after: after, burst: burst, allocated: allocatedBytes()}
}

// wrap counts h's requests in flight and arms the collection when the last
// one ends. Watches (the schema watch, health) last as long as their client
// and are not counted.
func (c *idleCollector) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/WatchSchemas") || strings.HasSuffix(r.URL.Path, "/Watch") {
			h.ServeHTTP(w, r)
			return
		}
		c.inflight.Add(1)
		defer c.done()
		h.ServeHTTP(w, r)
	})
}

func (c *idleCollector) done() {
	if c.inflight.Add(-1) > 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer == nil {
		c.timer = time.AfterFunc(c.after, c.collect)
		return
	}
	c.timer.Reset(c.after)
}

// collect runs a collection unless a request is in flight (its end arms
// the timer again) or little was allocated since the last one.
func (c *idleCollector) collect() {
	if c.inflight.Load() > 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if allocatedBytes()-c.allocated < c.burst {
		return
	}
	runtime.GC()
	c.allocated = allocatedBytes()
	c.collections.Add(1)
}

// allocatedBytes is the process's cumulative heap allocation.
func allocatedBytes() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

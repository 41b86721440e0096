package registry

import (
	"container/list"
	"context"
	"sync"
)

// boundedCache keeps values up to a total cost, dropping the least
// recently used first; the entry used last is kept whatever its cost, so a
// value larger than the bound is still shared by the callers that want it
// at the same time. Each value is loaded once however many callers ask for
// it together. A value must not change once loaded.
type boundedCache[K comparable, V any] struct {
	// budget bounds the total cost of the values kept.
	budget int64
	load   func(ctx context.Context, key K) (V, int64, error)

	mu      sync.Mutex
	entries map[K]*list.Element // of *cacheEntry[K, V]
	order   list.List           // most recently used first
	cost    int64
}

type cacheEntry[K comparable, V any] struct {
	key   K
	ready chan struct{} // closed when value, cost and err are set
	value V
	cost  int64
	err   error
}

// newBoundedCache returns a cache of values up to budget, which load reads
// and costs.
func newBoundedCache[K comparable, V any](budget int64, load func(ctx context.Context, key K) (V, int64, error)) *boundedCache[K, V] {
	return &boundedCache[K, V]{budget: budget, load: load, entries: map[K]*list.Element{}}
}

// get returns the value of key, loading it when it is not kept. A failed
// load is not kept: the next caller tries again.
func (c *boundedCache[K, V]) get(ctx context.Context, key K) (V, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*cacheEntry[K, V])
		c.mu.Unlock()
		select {
		case <-e.ready:
			return e.value, e.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	e := &cacheEntry[K, V]{key: key, ready: make(chan struct{})}
	el := c.order.PushFront(e)
	c.entries[key] = el
	c.mu.Unlock()

	value, cost, err := c.load(ctx, key)

	c.mu.Lock()
	defer c.mu.Unlock()
	e.value, e.cost, e.err = value, cost, err
	close(e.ready)
	switch {
	case c.entries[key] != el: // replaced meanwhile
	case err != nil:
		c.remove(el) // the next caller tries again
	default:
		c.cost += cost
		c.trim(el)
	}
	return value, err
}

// put keeps value under key, replacing what was there.
func (c *boundedCache[K, V]) put(key K, value V, cost int64) {
	e := &cacheEntry[K, V]{key: key, ready: make(chan struct{}), value: value, cost: cost}
	close(e.ready)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	el := c.order.PushFront(e)
	c.entries[key] = el
	c.cost += cost
	c.trim(el)
}

// peek returns the value kept under key, if loaded, without loading it.
func (c *boundedCache[K, V]) peek(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.entries[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*cacheEntry[K, V])
	select {
	case <-e.ready:
		if e.err != nil {
			return zero, false
		}
		c.order.MoveToFront(el)
		return e.value, true
	default:
		return zero, false
	}
}

// stats returns how many values are kept and their total cost.
func (c *boundedCache[K, V]) stats() (entries int, cost int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.cost
}

// trim drops the least recently used loaded values, but keep, while the
// total cost is over the budget. Callers hold c.mu.
func (c *boundedCache[K, V]) trim(keep *list.Element) {
	for el := c.order.Back(); el != nil && c.cost > c.budget; {
		prev := el.Prev()
		e := el.Value.(*cacheEntry[K, V])
		loaded := false
		select {
		case <-e.ready:
			loaded = true
		default:
		}
		if el != keep && loaded {
			c.remove(el)
		}
		el = prev
	}
}

// remove drops an entry. Callers hold c.mu.
func (c *boundedCache[K, V]) remove(el *list.Element) {
	e := el.Value.(*cacheEntry[K, V])
	select {
	case <-e.ready:
		if e.err == nil {
			c.cost -= e.cost
		}
	default:
	}
	c.order.Remove(el)
	delete(c.entries, e.key)
}

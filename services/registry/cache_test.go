package registry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBoundedCache: values are kept up to the budget, least recently used
// dropped first, the one used last kept whatever its cost; concurrent
// callers share one load; failed loads are not kept.
func TestBoundedCache(t *testing.T) {
	var loads atomic.Int32
	fail := map[int]bool{}
	c := newBoundedCache(100, func(_ context.Context, key int) (string, int64, error) {
		loads.Add(1)
		if fail[key] {
			return "", 0, errors.New("unreachable")
		}
		return string(rune('a' + key)), int64(key * 10), nil
	})
	get := func(key int) string {
		t.Helper()
		v, err := c.get(t.Context(), key)
		if err != nil {
			t.Fatalf("get %d: %v", key, err)
		}
		return v
	}
	kept := func(want ...int) {
		t.Helper()
		for k := range 20 {
			c.mu.Lock()
			_, ok := c.entries[k] // not peek, which makes k the most recently used
			c.mu.Unlock()
			wanted := false
			for _, w := range want {
				wanted = wanted || w == k
			}
			if ok != wanted {
				t.Errorf("key %d kept %v, want %v", k, ok, wanted)
			}
		}
	}

	get(2)
	get(3)
	get(4) // 90 of 100
	get(2) // 2 is now the most recently used
	kept(2, 3, 4)
	get(5) // 140: drop the least recently used, 3 then 4
	kept(2, 5)
	if n, cost := c.stats(); n != 2 || cost != 70 {
		t.Errorf("%d entries costing %d, want 2 costing 70", n, cost)
	}
	// A value over the budget is kept alone while it is the last used.
	get(15)
	kept(15)
	get(1)
	kept(1)

	// Concurrent callers of one key share one load.
	loads.Store(0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { get(7) })
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Errorf("8 concurrent gets of one key loaded it %d times, want 1", n)
	}

	// A failed load is not kept: the next get tries again.
	fail[9] = true
	loads.Store(0)
	for range 2 {
		if _, err := c.get(t.Context(), 9); err == nil {
			t.Error("get of a failing key: no error")
		}
	}
	if n := loads.Load(); n != 2 {
		t.Errorf("two gets of a failing key loaded it %d times, want 2", n)
	}
	if _, ok := c.peek(9); ok {
		t.Error("a failed load is kept")
	}

	// A caller waiting for another's load gives up with its context.
	release := make(chan struct{})
	slow := newBoundedCache(100, func(ctx context.Context, key int) (int, int64, error) {
		<-release
		return key, 1, nil
	})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		slow.get(context.Background(), 1)
	}()
	for {
		slow.mu.Lock()
		_, loading := slow.entries[1]
		slow.mu.Unlock()
		if loading {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := slow.get(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting past the deadline: %v, want DeadlineExceeded", err)
	}
	close(release)
	<-loaded
	if v, err := slow.get(t.Context(), 1); err != nil || v != 1 {
		t.Errorf("after the load: %d, %v; want 1", v, err)
	}
}

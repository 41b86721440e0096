package ingestclient

import (
	"context"
	"errors"
	"sync"
	"time"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("ingestclient: the batcher is closed")

// BatcherOption configures a Batcher.
type BatcherOption func(*Batcher)

// WithBatchSize sends a batch once n events are buffered (default 100).
func WithBatchSize(n int) BatcherOption {
	return func(b *Batcher) {
		if n > 0 {
			b.size = n
		}
	}
}

// WithFlushInterval sends what is buffered at least every d (default 1s); 0
// sends only full batches and on Flush and Close.
func WithFlushInterval(d time.Duration) BatcherOption {
	return func(b *Batcher) { b.interval = d }
}

// WithResults hands the results of every batch to fn, from the goroutine
// that sent it, instead of keeping them for Flush. A failed batch is handed
// over too, with Err set on each of its events.
func WithResults(fn func([]Result)) BatcherOption {
	return func(b *Batcher) { b.onResults = fn }
}

// Batcher buffers events and sends them in batches, retrying each batch
// as its Client does. It is safe for concurrent use; Add sends a full batch
// from the calling goroutine, so a slow ingest slows the callers down rather
// than growing the buffer.
type Batcher struct {
	client    *Client
	size      int
	interval  time.Duration
	onResults func([]Result)

	mu      sync.Mutex
	buf     []*ingestv1.Event
	results []Result // kept for Flush when there is no onResults
	errs    []error  // batch errors since the last Flush
	closed  bool
	sending sync.WaitGroup

	stop   chan struct{} // closed by Close to end the timed flushes
	ticker sync.WaitGroup
}

// NewBatcher returns a batcher sending through c.
func (c *Client) NewBatcher(opts ...BatcherOption) *Batcher {
	b := &Batcher{client: c, size: 100, interval: time.Second}
	for _, o := range opts {
		o(b)
	}
	b.stop = make(chan struct{})
	if b.interval > 0 {
		b.ticker.Add(1)
		go b.tick()
	}
	return b
}

func (b *Batcher) tick() {
	defer b.ticker.Done()
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			// A timed send belongs to no caller: the retry policy bounds it.
			if batch := b.take(0); batch != nil {
				b.send(context.Background(), batch)
			}
		}
	}
}

// Add buffers events and sends every full batch. Events without an
// idempotency key get one now, so the caller can see it.
func (b *Batcher) Add(ctx context.Context, events ...*ingestv1.Event) error {
	AssignKeys(events)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.buf = append(b.buf, events...)
	b.mu.Unlock()
	for {
		batch := b.take(b.size)
		if batch == nil {
			return nil
		}
		b.send(ctx, batch)
	}
}

// take removes a batch from the buffer: at most size events once at least
// size are buffered, or everything buffered when atLeast is 0. It registers the
// send with b.sending; nil means nothing to send.
func (b *Batcher) take(atLeast int) []*ingestv1.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) == 0 || len(b.buf) < atLeast {
		return nil
	}
	n := min(len(b.buf), b.size)
	batch := b.buf[:n:n]
	b.buf = b.buf[n:]
	if len(b.buf) == 0 {
		b.buf = nil
	}
	b.sending.Add(1)
	return batch
}

func (b *Batcher) send(ctx context.Context, batch []*ingestv1.Event) {
	defer b.sending.Done()
	results, err := b.client.Send(ctx, batch...)
	if err != nil {
		results = make([]Result, len(batch))
		for i, ev := range batch {
			results[i] = Result{Event: ev, Key: ev.GetIdempotencyKey(), Err: err}
		}
	}
	b.mu.Lock()
	if err != nil {
		b.errs = append(b.errs, err)
	}
	if b.onResults == nil {
		b.results = append(b.results, results...)
	}
	b.mu.Unlock()
	if b.onResults != nil {
		b.onResults(results)
	}
}

// Flush sends everything buffered, waits for the batches in flight, and
// returns the results gathered since the last Flush (none when WithResults
// takes them) and the errors of the batches that failed since then.
func (b *Batcher) Flush(ctx context.Context) ([]Result, error) {
	for {
		batch := b.take(0)
		if batch == nil {
			break
		}
		b.send(ctx, batch)
	}
	b.sending.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	results, errs := b.results, b.errs
	b.results, b.errs = nil, nil
	return results, errors.Join(errs...)
}

// Close stops the timed flushes, flushes, and makes further Adds fail.
func (b *Batcher) Close(ctx context.Context) ([]Result, error) {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.ticker.Wait()
	return b.Flush(ctx)
}

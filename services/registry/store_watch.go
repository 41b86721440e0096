package registry

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const (
	// revisionsChannel is the channel the revisions_notify trigger notifies
	// with each new revision number (migration 00003).
	revisionsChannel = "registry_revisions"
	// watchApplicationName names the listening session in pg_stat_activity.
	watchApplicationName = "clickstream-registry-watch"

	// Delays between attempts to listen again after the connection failed.
	watchRetryFirst = 100 * time.Millisecond
	watchRetryMax   = 5 * time.Second
)

// CurrentRevision implements Store.
func (s *PostgresStore) CurrentRevision(ctx context.Context) (revision uint64, err error) {
	defer derrors.Wrap(&err, "current revision")
	err = s.pool.QueryRow(ctx, sqlCurrentRevision).Scan(&revision)
	return revision, err
}

// SubscribeRevisions implements Store. All subscriptions on one pool share
// one hub: one dedicated connection LISTENing on registry_revisions, started
// by the first subscription and stopped when the last one ends.
func (s *PostgresStore) SubscribeRevisions(ctx context.Context) (_ <-chan uint64, err error) {
	defer derrors.Wrap(&err, "watch catalogue revisions")
	sub := &revisionSubscriber{ch: make(chan uint64, 1)}
	hub := s.hubs.join(s.pool, sub)
	select {
	case <-hub.attempted:
	case <-ctx.Done():
		hub.leave(sub)
		return nil, ctx.Err()
	}
	if err := hub.err(); err != nil {
		hub.leave(sub)
		return nil, err
	}
	// The hub listens now, so every revision committed after this read is
	// notified: none falls between the two.
	revision, err := s.CurrentRevision(ctx)
	if err != nil {
		hub.leave(sub)
		return nil, err
	}
	sub.offer(revision)
	context.AfterFunc(ctx, func() { hub.leave(sub) })
	return sub.ch, nil
}

// hubSlot holds a store's running hub, only while it has subscribers, so
// nothing outlives them.
type hubSlot struct {
	mu  sync.Mutex
	hub *revisionHub
}

// revisionHub fans the revisions notified on one dedicated connection out
// to its subscribers, reconnecting with backoff when the connection drops.
type revisionHub struct {
	slot   *hubSlot
	pool   *pgxpool.Pool
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	attempted     chan struct{} // closed after the first attempt to listen
	attemptedOnce sync.Once

	mu        sync.Mutex
	subs      map[*revisionSubscriber]struct{}
	listenErr error // why the hub is not listening; nil while it is
}

// revisionSubscriber is one subscription: a one-slot channel holding the
// newest revision the subscriber has not received yet.
type revisionSubscriber struct {
	mu   sync.Mutex
	ch   chan uint64
	last uint64 // highest revision offered
}

// offer puts revision in the slot, replacing an older one the subscriber
// has not received; it never blocks.
func (s *revisionSubscriber) offer(revision uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if revision <= s.last {
		return
	}
	s.last = revision
	select {
	case <-s.ch:
	default:
	}
	s.ch <- revision
}

// close ends the subscription; nothing is offered after it.
func (s *revisionSubscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
}

// join adds sub to the hub, starting one on pool if there is none.
func (slot *hubSlot) join(pool *pgxpool.Pool, sub *revisionSubscriber) *revisionHub {
	slot.mu.Lock()
	defer slot.mu.Unlock()
	h := slot.hub
	if h == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h = &revisionHub{
			slot:      slot,
			pool:      pool,
			cancel:    cancel,
			done:      make(chan struct{}),
			attempted: make(chan struct{}),
			subs:      map[*revisionSubscriber]struct{}{},
		}
		slot.hub = h
		go h.run(ctx)
	}
	h.mu.Lock()
	h.subs[sub] = struct{}{}
	h.mu.Unlock()
	return h
}

// leave removes sub and closes its channel. The last subscriber to leave
// stops the hub and waits until its connection is closed.
func (h *revisionHub) leave(sub *revisionSubscriber) {
	h.slot.mu.Lock()
	h.mu.Lock()
	delete(h.subs, sub)
	last := len(h.subs) == 0
	h.mu.Unlock()
	if last && h.slot.hub == h {
		h.slot.hub = nil
	}
	h.slot.mu.Unlock()
	if last {
		h.cancel()
		<-h.done
	}
	sub.close()
}

// err says why the hub is not listening, or nil.
func (h *revisionHub) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.listenErr
}

// run listens until ctx is done, trying again after failures.
func (h *revisionHub) run(ctx context.Context) {
	defer close(h.done)
	delay := watchRetryFirst
	for {
		listened, err := h.listen(ctx)
		if ctx.Err() != nil {
			h.failed(ctx.Err())
			return
		}
		h.failed(err)
		if listened {
			delay = watchRetryFirst
		}
		slog.WarnContext(ctx, "registry: lost the catalogue revision feed; listening again", "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			h.failed(ctx.Err())
			return
		case <-t.C:
		}
		delay = min(2*delay, watchRetryMax)
	}
}

// listen takes a connection of its own out of the pool, LISTENs, publishes
// the current revision (which covers anything missed while not listening)
// and then each notified one, until the connection fails or ctx is done.
func (h *revisionHub) listen(ctx context.Context) (listened bool, err error) {
	pc, err := h.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquire a connection: %w", err)
	}
	conn := pc.Hijack()
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "SET application_name = '"+watchApplicationName+"'"); err != nil {
		return false, fmt.Errorf("name the session: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+revisionsChannel); err != nil {
		return false, fmt.Errorf("listen on %s: %w", revisionsChannel, err)
	}
	var revision uint64
	if err := conn.QueryRow(ctx, sqlCurrentRevision).Scan(&revision); err != nil {
		return false, fmt.Errorf("read the current revision: %w", err)
	}
	h.listening(revision)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for revisions: %w", err)
		}
		revision, err := strconv.ParseUint(n.Payload, 10, 64)
		if err != nil {
			slog.WarnContext(ctx, "registry: ignored a revision notification that is not a number", "payload", n.Payload)
			continue
		}
		h.publish(revision)
	}
}

// listening records that the hub listens and publishes the current revision.
func (h *revisionHub) listening(revision uint64) {
	h.mu.Lock()
	h.listenErr = nil
	h.mu.Unlock()
	h.attemptedOnce.Do(func() { close(h.attempted) })
	h.publish(revision)
}

// failed records why the hub is not listening.
func (h *revisionHub) failed(err error) {
	h.mu.Lock()
	h.listenErr = err
	h.mu.Unlock()
	h.attemptedOnce.Do(func() { close(h.attempted) })
}

// publish offers revision to every subscriber.
func (h *revisionHub) publish(revision uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		sub.offer(revision)
	}
}

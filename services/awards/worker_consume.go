package awards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
)

// Consumers runs one consuming worker per source (event subject) that an
// active objective needs. Each worker is a durable JetStream pull consumer
// of the EVENTS stream filtered to its event, so awards never reads an
// event no objective needs. It applies what it fetches in batches, one
// PostgreSQL transaction each, and acknowledges a batch only after the
// transaction committed; a worker is sequential, so one user's events are
// applied in stream order (an event handed back by a stopped worker may
// come again after later ones; rules order a content's events by when they
// occurred, so that does not change the result).
//
// Several instances run the same workers on the same durable consumers:
// JetStream hands each event to one of their pulls, so they split the work.
// Batches on different instances that touch one user objective take turns
// under its advisory lock, and the processing log, read under that lock,
// skips an (event, objective) pair already applied (a redelivery to the
// other instance), so nothing counts twice and no update is lost. A batch
// finding the stored configuration newer than its instance's reloads first,
// and one finding its source paused (on whichever instance) applies nothing
// and is handed back.
type Consumers struct {
	engine *Engine
	js     jetstream.JetStream
	cfg    ConsumersConfig
	log    *slog.Logger

	wg      sync.WaitGroup // the workers' goroutines
	mu      sync.Mutex
	running map[string]*sourceWorker
	// stopping holds the workers told to stop, until they have: a source
	// is not started again while its previous worker may still fetch.
	stopping map[string]*sourceWorker
	// ctx is Run's context: workers started by an API call live as long
	// as Run, not as the call.
	ctx context.Context
	// synced is set by the first Sync that read the paused sources;
	// missing lists the needed sources whose consumer it could not get,
	// and missingErr why.
	synced     bool
	missing    []string
	missingErr error
}

// Ready reports an error until every source the configuration needs (and no
// operator paused) has a running worker. A consumer made later would start
// with the events published after it, so a service that took traffic before
// would miss the events in between: readiness waits for the consumers.
func (c *Consumers) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.synced:
		return errors.New("consuming workers not started yet")
	case len(c.missing) > 0:
		return fmt.Errorf("no durable consumer yet for %s: %v", strings.Join(c.missing, ", "), c.missingErr)
	}
	return nil
}

// Apply makes the running workers follow the configuration and the paused
// sources now, and waits until the workers of paused or unneeded sources
// have stopped: after it returns, a paused source applies nothing more.
func (c *Consumers) Apply(ctx context.Context) error {
	c.mu.Lock()
	running := c.ctx != nil
	c.mu.Unlock()
	if !running {
		return nil // Run is not running (yet): it syncs when it starts
	}
	if err := c.Sync(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	var stopping []*sourceWorker
	for _, w := range c.stopping {
		stopping = append(stopping, w)
	}
	c.mu.Unlock()
	for _, w := range stopping {
		select {
		case <-w.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return c.Sync(ctx)
}

// Pending returns how many events on the bus the source's consumer has not
// yet had acknowledged (0 when it has no consumer yet).
func (c *Consumers) Pending(ctx context.Context, source string) (uint64, error) {
	cons, err := c.js.Consumer(ctx, bus.StreamEvents, c.ConsumerName(source))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// ConsumersConfig configures the consuming workers.
type ConsumersConfig struct {
	// Batch bounds the events applied per transaction; default 1000.
	Batch int
	// FetchWait is how long a fetch waits for the first event; default 1s.
	FetchWait time.Duration
	// Reconcile is how often the set of workers follows the configuration;
	// default 1s.
	Reconcile time.Duration
	// Prefix names the durable consumers, "awards-" by default.
	Prefix string
}

// NewConsumers returns the consuming workers of e, reading from js.
func NewConsumers(e *Engine, js jetstream.JetStream, cfg ConsumersConfig) *Consumers {
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.FetchWait <= 0 {
		cfg.FetchWait = time.Second
	}
	if cfg.Reconcile <= 0 {
		cfg.Reconcile = time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "awards-"
	}
	return &Consumers{engine: e, js: js, cfg: cfg, log: e.log.With("worker", "consume"), running: map[string]*sourceWorker{}, stopping: map[string]*sourceWorker{}}
}

// ConsumerName is the durable consumer of subject ("PhotoStatusChanged").
func (c *Consumers) ConsumerName(subject string) string {
	return c.cfg.Prefix + strings.ToLower(subject)
}

// Paused reports whether consuming source is paused now: no worker runs
// for it.
func (c *Consumers) Paused(ctx context.Context, source string) (bool, error) {
	paused, err := c.engine.store.PausedSources(ctx)
	return paused[source], err
}

// Sources lists the sources with a running worker, sorted.
func (c *Consumers) Sources() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedKeys(c.running)
}

// Run keeps one worker per needed source until ctx is done.
func (c *Consumers) Run(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		for _, w := range c.running {
			w.cancel()
		}
		c.mu.Unlock()
		c.wg.Wait()
	}()
	for {
		if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("start consuming workers", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.cfg.Reconcile):
		}
	}
}

// Sync starts a worker for every source the configuration needs and stops
// those no longer needed (their durable consumers stay, so a source that
// comes back resumes where it stopped).
func (c *Consumers) Sync(ctx context.Context) error {
	paused, err := c.engine.store.PausedSources(ctx)
	if err != nil {
		return err
	}
	needed := map[string]bool{}
	for _, s := range c.engine.Snapshot().Subjects() {
		if !paused[s] {
			needed[s] = true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for subject, w := range c.stopping {
		select {
		case <-w.done:
			delete(c.stopping, subject)
		default:
		}
	}
	for subject, w := range c.running {
		if !needed[subject] {
			w.cancel()
			delete(c.running, subject)
			c.stopping[subject] = w
			reason := "no active objective needs the source"
			if paused[subject] {
				reason = "paused by an operator"
			}
			c.log.Info("consuming worker stopped: "+reason, "source", subject)
		}
	}
	var (
		errs    []error
		missing []string
	)
	defer func() {
		slices.Sort(missing)
		c.synced, c.missing, c.missingErr = true, missing, errors.Join(errs...)
	}()
	for subject := range needed {
		if c.running[subject] != nil || c.stopping[subject] != nil {
			continue
		}
		cons, err := c.consumer(ctx, subject)
		if err != nil {
			errs = append(errs, err)
			missing = append(missing, subject)
			continue
		}
		parent := c.ctx // Run's context (c.mu is held)
		if parent == nil {
			parent = ctx
		}
		wctx, cancel := context.WithCancel(parent)
		w := &sourceWorker{subject: subject, consumer: cons, engine: c.engine, cfg: c.cfg, cancel: cancel,
			log: c.log.With("source", subject), done: make(chan struct{})}
		c.running[subject] = w
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer close(w.done)
			w.run(wctx)
		}()
		c.log.Info("consuming worker started", "source", subject, "consumer", c.ConsumerName(subject))
	}
	return errors.Join(errs...)
}

// consumer creates or looks up the durable consumer of subject. A new
// consumer starts with the events published from now on; counting earlier
// events is a backfill.
func (c *Consumers) consumer(ctx context.Context, subject string) (jetstream.Consumer, error) {
	filter, err := bus.EventFilterSubject(subject)
	if err != nil {
		return nil, err
	}
	name := c.ConsumerName(subject)
	cons, err := c.js.Consumer(ctx, bus.StreamEvents, name)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	cons, err = c.js.CreateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "awards: events of " + subject + " for the objectives that consume it",
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		// Explicit acks: with AckAll, acknowledging a later event would
		// also acknowledge an earlier one handed back by a stopped worker.
		AckPolicy: jetstream.AckExplicitPolicy,
		// A batch commits in milliseconds; after a crash its events come
		// back within a minute (and are skipped if they had committed).
		AckWait:       time.Minute,
		MaxAckPending: 4 * c.cfg.Batch,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s for %s: %w", name, filter, err)
	}
	return cons, nil
}

// sourceWorker consumes one source.
type sourceWorker struct {
	subject  string
	consumer jetstream.Consumer
	engine   *Engine
	cfg      ConsumersConfig
	cancel   context.CancelFunc
	log      *slog.Logger
	done     chan struct{} // closed when run returned
}

func (w *sourceWorker) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		msgs, err := w.fetch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("fetch events", "err", err)
				sleep(ctx, backoff)
			}
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		records := make([]*busv1.EventRecord, 0, len(msgs))
		seqs := make([]uint64, 0, len(msgs))
		for _, m := range msgs {
			rec := &busv1.EventRecord{}
			if err := proto.Unmarshal(m.Data(), rec); err != nil {
				w.engine.metrics.events.WithLabelValues("undecodable").Inc()
				w.log.Error("event record skipped: not an EventRecord", "subject", m.Subject(), "err", err)
				continue
			}
			meta, err := m.Metadata()
			if err != nil {
				// Not a JetStream message: applied in delivery order.
				w.log.Warn("event without stream metadata: ordered by delivery", "subject", m.Subject(), "err", err)
				meta = &jetstream.MsgMetadata{}
			}
			records = append(records, rec)
			seqs = append(seqs, meta.Sequence.Stream)
		}
		// Apply until it commits: the batch is acknowledged only then.
		applied, paused := false, false
		for attempt := time.Duration(1); ctx.Err() == nil; attempt++ {
			if _, err = w.engine.ApplyBatchWith(ctx, records, ApplyOptions{Source: w.subject, Sequences: seqs}); err == nil {
				applied = true
				break
			}
			if errors.Is(err, ErrSourcePaused) {
				// Paused on some instance: this instance's Sync stops the
				// worker at its next round. Hand the batch back meanwhile.
				paused = true
				break
			}
			w.log.Error("apply events, will retry", "events", len(records), "err", err)
			sleep(ctx, min(attempt*backoff, 5*time.Second))
		}
		if paused {
			for _, m := range msgs {
				_ = m.Nak()
			}
			sleep(ctx, min(w.cfg.Reconcile, time.Second))
			continue
		}
		if !applied {
			// Stopped (paused, shut down) before the batch committed:
			// hand it back for redelivery at once.
			for _, m := range msgs {
				_ = m.Nak()
			}
			return
		}
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				w.log.Warn("acknowledge event (it will be redelivered and skipped)", "err", err)
			}
		}
	}
}

// fetch waits up to FetchWait for one event, then takes what else is
// already there, up to the batch size.
func (w *sourceWorker) fetch(ctx context.Context) ([]jetstream.Msg, error) {
	first, err := w.consumer.Fetch(1, jetstream.FetchMaxWait(w.cfg.FetchWait))
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range first.Messages() {
		msgs = append(msgs, m)
	}
	if err := first.Error(); err != nil {
		return msgs, err
	}
	if len(msgs) == 0 || w.cfg.Batch == 1 {
		return msgs, nil
	}
	more, err := w.consumer.FetchNoWait(w.cfg.Batch - 1)
	if err != nil {
		return msgs, nil
	}
	for m := range more.Messages() {
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

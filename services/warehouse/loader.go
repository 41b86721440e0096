package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
)

// LoaderConfig configures the Loader.
type LoaderConfig struct {
	// Durable is the JetStream consumer name; "" is "warehouse-loader".
	// Loaders with the same name share the work.
	Durable string
	// BatchSize is the most events written in one transaction; 0 is 1000.
	BatchSize int
	// BatchWait is the longest a batch waits to fill; 0 is 1s.
	BatchWait time.Duration
	// RetryWait is how long an event waits before it is delivered again
	// after a failed write or when its version cannot be decoded yet; 0 is
	// 5s.
	RetryWait time.Duration
	// Lake, when set, also writes every row to Parquet files; events are
	// acknowledged once the file holding them is in place.
	Lake   *Lake
	Logger *slog.Logger
}

// Loader consumes the EVENTS stream into the typed tables (and the lake).
type Loader struct {
	js      jetstream.JetStream
	schemas Schemas
	store   Store
	cfg     LoaderConfig
	log     *slog.Logger

	mu     sync.Mutex
	tables map[uint32]*Table

	ready atomic.Bool
	// stored counts the events committed to the tables (tests and metrics).
	stored atomic.Int64
}

// NewLoader returns the loader of js's EVENTS stream into store, decoding
// with schemas. Run it with Run.
func NewLoader(js jetstream.JetStream, schemas Schemas, store Store, cfg LoaderConfig) *Loader {
	if cfg.Durable == "" {
		cfg.Durable = "warehouse-loader"
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = time.Second
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Loader{js: js, schemas: schemas, store: store, cfg: cfg, log: cfg.Logger.With("consumer", cfg.Durable), tables: map[uint32]*Table{}}
}

// Ready reports whether the loader has its durable consumer.
func (l *Loader) Ready(context.Context) error {
	if !l.ready.Load() {
		return errors.New("the warehouse loader has not created its consumer yet")
	}
	return nil
}

// Stored is how many events the loader committed since it started
// (redeliveries it skipped included).
func (l *Loader) Stored() int64 { return l.stored.Load() }

// Run consumes until ctx is done; it returns nil then, and an error only
// when the consumer cannot be set up.
func (l *Loader) Run(ctx context.Context) error {
	maxPending := 4 * l.cfg.BatchSize
	ackWait := l.cfg.BatchWait + time.Minute
	if l.cfg.Lake != nil {
		// Events wait unacknowledged until the file holding them is in
		// place.
		maxPending = max(maxPending, 2*l.cfg.Lake.cfg.FlushEvents+l.cfg.BatchSize)
		ackWait = max(ackWait, 2*l.cfg.Lake.cfg.FlushAge+time.Minute)
	}
	cons, err := l.js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable:       l.cfg.Durable,
		Description:   "Warehouse: accepted events into the typed tables (schema warehouse) and the Parquet lake",
		FilterSubject: "events.>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("warehouse: create consumer %s on %s: %w", l.cfg.Durable, bus.StreamEvents, err)
	}
	l.ready.Store(true)
	if l.cfg.Lake != nil {
		// What is buffered at shutdown is written (and acknowledged)
		// rather than delivered again.
		defer func() {
			if err := l.cfg.Lake.FlushDue(true); err != nil {
				l.log.Warn("warehouse: lake files not written at shutdown; their events will be delivered again", "err", err)
			}
		}()
	}
	for ctx.Err() == nil {
		if err := l.consumeBatch(ctx, cons); err != nil {
			if ctx.Err() != nil {
				break
			}
			l.log.Warn("warehouse: batch not stored; it will be delivered again", "err", err)
			sleep(ctx, l.cfg.RetryWait)
		}
		if l.cfg.Lake != nil {
			if err := l.cfg.Lake.FlushDue(false); err != nil {
				l.log.Warn("warehouse: lake files not written; their events will be delivered again", "err", err)
			}
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// consumeBatch fetches one batch, stores it and acknowledges it (or hands
// it to the lake, which acknowledges once its files are in place).
func (l *Loader) consumeBatch(ctx context.Context, cons jetstream.Consumer) error {
	wait := l.cfg.BatchWait
	if l.cfg.Lake != nil {
		wait = min(wait, l.cfg.Lake.untilDue())
	}
	batch, err := cons.Fetch(l.cfg.BatchSize, jetstream.FetchMaxWait(max(wait, 10*time.Millisecond)))
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	var (
		msgs     []jetstream.Msg
		rows     []Row
		refreshd bool
	)
	for m := range batch.Messages() {
		row, err := l.decode(ctx, m, &refreshd)
		if err != nil {
			var wait waitError
			if errors.As(err, &wait) {
				// The registry may be unreachable or the version not
				// pushed yet: the event waits and comes back.
				l.log.Warn("warehouse: an event waits until its version can be decoded", "err", err, "retry_in", l.cfg.RetryWait)
				_ = m.NakWithDelay(l.cfg.RetryWait)
				continue
			}
			// A message that is no EventRecord, or whose payload does
			// not decode with its own schema, would come back forever.
			l.log.Error("warehouse: dropping a message that cannot be stored", "subject", m.Subject(), "err", err)
			_ = m.Term()
			continue
		}
		msgs = append(msgs, m)
		rows = append(rows, row)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		l.log.Debug("warehouse: fetch ended early", "err", err)
	}
	if len(rows) == 0 {
		return nil
	}
	if err := l.store.WriteRows(ctx, rows); err != nil {
		for _, m := range msgs {
			_ = m.NakWithDelay(l.cfg.RetryWait)
		}
		return err
	}
	l.stored.Add(int64(len(rows)))
	if l.cfg.Lake != nil {
		l.cfg.Lake.Add(rows, msgs)
		return nil
	}
	for _, m := range msgs {
		// A lost ack means a redelivery, which the store absorbs.
		_ = m.Ack()
	}
	return nil
}

// waitError is a decode failure that may heal (schemas not loaded, version
// not yet known): the event is delivered again later.
type waitError struct{ err error }

func (e waitError) Error() string { return e.err.Error() }
func (e waitError) Unwrap() error { return e.err }

// decode turns one EVENTS message into a row, laying out (and creating or
// widening) its table first when its version is new.
func (l *Loader) decode(ctx context.Context, m jetstream.Msg, refreshed *bool) (Row, error) {
	rec := &busv1.EventRecord{}
	if err := proto.Unmarshal(m.Data(), rec); err != nil {
		return Row{}, fmt.Errorf("not an EventRecord: %w", err)
	}
	if rec.GetId() == "" {
		return Row{}, errors.New("the record has no id")
	}
	meta, err := m.Metadata()
	if err != nil {
		return Row{}, fmt.Errorf("message metadata: %w", err)
	}
	t, err := l.table(ctx, rec, refreshed)
	if err != nil {
		return Row{}, err
	}
	return t.decodeRow(rec, meta.Sequence.Stream, meta.Timestamp)
}

// table returns the layout covering the record's version, widening the
// table when the version is new to it.
func (l *Loader) table(ctx context.Context, rec *busv1.EventRecord, refreshed *bool) (*Table, error) {
	l.mu.Lock()
	t := l.tables[rec.GetEventId()]
	l.mu.Unlock()
	if t != nil && t.Covers(rec.GetEventVersion()) {
		return t, nil
	}
	id, versions, ok := l.schemas.Event(rec.GetEventName())
	if !ok || !coversVersion(versions, rec.GetEventVersion()) {
		if !*refreshed {
			*refreshed = true
			if err := l.schemas.Refresh(ctx); err != nil {
				return nil, waitError{fmt.Errorf("event %s (id %s): %w", rec.GetEventName(), rec.GetId(), err)}
			}
		}
		id, versions, ok = l.schemas.Event(rec.GetEventName())
		if !ok || !coversVersion(versions, rec.GetEventVersion()) {
			return nil, waitError{fmt.Errorf("event %s version %d (id %s) is not in the registry's catalogue yet", rec.GetEventName(), rec.GetEventVersion(), rec.GetId())}
		}
	}
	nt := NewTable(id, subjectOf(versions[0]), versions)
	if err := l.store.EnsureTable(ctx, nt); err != nil {
		return nil, waitError{err}
	}
	{
		l.log.Info("warehouse: table ready", "table", "warehouse."+nt.Name, "versions", nt.Versions, "columns", len(nt.Columns))
	}
	l.mu.Lock()
	l.tables[id] = nt
	l.mu.Unlock()
	return nt, nil
}

// coversVersion reports whether one of versions is version v.
func coversVersion(versions []protoreflect.MessageDescriptor, v uint32) bool {
	for _, md := range versions {
		if messageVersion(md) == v {
			return true
		}
	}
	return false
}

package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
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
	// BatchSize is the most events written in one transaction; 0 is 5000
	// (fewer, larger transactions: the loader's events/s against a plain
	// COPY rose from 0.2 to 0.4 going from 1000 to 5000).
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

// minAckWait is the least acknowledgement wait of the loader's consumer.
const minAckWait = 10 * time.Second

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
		cfg.BatchSize = 5000
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
	// The acknowledgement wait is how soon the events a crashed loader
	// held come back: short, since a redelivery of events still being
	// written is harmless (the table and the lake skip what they have).
	ackWait := max(minAckWait, 4*l.cfg.BatchWait)
	if l.cfg.Lake != nil {
		// Events wait unacknowledged until the file holding them is in
		// place.
		maxPending = max(maxPending, 2*l.cfg.Lake.cfg.FlushEvents+l.cfg.BatchSize)
		ackWait += 2 * l.cfg.Lake.cfg.FlushAge
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
	// Two stages: one goroutine fetches and decodes the next batch while
	// this one writes the previous.
	batches := make(chan decodedBatch, 1)
	go func() {
		defer close(batches)
		for ctx.Err() == nil {
			b, err := l.fetchBatch(ctx, cons)
			if err != nil {
				if ctx.Err() == nil {
					l.log.Warn("warehouse: fetch", "err", err)
					sleep(ctx, l.cfg.RetryWait)
				}
				continue
			}
			select {
			case batches <- b:
			case <-ctx.Done():
				b.nak(0)
			}
		}
	}()
	// A third goroutine acknowledges committed batches, so the next write
	// need not wait for thousands of acks: they go after the commit all the
	// same, and one lost at a crash means a redelivery the store skips.
	acks := make(chan []jetstream.Msg, 4)
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		for msgs := range acks {
			for _, m := range msgs {
				_ = m.Ack()
			}
		}
	}()
	defer func() {
		close(acks)
		<-acked
	}()
	for b := range batches {
		if ctx.Err() != nil {
			// Decoded but not written: delivered again at the next start.
			b.nak(0)
			continue
		}
		if err := l.storeBatch(ctx, b, acks); err != nil {
			if ctx.Err() == nil {
				l.log.Warn("warehouse: batch not stored; it will be delivered again", "err", err)
				sleep(ctx, l.cfg.RetryWait)
			}
		}
		if l.cfg.Lake != nil {
			if err := l.cfg.Lake.FlushDue(false); err != nil {
				l.log.Warn("warehouse: lake files not written; their events will be delivered again", "err", err)
			}
		}
	}
	return nil
}

// decodedBatch is a fetched batch: the rows to store and the messages that
// carried them.
type decodedBatch struct {
	msgs []jetstream.Msg
	rows []Row
}

// nak hands the batch's messages back for redelivery after delay.
func (b decodedBatch) nak(delay time.Duration) {
	for _, m := range b.msgs {
		if delay > 0 {
			_ = m.NakWithDelay(delay)
		} else {
			_ = m.Nak()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// fetchBatch fetches one batch and decodes it; events that cannot be
// decoded yet are handed back to wait, those that never can are
// terminated.
func (l *Loader) fetchBatch(ctx context.Context, cons jetstream.Consumer) (decodedBatch, error) {
	wait := l.cfg.BatchWait
	if l.cfg.Lake != nil {
		wait = min(wait, l.cfg.Lake.untilDue())
	}
	batch, err := cons.Fetch(l.cfg.BatchSize, jetstream.FetchMaxWait(max(wait, 10*time.Millisecond)))
	if err != nil {
		return decodedBatch{}, fmt.Errorf("fetch: %w", err)
	}
	var (
		msgs     []jetstream.Msg
		rows     []Row
		refreshd bool
	)
	// The envelope and the table layout one by one (a new version may
	// widen a table); the payloads, the costly part, in parallel.
	type pending struct {
		m   jetstream.Msg
		t   *Table
		rec *busv1.EventRecord
		seq uint64
		at  time.Time
		row Row
		err error
	}
	var work []*pending
	for m := range batch.Messages() {
		p := &pending{m: m}
		p.rec, p.t, p.seq, p.at, p.err = l.envelope(ctx, m, &refreshd)
		work = append(work, p)
	}
	workers := min(runtime.GOMAXPROCS(0), 4)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(work); i += workers {
				if p := work[i]; p.err == nil {
					p.row, p.err = p.t.decodeRow(p.rec, p.seq, p.at)
				}
			}
		})
	}
	wg.Wait()
	for _, p := range work {
		if err := p.err; err != nil {
			var wait waitError
			if errors.As(err, &wait) {
				// The registry may be unreachable or the version not
				// pushed yet: the event waits and comes back.
				l.log.Warn("warehouse: an event waits until its version can be decoded", "err", err, "retry_in", l.cfg.RetryWait)
				_ = p.m.NakWithDelay(l.cfg.RetryWait)
				continue
			}
			// A message that is no EventRecord, or whose payload does
			// not decode with its own schema, would come back forever.
			l.log.Error("warehouse: dropping a message that cannot be stored", "subject", p.m.Subject(), "err", err)
			_ = p.m.Term()
			continue
		}
		msgs = append(msgs, p.m)
		rows = append(rows, p.row)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		l.log.Debug("warehouse: fetch ended early", "err", err)
	}
	return decodedBatch{msgs: msgs, rows: rows}, nil
}

// storeBatch writes a batch in one transaction and acknowledges it (or
// hands it to the lake, which acknowledges once its files are in place).
func (l *Loader) storeBatch(ctx context.Context, b decodedBatch, acks chan<- []jetstream.Msg) error {
	if len(b.rows) == 0 {
		return nil
	}
	if err := l.store.WriteRows(ctx, b.rows); err != nil {
		b.nak(l.cfg.RetryWait)
		return err
	}
	l.stored.Add(int64(len(b.rows)))
	if l.cfg.Lake != nil {
		l.cfg.Lake.Add(b.rows, b.msgs)
		return nil
	}
	// A lost ack means a redelivery, which the store absorbs.
	acks <- b.msgs
	return nil
}

// waitError is a decode failure that may heal (schemas not loaded, version
// not yet known): the event is delivered again later.
type waitError struct{ err error }

func (e waitError) Error() string { return e.err.Error() }
func (e waitError) Unwrap() error { return e.err }

// envelope decodes the record of one EVENTS message and returns the table
// layout its payload decodes with, laying out (and creating or widening)
// the table first when its version is new.
func (l *Loader) envelope(ctx context.Context, m jetstream.Msg, refreshed *bool) (*busv1.EventRecord, *Table, uint64, time.Time, error) {
	rec := &busv1.EventRecord{}
	if err := proto.Unmarshal(m.Data(), rec); err != nil {
		return nil, nil, 0, time.Time{}, fmt.Errorf("not an EventRecord: %w", err)
	}
	if rec.GetId() == "" {
		return nil, nil, 0, time.Time{}, errors.New("the record has no id")
	}
	meta, err := m.Metadata()
	if err != nil {
		return nil, nil, 0, time.Time{}, fmt.Errorf("message metadata: %w", err)
	}
	t, err := l.table(ctx, rec, refreshed)
	if err != nil {
		return nil, nil, 0, time.Time{}, err
	}
	return rec, t, meta.Sequence.Stream, meta.Timestamp, nil
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

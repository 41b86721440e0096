package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
)

// WarehouseConfig configures the Warehouse consumer.
type WarehouseConfig struct {
	// Durable is the JetStream consumer name; 0 value "warehouse". Two
	// warehouses with the same name share the work.
	Durable string
	// BatchSize is the most records written in one COPY; 0 means 500.
	BatchSize int
	// BatchWait is the longest a batch waits to fill; 0 means 1s.
	BatchWait time.Duration
	// RetryWait is the pause after a failed write before the batch is
	// delivered again; 0 means 5s.
	RetryWait time.Duration
	Logger    *slog.Logger
}

// Warehouse consumes the EVENTS stream into a WarehouseStore: a durable pull
// consumer, batches written in one transaction, messages acknowledged only
// after it committed. A redelivered message is stored once (the store is
// idempotent), so a crash between commit and ack loses nothing and doubles
// nothing.
type Warehouse struct {
	js    jetstream.JetStream
	store WarehouseStore
	cfg   WarehouseConfig
	log   *slog.Logger
}

// NewWarehouse returns the warehouse consumer of js's EVENTS stream into
// store. Run it with Run.
func NewWarehouse(js jetstream.JetStream, store WarehouseStore, cfg WarehouseConfig) *Warehouse {
	if cfg.Durable == "" {
		cfg.Durable = "warehouse"
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
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
	return &Warehouse{js: js, store: store, cfg: cfg, log: cfg.Logger.With("consumer", cfg.Durable)}
}

// Run consumes until ctx is done; it returns nil then, and an error only
// when the consumer cannot be set up.
func (w *Warehouse) Run(ctx context.Context) error {
	cons, err := w.js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable:       w.cfg.Durable,
		Description:   "Warehouse: accepted events into PostgreSQL ingest.events",
		FilterSubject: "events.>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.BatchWait + time.Minute,
		MaxAckPending: 4 * w.cfg.BatchSize,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("warehouse: create consumer %s on %s: %w", w.cfg.Durable, bus.StreamEvents, err)
	}
	for ctx.Err() == nil {
		if err := w.consumeBatch(ctx, cons); err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn("warehouse: batch not stored; it will be delivered again", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(w.cfg.RetryWait):
			}
		}
	}
	return nil
}

// consumeBatch fetches one batch, stores it and acknowledges it.
func (w *Warehouse) consumeBatch(ctx context.Context, cons jetstream.Consumer) error {
	batch, err := cons.Fetch(w.cfg.BatchSize, jetstream.FetchMaxWait(w.cfg.BatchWait))
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	var (
		msgs   []jetstream.Msg
		events []StoredEvent
	)
	for m := range batch.Messages() {
		e, err := storedEvent(m)
		if err != nil {
			// A record that never decodes would come back forever.
			w.log.Error("warehouse: dropping a message that is not an EventRecord", "subject", m.Subject(), "err", err)
			_ = m.Term()
			continue
		}
		msgs = append(msgs, m)
		events = append(events, e)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		w.log.Debug("warehouse: fetch ended early", "err", err)
	}
	if len(events) == 0 {
		return nil
	}
	if err := w.store.WriteEvents(ctx, events); err != nil {
		for _, m := range msgs {
			_ = m.NakWithDelay(w.cfg.RetryWait)
		}
		return err
	}
	for _, m := range msgs {
		// A lost ack means a redelivery, which the store absorbs.
		if err := m.Ack(); err != nil {
			w.log.Debug("warehouse: ack failed; the event will be delivered again and skipped", "err", err)
		}
	}
	return nil
}

// storedEvent decodes the EventRecord of an EVENTS message.
func storedEvent(m jetstream.Msg) (StoredEvent, error) {
	rec := &busv1.EventRecord{}
	if err := proto.Unmarshal(m.Data(), rec); err != nil {
		return StoredEvent{}, err
	}
	if rec.GetId() == "" {
		return StoredEvent{}, errors.New("the record has no id")
	}
	e := StoredEvent{
		ID:          rec.GetId(),
		EventID:     rec.GetEventId(),
		Version:     rec.GetEventVersion(),
		EventName:   rec.GetEventName(),
		Environment: rec.GetEnvironment(),
		UserID:      rec.GetUserId(),
		KeyID:       rec.GetSource().GetKeyId(),
		Payload:     rec.GetPayload(),
	}
	if e.Payload == nil {
		e.Payload = []byte{}
	}
	if rec.GetOccurredAt() != nil {
		e.OccurredAt = rec.GetOccurredAt().AsTime()
	}
	if rec.GetReceivedAt() != nil {
		e.ReceivedAt = rec.GetReceivedAt().AsTime()
	} else if meta, err := m.Metadata(); err == nil {
		e.ReceivedAt = meta.Timestamp
	} else {
		return StoredEvent{}, errors.New("the record has no received_at")
	}
	return e, nil
}

package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
)

// SubscriptionsConfig configures the delivery of subscriptions.
type SubscriptionsConfig struct {
	// Heartbeat is how often a Subscribe stream without events hears from
	// ingest.
	Heartbeat time.Duration
	// PullAckWait is how long a pulled event may stay unacknowledged
	// before JetStream delivers it again to the same stream (a new stream
	// starts after the last ack at once).
	PullAckWait time.Duration
	// MaxAckPending bounds the unacknowledged events of a pull subscription.
	MaxAckPending int
	// WebhookTimeout bounds one webhook request.
	WebhookTimeout time.Duration
	// WebhookBackoff is the wait after a webhook's first failed attempt;
	// it doubles after each, up to WebhookMaxBackoff.
	WebhookBackoff    time.Duration
	WebhookMaxBackoff time.Duration
	// Poll is how often the webhook workers are matched to the stored
	// subscriptions (created, paused or deleted on another instance).
	Poll time.Duration
	// HTTPClient posts webhooks; default one that connects only where
	// Config.WebhookNetworks allows. It never follows redirects.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// DefaultSubscriptionsConfig returns the defaults.
func DefaultSubscriptionsConfig() SubscriptionsConfig {
	return SubscriptionsConfig{Heartbeat: 5 * time.Second, PullAckWait: 5 * time.Minute, MaxAckPending: 10000,
		WebhookTimeout: 10 * time.Second, WebhookBackoff: time.Second, WebhookMaxBackoff: time.Minute, Poll: 2 * time.Second}
}

// Subscriptions runs the subscriptions of one ingest instance: it creates,
// pauses and deletes their durable consumers, streams pull subscriptions,
// pushes webhook ones (Run) and reports their lag.
type Subscriptions struct {
	store SubscriptionStore
	js    jetstream.JetStream
	nc    *nats.Conn
	// catalogue is the catalogue JSON payloads are decoded with.
	catalogue func() *Catalogue
	cfg       SubscriptionsConfig
	log       *slog.Logger
	lag       *prometheus.Desc
	ackLag    *prometheus.Desc

	// poke wakes Run when a subscription changed on this instance.
	poke chan struct{}
	mu   sync.Mutex
	// workers are the running webhook workers by subscription name.
	workers map[string]*webhookWorker
	// pulls are the Subscribe streams running here, one per subscription.
	pulls map[string]*pullStream
	// fetchBytes bounds the events one Subscribe stream fetches and holds
	// at once.
	fetchBytes int
}

// NewSubscriptions returns the subscriptions of svc kept in store, their
// consumers on js's EVENTS stream; nc carries acks. Zero fields of cfg take
// their defaults.
func NewSubscriptions(svc *Service, store SubscriptionStore, js jetstream.JetStream, nc *nats.Conn, cfg SubscriptionsConfig) *Subscriptions {
	def := DefaultSubscriptionsConfig()
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = def.Heartbeat
	}
	if cfg.PullAckWait <= 0 {
		cfg.PullAckWait = def.PullAckWait
	}
	if cfg.MaxAckPending <= 0 {
		cfg.MaxAckPending = def.MaxAckPending
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = def.WebhookTimeout
	}
	if cfg.WebhookBackoff <= 0 {
		cfg.WebhookBackoff = def.WebhookBackoff
	}
	if cfg.WebhookMaxBackoff <= 0 {
		cfg.WebhookMaxBackoff = def.WebhookMaxBackoff
	}
	if cfg.Poll <= 0 {
		cfg.Poll = def.Poll
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = webhookClient(svc.cfg.WebhookNetworks, cfg.WebhookTimeout)
	} else {
		// A client given here dials as it does, but never follows a
		// redirect either.
		client := *cfg.HTTPClient
		client.CheckRedirect = noRedirects
		cfg.HTTPClient = &client
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	m := &Subscriptions{store: store, js: js, nc: nc, catalogue: svc.currentCatalogue, cfg: cfg, log: log,
		lag: prometheus.NewDesc("clickstream_ingest_subscription_lag",
			"Events matching a subscription not delivered yet (its durable consumer's NumPending).", []string{"subscription"}, nil),
		ackLag: prometheus.NewDesc("clickstream_ingest_subscription_ack_pending",
			"Events delivered to a subscription and not acknowledged yet.", []string{"subscription"}, nil),
		poke: make(chan struct{}, 1), workers: map[string]*webhookWorker{}, pulls: map[string]*pullStream{},
		// Room for the largest event ingest accepts, twice over with its
		// record around it: a message larger than a fetch would stop the
		// stream.
		fetchBytes: max(pullFetchBytes, 2*svc.cfg.MaxEventBytes+64<<10)}
	return m
}

// Create validates sub, stores it and creates its durable consumer, which
// starts at the next event.
func (m *Subscriptions) Create(ctx context.Context, sub Subscription) (Subscription, error) {
	if err := sub.validate(m.catalogue()); err != nil {
		return Subscription{}, fmt.Errorf("%w: %w", errInvalidSubscription, err)
	}
	if err := m.store.CreateSubscription(ctx, sub); err != nil {
		return Subscription{}, err
	}
	if err := m.ensureConsumer(ctx, sub); err != nil {
		if derr := m.store.DeleteSubscription(context.WithoutCancel(ctx), sub.Name); derr != nil {
			m.log.Warn("subscription: undo create", "subscription", sub.Name, "err", derr)
		}
		return Subscription{}, err
	}
	m.wake()
	return m.store.Subscription(ctx, sub.Name)
}

var errInvalidSubscription = errors.New("invalid subscription")

// consumerConfig is the durable consumer of sub.
func (m *Subscriptions) consumerConfig(sub Subscription) (jetstream.ConsumerConfig, error) {
	subjects, err := sub.FilterSubjects()
	if err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       sub.Consumer(),
		Description:   fmt.Sprintf("subscription %s of team %s (%s, %s)", sub.Name, sub.OwnerTeam, sub.Delivery, sub.Format),
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       m.cfg.PullAckWait,
		MaxAckPending: m.cfg.MaxAckPending,
		MaxDeliver:    -1,
	}
	switch sub.Delivery {
	case DeliveryPull:
		// A cursor: an ack covers every event before it.
		cfg.AckPolicy = jetstream.AckAllPolicy
	case DeliveryWebhook:
		// Longer than an attempt and the longest backoff after it: a
		// worker renews the wait before each retry (InProgress).
		cfg.AckWait = 2 * (m.cfg.WebhookTimeout + m.cfg.WebhookMaxBackoff)
		cfg.MaxAckPending = 1000
	case DeliveryDurable:
		cfg.AckWait = 30 * time.Second
		cfg.MaxAckPending = 1000
	}
	if len(subjects) == 1 {
		cfg.FilterSubject = subjects[0]
	} else {
		cfg.FilterSubjects = subjects
	}
	return cfg, nil
}

// ensureConsumer creates sub's durable consumer.
func (m *Subscriptions) ensureConsumer(ctx context.Context, sub Subscription) error {
	cfg, err := m.consumerConfig(sub)
	if err != nil {
		return err
	}
	if _, err := m.js.CreateConsumer(ctx, bus.StreamEvents, cfg); err != nil {
		return fmt.Errorf("create the durable consumer %s of subscription %s: %w", cfg.Durable, sub.Name, err)
	}
	return nil
}

// Get returns a subscription with its lag.
func (m *Subscriptions) Get(ctx context.Context, name string) (Subscription, *ingestv1.SubscriptionLag, error) {
	sub, err := m.store.Subscription(ctx, name)
	if err != nil {
		return Subscription{}, nil, err
	}
	return sub, m.Lag(ctx, sub), nil
}

// List returns the subscriptions of ownerTeam ("" for all).
func (m *Subscriptions) List(ctx context.Context, ownerTeam string) ([]Subscription, error) {
	return m.store.ListSubscriptions(ctx, ownerTeam)
}

// Lag is the position of sub's consumer; nil when it cannot be read.
func (m *Subscriptions) Lag(ctx context.Context, sub Subscription) *ingestv1.SubscriptionLag {
	// Looking the consumer up reads its info: one request, not two.
	c, err := m.js.Consumer(ctx, bus.StreamEvents, sub.Consumer())
	if err != nil {
		return nil
	}
	info := c.CachedInfo()
	return &ingestv1.SubscriptionLag{Pending: info.NumPending, AckPending: uint64(info.NumAckPending), AckFloorSequence: info.AckFloor.Stream}
}

// Pause pauses sub's consumer (every delivery stops) and records it.
func (m *Subscriptions) Pause(ctx context.Context, name, actor string) (Subscription, error) {
	sub, err := m.store.Subscription(ctx, name)
	if err != nil {
		return Subscription{}, err
	}
	if _, err := m.js.PauseConsumer(ctx, bus.StreamEvents, sub.Consumer(), time.Now().AddDate(100, 0, 0)); err != nil {
		return Subscription{}, fmt.Errorf("pause the consumer %s: %w", sub.Consumer(), err)
	}
	sub, err = m.store.SetSubscriptionState(ctx, name, StatePaused, "", actor)
	m.wake()
	return sub, err
}

// Resume resumes a paused or parked subscription where it stopped.
func (m *Subscriptions) Resume(ctx context.Context, name, actor string) (Subscription, error) {
	sub, err := m.store.Subscription(ctx, name)
	if err != nil {
		return Subscription{}, err
	}
	if _, err := m.js.ResumeConsumer(ctx, bus.StreamEvents, sub.Consumer()); err != nil {
		return Subscription{}, fmt.Errorf("resume the consumer %s: %w", sub.Consumer(), err)
	}
	sub, err = m.store.SetSubscriptionState(ctx, name, StateActive, "", actor)
	m.wake()
	return sub, err
}

// Delete deletes the subscription and its consumer.
func (m *Subscriptions) Delete(ctx context.Context, name string) error {
	sub, err := m.store.Subscription(ctx, name)
	if err != nil {
		return err
	}
	if err := m.store.DeleteSubscription(ctx, name); err != nil {
		return err
	}
	m.wake()
	if err := m.js.DeleteConsumer(ctx, bus.StreamEvents, sub.Consumer()); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete the consumer %s: %w", sub.Consumer(), err)
	}
	return nil
}

func (m *Subscriptions) wake() {
	select {
	case m.poke <- struct{}{}:
	default:
	}
}

// encode is the body of msg in sub's format, with its content type.
func (m *Subscriptions) encode(sub Subscription, msg jetstream.Msg) (ev *ingestv1.SubscriptionEvent, body []byte, contentType string, err error) {
	rec := &busv1.EventRecord{}
	if err := proto.Unmarshal(msg.Data(), rec); err != nil {
		return nil, nil, "", fmt.Errorf("decode the event record on %s: %w", msg.Subject(), err)
	}
	ev = &ingestv1.SubscriptionEvent{Id: rec.GetId(), EventName: rec.GetEventName(), Environment: rec.GetEnvironment()}
	if meta, err := msg.Metadata(); err == nil {
		ev.Sequence, ev.DeliveryCount = meta.Sequence.Stream, meta.NumDelivered
	}
	if sub.Format == FormatBinary {
		ev.Body = &ingestv1.SubscriptionEvent_Record{Record: msg.Data()}
		return ev, msg.Data(), "application/x-protobuf", nil
	}
	doc, err := m.recordJSON(rec)
	if err != nil {
		return nil, nil, "", err
	}
	ev.Body = &ingestv1.SubscriptionEvent_Json{Json: string(doc)}
	return ev, doc, "application/json", nil
}

// recordJSON is rec in protojson with "payload" the event message in
// protojson, decoded with the catalogue's descriptor of its version; it
// takes the payload out of rec. A version the catalogue does not know (yet)
// keeps the payload as base64.
func (m *Subscriptions) recordJSON(rec *busv1.EventRecord) ([]byte, error) {
	t, ok := m.catalogue().ByName(rec.GetEventName())
	if !ok {
		return protojson.Marshal(rec)
	}
	payload := dynamicpb.NewMessage(t.Descriptor)
	if err := proto.Unmarshal(rec.GetPayload(), payload); err != nil {
		return nil, fmt.Errorf("decode the payload of event %s (%s): %w", rec.GetId(), rec.GetEventName(), err)
	}
	payloadJSON, err := protojson.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode the payload of event %s (%s): %w", rec.GetId(), rec.GetEventName(), err)
	}
	// rec is this delivery's own copy: the payload, now encoded, leaves it.
	rec.Payload = nil
	doc, err := protojson.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", rec.GetId(), err)
	}
	// doc is an object: add "payload" before its closing brace.
	doc = doc[:len(doc)-1]
	if len(doc) > 1 {
		doc = append(doc, ',')
	}
	doc = append(doc, `"payload":`...)
	doc = append(doc, payloadJSON...)
	return append(doc, '}'), nil
}

// Subscribe sends the events of the pull subscription name to send, in
// batches of at most maxBatch, until ctx is done or send fails; a heartbeat
// (no events) while none come. A pull subscription is a cursor: an ack
// acknowledges its event and every one before it (AckAll), and each stream
// starts right after the last acknowledged event (the consumer is reset to
// its ack floor), so a subscriber that reconnects gets no gap and no
// repeat. On one instance a subscription has one stream: a new one
// replaces the one before once that stopped fetching.
func (m *Subscriptions) Subscribe(ctx context.Context, name string, maxBatch int, send func(*ingestv1.SubscribeResponse) error) error {
	sub, err := m.store.Subscription(ctx, name)
	if err != nil {
		return err
	}
	if sub.Delivery != DeliveryPull {
		return fmt.Errorf("%w: subscription %s is delivered by %s, not pull: read it %s", errNotPull, name, sub.Delivery, readHint(sub))
	}
	if sub.State != StateActive {
		return fmt.Errorf("%w: subscription %s is %s: resume it first", errNotActive, name, sub.State)
	}
	if maxBatch <= 0 || maxBatch > 1000 {
		maxBatch = 256
	}
	cons, err := m.js.Consumer(ctx, bus.StreamEvents, sub.Consumer())
	if err != nil {
		return fmt.Errorf("the durable consumer %s of subscription %s: %w", sub.Consumer(), name, err)
	}
	ctx, stopped := m.takeOver(ctx, name)
	defer stopped()
	if _, err := m.js.ResetConsumer(ctx, bus.StreamEvents, sub.Consumer()); err != nil {
		return fmt.Errorf("start subscription %s after its last ack (reset the consumer %s): %w", name, sub.Consumer(), err)
	}
	wait := min(time.Second, m.cfg.Heartbeat)
	lastSend := time.Now()
	var sendErr error
	linger := time.NewTimer(pullLinger)
	defer linger.Stop()
	for ctx.Err() == nil && sendErr == nil {
		// The fetch is not bound to ctx: once the stream ends, what the
		// fetch still brings is read to its end, so the stream stops
		// fetching before a new one starts.
		batch, err := cons.FetchBytes(m.fetchBytes, jetstream.FetchMaxWait(wait))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("fetch from the consumer %s: %w", sub.Consumer(), err)
		}
		msgs := batch.Messages()
		resp := &ingestv1.SubscribeResponse{}
		flush := func() {
			if len(resp.Events) == 0 || sendErr != nil || ctx.Err() != nil {
				return
			}
			if sendErr = send(resp); sendErr == nil {
				lastSend = time.Now()
			}
			resp = &ingestv1.SubscribeResponse{}
		}
		for open := true; open; {
			var msg jetstream.Msg
			switch {
			case sendErr != nil || ctx.Err() != nil:
				msg, open = <-msgs
			case len(resp.Events) == 0:
				select {
				case msg, open = <-msgs:
				case <-ctx.Done():
					continue
				}
			default:
				// Gather what comes within the linger into one response.
				linger.Reset(pullLinger)
				select {
				case msg, open = <-msgs:
				case <-linger.C:
					flush()
					continue
				}
			}
			if !open || sendErr != nil || ctx.Err() != nil {
				continue
			}
			resp.Events = append(resp.Events, m.pullEvent(sub, msg))
			if len(resp.Events) >= maxBatch {
				flush()
			}
		}
		flush()
		if sendErr == nil && ctx.Err() == nil && time.Since(lastSend) >= m.cfg.Heartbeat {
			if sendErr = send(&ingestv1.SubscribeResponse{}); sendErr == nil {
				lastSend = time.Now()
			}
		}
	}
	if sendErr == nil && errors.Is(context.Cause(ctx), errReplaced) {
		return fmt.Errorf("%w: %w", errNotActive, errReplaced)
	}
	return sendErr
}

// A Subscribe stream fetches at most pullFetchBytes of events at once (more
// when one event may be larger: see NewSubscriptions), which bounds what a
// stream holds, and gathers the events that come within pullLinger of each
// other into one response.
const (
	pullFetchBytes = 8 << 20
	pullLinger     = time.Millisecond
)

// pullEvent is msg as a Subscribe stream carries it.
func (m *Subscriptions) pullEvent(sub Subscription, msg jetstream.Msg) *ingestv1.SubscriptionEvent {
	ev, _, _, err := m.encode(sub, msg)
	if err != nil {
		// A record that does not decode goes on as its bytes.
		m.log.Warn("subscription: event not encodable as asked, delivered binary", "subscription", sub.Name, "subject", msg.Subject(), "err", err)
		ev = &ingestv1.SubscriptionEvent{Body: &ingestv1.SubscriptionEvent_Record{Record: msg.Data()}}
		if meta, err := msg.Metadata(); err == nil {
			ev.Sequence, ev.DeliveryCount = meta.Sequence.Stream, meta.NumDelivered
		}
	}
	ev.AckToken = msg.Reply()
	return ev
}

// pullStream is a Subscribe stream running on this instance.
type pullStream struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// errReplaced ends a Subscribe stream a newer one replaced.
var errReplaced = errors.New("a newer Subscribe stream of this subscription replaced this one")

// takeOver makes the stream of ctx the one stream of subscription name on
// this instance: a stream there before it (a subscriber that reconnected
// before its old stream noticed) is ended and has stopped fetching when
// takeOver returns. The returned context ends when a newer stream takes
// over; call the returned func once the stream stopped fetching.
func (m *Subscriptions) takeOver(ctx context.Context, name string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	self := &pullStream{cancel: cancel, done: make(chan struct{})}
	for {
		m.mu.Lock()
		old := m.pulls[name]
		if old == nil {
			m.pulls[name] = self
			m.mu.Unlock()
			break
		}
		m.mu.Unlock()
		old.cancel(errReplaced)
		<-old.done
	}
	return ctx, func() {
		m.mu.Lock()
		if m.pulls[name] == self {
			delete(m.pulls, name)
		}
		m.mu.Unlock()
		close(self.done)
		cancel(nil)
	}
}

// nakInOrder hands msgs back to their consumer, lowest stream sequence
// first, so they are delivered again in their order, and returns once the
// bus processed them all: the acks of a consumer are processed in order,
// and the last is a request the bus answers.
func (m *Subscriptions) nakInOrder(msgs []jetstream.Msg) {
	if len(msgs) == 0 {
		return
	}
	seq := func(msg jetstream.Msg) uint64 {
		if meta, err := msg.Metadata(); err == nil {
			return meta.Sequence.Stream
		}
		return 0
	}
	slices.SortFunc(msgs, func(a, b jetstream.Msg) int { return cmp.Compare(seq(a), seq(b)) })

	last := msgs[len(msgs)-1]
	for _, msg := range msgs[:len(msgs)-1] {
		_ = msg.Nak()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.nc.RequestWithContext(ctx, last.Reply(), []byte("-NAK")); err != nil {
		m.log.Warn("subscription: hand events back", "events", len(msgs), "err", err)
	}
}

var (
	errNotPull   = errors.New("not a pull subscription")
	errNotActive = errors.New("subscription not active")
	errBadToken  = errors.New("bad ack token")
)

// readHint says how a subscription of another delivery is read.
func readHint(sub Subscription) string {
	switch sub.Delivery {
	case DeliveryDurable:
		return fmt.Sprintf("with a NATS client from the durable consumer %s on stream %s", sub.Consumer(), bus.StreamEvents)
	case DeliveryWebhook:
		return "at its webhook, where ingest posts them"
	}
	return "with Subscribe"
}

// Ack acknowledges events of the pull subscription name by their ack
// tokens, and with each every event delivered before it (the highest
// token counts); it returns once JetStream recorded it.
func (m *Subscriptions) Ack(ctx context.Context, name string, tokens []string) (int, error) {
	sub, err := m.store.Subscription(ctx, name)
	if err != nil {
		return 0, err
	}
	if sub.Delivery != DeliveryPull {
		return 0, fmt.Errorf("%w: subscription %s is delivered by %s; only pull subscriptions are acknowledged with AckEvents", errNotPull, name, sub.Delivery)
	}
	prefix := "$JS.ACK." + bus.StreamEvents + "." + sub.Consumer() + "."
	var (
		highest string
		top     uint64
	)
	for _, t := range tokens {
		seq, ok := ackTokenSequence(t, prefix)
		if !ok {
			return 0, fmt.Errorf("%w: %s is not an ack token of subscription %s: pass the ack_token of its events", errBadToken, escapeClipped(t, 120), name)
		}
		if seq >= top {
			highest, top = t, seq
		}
	}
	if highest == "" {
		return 0, nil
	}
	if _, err := m.nc.RequestWithContext(ctx, highest, []byte("+ACK")); err != nil {
		return 0, fmt.Errorf("acknowledge (the bus did not confirm; acknowledge again): %w", err)
	}
	return len(tokens), nil
}

// ackTokenSequence is the stream sequence in an ack token (a JetStream
// reply subject, $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.
// <consumer seq>.<time>.<pending>) of the consumer prefix names.
func ackTokenSequence(token, prefix string) (uint64, bool) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok || strings.ContainsAny(token, "*> \t\r\n") {
		return 0, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 5 {
		return 0, false
	}
	seq, err := strconv.ParseUint(parts[1], 10, 64)
	return seq, err == nil
}

// Describe implements prometheus.Collector.
func (m *Subscriptions) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.lag
	ch <- m.ackLag
}

// Collect implements prometheus.Collector: the lag of every subscription,
// read from its consumer at scrape time.
func (m *Subscriptions) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	subs, err := m.store.ListSubscriptions(ctx, "")
	if err != nil {
		m.log.Warn("subscription lag: list subscriptions", "err", err)
		return
	}
	for _, sub := range subs {
		lag := m.Lag(ctx, sub)
		if lag == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(m.lag, prometheus.GaugeValue, float64(lag.Pending), sub.Name)
		ch <- prometheus.MustNewConstMetric(m.ackLag, prometheus.GaugeValue, float64(lag.AckPending), sub.Name)
	}
}

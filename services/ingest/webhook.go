package ingest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickstream-dev/clickstream/internal/bus"
)

// Headers of a webhook request.
const (
	// WebhookSignatureHeader is "sha256=" and the hex HMAC-SHA256, keyed by
	// the subscription's secret, of the timestamp header's value, ".", and
	// the body.
	WebhookSignatureHeader = "Clickstream-Signature"
	// WebhookTimestampHeader is the request's time in Unix seconds.
	WebhookTimestampHeader    = "Clickstream-Timestamp"
	WebhookSubscriptionHeader = "Clickstream-Subscription"
	// WebhookEventHeader is the event's id: a retried or redelivered event
	// carries the same, so a receiver can drop one it has.
	WebhookEventHeader    = "Clickstream-Event-Id"
	WebhookSequenceHeader = "Clickstream-Sequence"
	WebhookAttemptHeader  = "Clickstream-Attempt"
)

// WebhookSignature is the signature header's value for body sent at
// timestamp with secret.
func WebhookSignature(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyWebhookSignature reports whether signature signs body sent at
// timestamp with secret.
func VerifyWebhookSignature(secret, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(WebhookSignature(secret, timestamp, body)), []byte(signature))
}

// newWebhookSecret is a new signing secret.
func newWebhookSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + hex.EncodeToString(b[:])
}

// webhookWorker pushes one webhook subscription's events.
type webhookWorker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Run pushes the webhook subscriptions that are active until ctx is done:
// one worker per subscription on each instance (instances share a
// subscription's events through its consumer), started and stopped as
// subscriptions are created, paused, parked, resumed and deleted.
func (m *Subscriptions) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Poll)
	defer t.Stop()
	defer m.stopWorkers(nil)
	for {
		m.syncWorkers(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.poke:
		}
	}
}

// syncWorkers matches the running workers to the stored subscriptions.
func (m *Subscriptions) syncWorkers(ctx context.Context) {
	subs, err := m.store.ListSubscriptions(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("subscriptions: list", "err", err)
		}
		return
	}
	want := map[string]Subscription{}
	for _, sub := range subs {
		if sub.Delivery == DeliveryWebhook && sub.State == StateActive {
			want[sub.Name] = sub
		}
	}
	m.stopWorkers(want)
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, sub := range want {
		if _, ok := m.workers[name]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &webhookWorker{cancel: cancel, done: make(chan struct{})}
		m.workers[name] = w
		go func() {
			defer close(w.done)
			m.push(wctx, sub)
		}()
	}
}

// stopWorkers stops the workers whose subscription is not in keep (all
// with nil) and waits for them.
func (m *Subscriptions) stopWorkers(keep map[string]Subscription) {
	m.mu.Lock()
	var stopped []*webhookWorker
	for name, w := range m.workers {
		if _, ok := keep[name]; ok {
			select {
			case <-w.done: // ended by itself (parked): start again if active
			default:
				continue
			}
		}
		w.cancel()
		stopped = append(stopped, w)
		delete(m.workers, name)
	}
	m.mu.Unlock()
	for _, w := range stopped {
		<-w.done
	}
}

// push delivers sub's events to its webhook one at a time until ctx is
// done or the subscription is parked.
func (m *Subscriptions) push(ctx context.Context, sub Subscription) {
	log := m.log.With("subscription", sub.Name, "webhook", sub.WebhookURL)
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		var err error
		if cons == nil {
			if cons, err = m.js.Consumer(ctx, bus.StreamEvents, sub.Consumer()); err != nil {
				log.Warn("webhook: consumer", "err", err)
				sleep(ctx, m.cfg.Poll)
				continue
			}
		}
		// One event at a time: an event waiting behind one that is being
		// retried would outlive its ack wait and be delivered twice.
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("webhook: fetch", "err", err)
				cons = nil
				sleep(ctx, m.cfg.Poll)
			}
			continue
		}
		// Events handed back when parking are nak'd once the fetch ended:
		// nak'd earlier, they would come back into the same fetch, after
		// the ones behind them.
		var handBack []jetstream.Msg
		for msg := range batch.Messages() {
			if handBack != nil || ctx.Err() != nil {
				handBack = append(handBack, msg)
				continue
			}
			if err := m.deliver(ctx, sub, msg); err != nil {
				handBack = append(handBack, msg)
				if ctx.Err() != nil {
					continue
				}
				reason := err.Error()
				if _, serr := m.store.SetSubscriptionState(context.WithoutCancel(ctx), sub.Name, StateParked, reason, "webhook"); serr != nil {
					log.Error("webhook: park", "err", serr)
				}
				log.Warn("webhook parked", "reason", reason)
			}
		}
		m.nakInOrder(handBack)
		if handBack != nil && ctx.Err() == nil {
			return
		}
	}
}

// deliver posts msg until the webhook takes it (2xx) or MaxFailures
// attempts failed; then it acknowledges the event.
func (m *Subscriptions) deliver(ctx context.Context, sub Subscription, msg jetstream.Msg) error {
	ev, body, contentType, err := m.encode(sub, msg)
	if err != nil {
		// It can never be delivered as asked: park with the reason.
		return err
	}
	backoff := m.cfg.WebhookBackoff
	var last error
	for attempt := 1; attempt <= sub.MaxFailures; attempt++ {
		if last = m.post(ctx, sub, ev.GetId(), ev.GetSequence(), attempt, body, contentType); last == nil {
			if err := msg.DoubleAck(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("acknowledge event %s: %w", ev.GetId(), err)
			}
			return nil
		}
		var p permanent
		if errors.As(last, &p) {
			return fmt.Errorf("event %s (sequence %d) not delivered: %w", ev.GetId(), ev.GetSequence(), last)
		}
		if attempt == sub.MaxFailures || ctx.Err() != nil {
			break
		}
		_ = msg.InProgress()
		sleep(ctx, backoff)
		backoff = min(2*backoff, m.cfg.WebhookMaxBackoff)
	}
	return fmt.Errorf("event %s (sequence %d) failed %d times, the last: %w", ev.GetId(), ev.GetSequence(), sub.MaxFailures, last)
}

// post sends one request; a status other than 2xx is an error.
func (m *Subscriptions) post(ctx context.Context, sub Subscription, id string, seq uint64, attempt int, body []byte, contentType string) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(WebhookTimestampHeader, ts)
	req.Header.Set(WebhookSignatureHeader, WebhookSignature(sub.WebhookSecret, ts, body))
	req.Header.Set(WebhookSubscriptionHeader, sub.Name)
	req.Header.Set(WebhookEventHeader, id)
	req.Header.Set(WebhookSequenceHeader, strconv.FormatUint(seq, 10))
	req.Header.Set(WebhookAttemptHeader, strconv.Itoa(attempt))
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		if errors.Is(err, errNetworkRefused) {
			return permanent{fmt.Errorf("webhook %s: %w", sub.WebhookURL, err)}
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		// Never followed: the signed event would go wherever the receiver
		// points, loopback admin ports and metadata endpoints included.
		to := resp.Header.Get("Location")
		return permanent{fmt.Errorf("the webhook answered %s, redirecting to %s: ingest never follows redirects; set the subscription's URL to where events should go",
			resp.Status, escapeClipped(to, 200))}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errors.New("the webhook answered " + resp.Status)
	}
	return nil
}

// permanent marks a delivery failure no retry can mend (a redirect, a
// refused address): the subscription parks at once with the reason.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

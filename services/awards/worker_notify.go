package awards

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Notifier delivers the outbox — achievements granted and revoked, new
// achievements announced — to a webhook and to the AWARDS stream.
//
// Delivery state lives in awards.deliveries, one row per outbox row and
// channel. Each cycle creates the rows of new outbox rows, then claims the
// due rows of a channel with FOR UPDATE SKIP LOCKED (so several instances
// share the work), sends them and records every attempt in that same
// transaction: a delivery is marked delivered in the transaction that
// records its successful attempt, and a failed one is retried with
// exponential backoff and jitter, then parked after MaxAttempts failures
// with its last error. Rows a backfill made without asking for
// notifications are suppressed: never sent.
//
// Users' NotificationSettings are honoured: a notification addressed to a
// user who opted out of it (every notification, or announcements only) is
// skipped — recorded as a delivery in state skipped with the reason in its
// last error, listed by ListNotifications and counted in
// clickstream_awards_notifications_skipped_total — instead of being sent.
// The settings are read when the deliveries are created and again when a
// due delivery is claimed, so an opt-out also stops a notification still
// waiting for a retry. Announcements of a new achievement are broadcast
// with no user and are never skipped: the receiver that fans them out to
// users applies the settings.
//
// So each notification reaches each channel at most once across retries and
// restarts, but for one window: a crash (or a lost database connection)
// after the channel accepted a notification and before the transaction
// committed leaves the delivery pending, and it is sent again. Receivers
// therefore get the notification id to deduplicate on: the webhook in the
// X-Clickstream-Notification-Id header and the body, the bus as Nats-Msg-Id,
// which JetStream itself dedupes within the stream's duplicate window.
// Stopping Run (cancelling its context) is not such a crash: the batch in
// flight is finished and recorded first.
//
// Both channels carry the same JSON body, a NotificationMessage. The bus
// subject is awards.<kind>.<achievement_id>.
type Notifier struct {
	store    DeliveryStore
	cfg      NotifierConfig
	channels []string
	log      *slog.Logger

	delivered  *prometheus.CounterVec
	failed     *prometheus.CounterVec
	parked     *prometheus.CounterVec
	suppressed prometheus.Counter
	skipped    *prometheus.CounterVec
}

// NotifierConfig configures a Notifier. Zero values take the defaults.
type NotifierConfig struct {
	// WebhookURL receives notifications by POST when set.
	WebhookURL string
	// WebhookSecret is the HMAC-SHA256 key of the webhook signature.
	WebhookSecret string
	// HTTPClient posts to the webhook; a client with Timeout when nil.
	HTTPClient *http.Client
	// Timeout bounds one webhook request or bus publication; default 10s.
	Timeout time.Duration
	// JetStream publishes to the AWARDS stream; no bus channel when nil.
	JetStream jetstream.JetStream
	// MaxAttempts is how many failed attempts park a delivery; default 10.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure, doubling after
	// each further one up to MaxBackoff, ±20% jitter; defaults 1s and 10m.
	InitialBackoff, MaxBackoff time.Duration
	// Batch bounds the deliveries claimed per channel and cycle; default 50.
	Batch int
	// Parallel bounds the notifications sent at once; default 8.
	Parallel int
	// Interval is the pause after a cycle that found less than a full
	// batch; default 500ms.
	Interval time.Duration
	Logger   *slog.Logger
}

// The webhook headers. The signature is
//
//	X-Clickstream-Signature: sha256=hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// where timestamp is the X-Clickstream-Timestamp header, the Unix time in
// seconds of the attempt. A receiver recomputes the signature over the raw
// body, compares it in constant time, rejects a timestamp older than a few
// minutes (a replayed request keeps its old timestamp, and changing it
// breaks the signature) and deduplicates on X-Clickstream-Notification-Id.
// VerifyWebhookSignature does all but the last.
const (
	HeaderSignature      = "X-Clickstream-Signature"
	HeaderTimestamp      = "X-Clickstream-Timestamp"
	HeaderNotificationID = "X-Clickstream-Notification-Id"
)

// NotificationMessage is the JSON body of a notification on both channels.
type NotificationMessage struct {
	ID            int64     `json:"id"`
	Kind          string    `json:"kind"` // granted, revoked or announced
	UserID        string    `json:"user_id,omitempty"`
	AchievementID string    `json:"achievement_id"`
	Progress      float64   `json:"progress"`
	Goal          float64   `json:"goal"`
	CreatedAt     time.Time `json:"created_at"`
	Backfilled    bool      `json:"backfilled"`
}

// NewNotifier returns a notifier over store's outbox.
func NewNotifier(store DeliveryStore, cfg NotifierConfig) *Notifier {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.InitialBackoff)
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Notifier{store: store, cfg: cfg, log: cfg.Logger.With("worker", "notifier")}
	if cfg.WebhookURL != "" {
		n.channels = append(n.channels, ChannelWebhook)
	}
	if cfg.JetStream != nil {
		n.channels = append(n.channels, ChannelBus)
	}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clickstream", Subsystem: "awards", Name: name, Help: help,
		}, []string{"channel"})
	}
	n.delivered = counter("notifications_delivered_total", "Notifications a channel (webhook, bus) accepted.")
	n.failed = counter("notification_attempts_failed_total", "Failed notification delivery attempts, by channel.")
	n.parked = counter("notifications_parked_total", "Notifications parked after the last failed attempt, by channel.")
	n.suppressed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "clickstream", Subsystem: "awards", Name: "notifications_suppressed_total",
		Help: "Notifications of backfilled grants that were not sent, as the backfill asked.",
	})
	n.skipped = counter("notifications_skipped_total", "Notification deliveries not sent because the user opted out of them, by channel.")
	return n
}

// Collectors returns the notifier's metrics, for registration.
func (n *Notifier) Collectors() []prometheus.Collector {
	return []prometheus.Collector{n.delivered, n.failed, n.parked, n.suppressed, n.skipped}
}

// Channels lists the configured channels.
func (n *Notifier) Channels() []string { return n.channels }

// NotifyResult says what one cycle did.
type NotifyResult struct {
	Enqueued   int // outbox rows given deliveries
	Suppressed int // of which suppressed
	Skipped    int // deliveries skipped because their user opted out
	Delivered  int // deliveries accepted by their channel
	Failed     int // failed attempts (including those that parked)
	Parked     int
}

// Cycle creates the deliveries of new outbox rows and attempts the due
// deliveries of every channel, up to a batch each.
func (n *Notifier) Cycle(ctx context.Context) (NotifyResult, error) {
	var total NotifyResult
	for _, ch := range n.channels {
		res, err := n.cycle(ctx, ch)
		total.add(res)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (r *NotifyResult) add(o NotifyResult) {
	r.Enqueued += o.Enqueued
	r.Suppressed += o.Suppressed
	r.Skipped += o.Skipped
	r.Delivered += o.Delivered
	r.Failed += o.Failed
	r.Parked += o.Parked
}

// cycle enqueues new outbox rows (for every channel: a row never gets
// some channels' deliveries without the others') and attempts the due
// deliveries of channel.
func (n *Notifier) cycle(ctx context.Context, channel string) (NotifyResult, error) {
	var res NotifyResult
	enq, err := n.store.enqueueDeliveries(ctx, n.channels, n.cfg.Batch)
	if err != nil {
		return res, err
	}
	res.Enqueued, res.Suppressed = enq.enqueued, enq.suppressed
	n.suppressed.Add(float64(enq.suppressed))
	for ch, k := range enq.skipped {
		res.Skipped += k
		n.skipped.WithLabelValues(ch).Add(float64(k))
	}

	send := n.postWebhook
	if channel == ChannelBus {
		send = n.publish
	}
	claimed, outcomes, err := n.store.deliverDue(ctx, channel, n.cfg.Batch, func(ctx context.Context, ds []pendingDelivery) []deliveryOutcome {
		return n.attempt(ctx, channel, ds, send)
	})
	if err != nil {
		return res, err
	}
	for i, o := range outcomes {
		switch o.state {
		case DeliveryDelivered:
			res.Delivered++
			n.delivered.WithLabelValues(channel).Inc()
			continue
		case DeliverySkipped:
			res.Skipped++
			n.skipped.WithLabelValues(channel).Inc()
			continue
		case DeliveryParked:
			res.Parked++
			n.parked.WithLabelValues(channel).Inc()
			n.log.Warn("notification parked", "channel", channel, "notification", claimed[i].ID,
				"attempts", claimed[i].attempts+1, "err", o.lastError)
		}
		res.Failed++
		n.failed.WithLabelValues(channel).Inc()
	}
	return res, nil
}

// attempt sends ds, up to Parallel at once, and decides each one's next
// state.
func (n *Notifier) attempt(ctx context.Context, channel string, ds []pendingDelivery,
	send func(context.Context, *NotificationMessage, []byte) error) []deliveryOutcome {
	outcomes := make([]deliveryOutcome, len(ds))
	sem := make(chan struct{}, n.cfg.Parallel)
	var wg sync.WaitGroup
	for i := range ds {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d := &ds[i]
			msg := notificationMessage(d.Notification)
			body, err := json.Marshal(msg)
			if err == nil {
				sctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
				err = send(sctx, msg, body)
				cancel()
			}
			outcomes[i] = n.outcome(d.attempts+1, err)
			if err != nil && outcomes[i].state == DeliveryPending {
				n.log.Debug("notification attempt failed", "channel", channel, "notification", d.ID, "attempt", d.attempts+1, "err", err)
			}
		}()
	}
	wg.Wait()
	return outcomes
}

// outcome is the state after attempt number attempt ended with err.
func (n *Notifier) outcome(attempt int, err error) deliveryOutcome {
	switch {
	case err == nil:
		return deliveryOutcome{state: DeliveryDelivered}
	case attempt >= n.cfg.MaxAttempts:
		return deliveryOutcome{state: DeliveryParked, lastError: err.Error()}
	default:
		return deliveryOutcome{state: DeliveryPending, lastError: err.Error(), retryIn: n.backoff(attempt)}
	}
}

// backoff is the wait after failed attempt number attempt (1, 2, …):
// InitialBackoff doubled per earlier failure, at most MaxBackoff, ±20%.
func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.cfg.MaxBackoff
	if attempt-1 < 40 {
		d = min(n.cfg.InitialBackoff<<(attempt-1), n.cfg.MaxBackoff)
		if d <= 0 { // overflowed
			d = n.cfg.MaxBackoff
		}
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func notificationMessage(n Notification) *NotificationMessage {
	return &NotificationMessage{ID: n.ID, Kind: n.Kind, UserID: n.UserID, AchievementID: n.AchievementID,
		Progress: n.Progress, Goal: n.Goal, CreatedAt: n.CreatedAt.UTC(), Backfilled: n.Backfilled}
}

// postWebhook POSTs one notification, signed; any answer but 2xx is an
// error.
func (n *Notifier) postWebhook(ctx context.Context, msg *NotificationMessage, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "clickstream-awards")
	req.Header.Set(HeaderNotificationID, strconv.FormatInt(msg.ID, 10))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, SignWebhook([]byte(n.cfg.WebhookSecret), ts, body))
	resp, err := n.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s: %s", resp.Status, strings.TrimSpace(string(excerpt)))
	}
	return nil
}

// publish puts one notification on the AWARDS stream with its id as
// Nats-Msg-Id, so that JetStream drops a second copy.
func (n *Notifier) publish(ctx context.Context, msg *NotificationMessage, body []byte) error {
	subject := "awards." + msg.Kind + "." + msg.AchievementID
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set("Content-Type", "application/json")
	if _, err := n.cfg.JetStream.PublishMsg(ctx, m, jetstream.WithMsgID(strconv.FormatInt(msg.ID, 10))); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

// Run cycles until ctx is done; each channel has its own loop, so a slow
// webhook does not hold back the bus. Errors are logged and retried after
// the interval. A batch in flight when ctx ends is finished and recorded
// (its sends bounded by Timeout) before Run returns.
func (n *Notifier) Run(ctx context.Context) error {
	if len(n.channels) == 0 {
		n.log.Info("no notification channel configured (no webhook URL, no bus): notifications stay in the outbox")
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	for _, ch := range n.channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.loop(ctx, ch)
		}()
	}
	wg.Wait()
	return nil
}

func (n *Notifier) loop(ctx context.Context, channel string) {
	// The work of a cycle must not be cut between a send and the record of
	// it, so it runs without ctx's cancellation; ctx stops the loop between
	// cycles. A bound well above what a batch of sends can take keeps a
	// hung database from holding Run forever.
	limit := n.cfg.Timeout*time.Duration(n.cfg.Batch/n.cfg.Parallel+2) + time.Minute
	for ctx.Err() == nil {
		work, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
		res, err := n.cycle(work, channel)
		cancel()
		if err != nil {
			n.log.Error("notification cycle failed", "channel", channel, "err", err)
		}
		if err == nil && (res.Enqueued >= n.cfg.Batch || res.Delivered+res.Failed+res.Skipped >= n.cfg.Batch) {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(n.cfg.Interval):
		}
	}
}

// SignWebhook returns the X-Clickstream-Signature value of body sent at
// timestamp (Unix seconds, as in X-Clickstream-Timestamp).
func SignWebhook(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadWebhookSignature is returned by VerifyWebhookSignature.
var ErrBadWebhookSignature = errors.New("bad webhook signature")

// VerifyWebhookSignature checks a webhook request's signature and that its
// timestamp is within tolerance of now, for receivers (and tests).
func VerifyWebhookSignature(secret []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadWebhookSignature, ts)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: timestamp %s is %s away from now (tolerance %s)", ErrBadWebhookSignature, ts, age, tolerance)
	}
	if !hmac.Equal([]byte(header.Get(HeaderSignature)), []byte(SignWebhook(secret, ts, body))) {
		return fmt.Errorf("%w: signature does not match the body and timestamp", ErrBadWebhookSignature)
	}
	return nil
}

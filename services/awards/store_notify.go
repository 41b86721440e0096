package awards

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// The notification channels: a row of awards.deliveries per outbox row and
// channel.
const (
	ChannelWebhook = "webhook"
	ChannelBus     = "bus"
)

// The states of a delivery.
const (
	DeliveryPending    = "pending"    // to be attempted at next_attempt_at
	DeliveryDelivered  = "delivered"  // the channel accepted it
	DeliveryParked     = "parked"     // failed MaxAttempts times; last_error says why
	DeliverySuppressed = "suppressed" // a backfill's grant whose notifications were not asked for, or a repeat
	DeliverySkipped    = "skipped"    // its user opted out of it (NotificationSettings); last_error says of what
)

// Notification is an outbox row (a grant, a revocation or the announcement
// of a new achievement) with its delivery: the webhook's when the row has
// one, else the bus's.
type Notification struct {
	ID                    int64
	Kind                  string // granted, revoked or announced
	UserID, AchievementID string // UserID is empty for announcements
	Progress, Goal        float64
	CreatedAt             time.Time
	State                 string // pending, delivered, parked, suppressed or skipped
	Attempts              int
	LastError             string
	DeliveredAt           *time.Time
	Backfilled            bool // made by a backfill
}

// NotificationFilter selects notifications for ListNotifications.
type NotificationFilter struct {
	// State keeps the notifications in this delivery state; every state
	// when empty.
	State string
	// Limit bounds the page; default 100, at most 1000.
	Limit int
	// AfterID starts the page after this notification id (the last id of
	// the previous page).
	AfterID int64
}

// pendingDelivery is a claimed delivery: the notification and the attempts
// made so far.
type pendingDelivery struct {
	Notification
	attempts int
	optedOut string // why the user no longer receives it; "" when they do
}

// deliveryOutcome is what became of one attempt: the delivery's next state
// (delivered, parked, or pending again after retryIn) and the error.
type deliveryOutcome struct {
	state     string
	lastError string
	retryIn   time.Duration
}

const (
	// sqlEnqueueDeliveries creates the deliveries of outbox rows that have
	// none yet, for every configured channel at once. Outbox rows whose
	// delivery has not finished keep delivered_at NULL, so the partial
	// index outbox_pending holds only rows in flight and the scan costs
	// what is in flight, not the size of the outbox. Rows are found by
	// absence rather than by an id cursor because outbox ids can commit
	// out of order (a cursor would skip a row committed after a higher id).
	//
	// A row addressed to a user who opted out of it (sqlOptedOut) is
	// skipped, with the reason as its last error.
	//
	// A user hears of an achievement's grant (or revocation) once: a row
	// whose (kind, user, achievement) was already notified, or is being
	// notified, on the channel is suppressed, so content flapping between
	// statuses does not flood users. An achievement is announced once.
	// "Already notified" does not depend on id order, since ids can commit
	// out of order: any row of the same (kind, user, achievement) with a
	// pending or delivered delivery on the channel suppresses the fresh
	// row, whatever its id; among fresh rows of the same key, the lowest id
	// is sent.
	sqlEnqueueDeliveries = `
		WITH fresh AS (
			SELECT o.id, o.kind, o.user_id, o.achievement_id, o.suppressed, ` + sqlOptedOut + ` AS opted_out
			FROM awards.outbox o
			WHERE o.delivered_at IS NULL
			  AND NOT EXISTS (SELECT 1 FROM awards.deliveries d WHERE d.outbox_id = o.id)
			ORDER BY o.id
			LIMIT $2
		)
		INSERT INTO awards.deliveries (outbox_id, channel, state, last_error)
		SELECT f.id, c.channel,
		       CASE WHEN f.suppressed THEN 'suppressed'
		            WHEN f.opted_out IS NOT NULL THEN 'skipped'
		            WHEN dup.earlier IS NOT NULL THEN 'suppressed'
		            ELSE 'pending' END,
		       CASE WHEN f.suppressed THEN ''
		            WHEN f.opted_out IS NOT NULL THEN f.opted_out
		            WHEN dup.earlier IS NOT NULL THEN 'already notified: notification ' || dup.earlier
		            ELSE '' END
		FROM fresh f CROSS JOIN unnest($1::text[]) AS c(channel)
		LEFT JOIN LATERAL (
			SELECT min(e.id) AS earlier FROM (
				SELECT p.id FROM awards.outbox p
				JOIN awards.deliveries d ON d.outbox_id = p.id AND d.channel = c.channel AND d.state IN ('pending', 'delivered')
				WHERE p.kind = f.kind AND p.user_id = f.user_id AND p.achievement_id = f.achievement_id
				UNION ALL
				SELECT f2.id FROM fresh f2
				WHERE f2.kind = f.kind AND f2.user_id = f.user_id AND f2.achievement_id = f.achievement_id
				  AND f2.id < f.id AND NOT f2.suppressed AND f2.opted_out IS NULL
			) e
		) dup ON true
		ON CONFLICT DO NOTHING
		RETURNING outbox_id, channel, state`
	// sqlClaimDeliveries locks due deliveries of a channel; instances skip
	// each other's rows.
	// A claimed delivery whose user opted out since it was enqueued comes
	// with the reason (sqlOptedOut) and is skipped instead of sent.
	sqlClaimDeliveries = `
		SELECT o.id, o.kind, o.user_id, o.achievement_id, o.progress, o.goal, o.created_at,
		       o.backfill_id IS NOT NULL, d.attempts, coalesce(` + sqlOptedOut + `, '')
		FROM awards.deliveries d JOIN awards.outbox o ON o.id = d.outbox_id
		WHERE d.channel = $1 AND d.state = 'pending' AND d.next_attempt_at <= now()
		ORDER BY d.next_attempt_at, d.outbox_id
		LIMIT $2
		FOR UPDATE OF d SKIP LOCKED`
	// A skipped delivery was not attempted.
	sqlRecordAttempts = `
		UPDATE awards.deliveries d SET
			attempts        = d.attempts + CASE WHEN k.state = 'skipped' THEN 0 ELSE 1 END,
			state           = k.state,
			last_error      = k.err,
			delivered_at    = CASE WHEN k.state = 'delivered' THEN now() END,
			next_attempt_at = CASE WHEN k.state = 'pending' THEN now() + k.delay * interval '1 microsecond' ELSE d.next_attempt_at END
		FROM unnest($2::int8[], $3::text[], $4::text[], $5::int8[]) AS k(id, state, err, delay)
		WHERE d.channel = $1 AND d.outbox_id = k.id`
	// An outbox row is finished (delivered_at set) once none of its
	// deliveries is pending. The rows are locked first, in id order, so
	// that two channels finishing the same row one after the other see
	// each other's state.
	sqlLockOutbox   = `SELECT id FROM awards.outbox WHERE id = ANY($1) ORDER BY id FOR UPDATE`
	sqlFinishOutbox = `
		UPDATE awards.outbox o SET delivered_at = now()
		WHERE o.id = ANY($1) AND o.delivered_at IS NULL
		  AND NOT EXISTS (SELECT 1 FROM awards.deliveries d WHERE d.outbox_id = o.id AND d.state = 'pending')`

	// The delivery shown for a notification: the webhook's, else the bus's.
	sqlNotificationColumns = `
		SELECT o.id, o.kind, o.user_id, o.achievement_id, o.progress, o.goal, o.created_at,
		       coalesce(d.state, 'pending'), coalesce(d.attempts, 0), coalesce(d.last_error, ''), d.delivered_at,
		       o.backfill_id IS NOT NULL
		FROM awards.outbox o
		LEFT JOIN LATERAL (
			SELECT state, attempts, last_error, delivered_at FROM awards.deliveries
			WHERE outbox_id = o.id ORDER BY channel = 'webhook' DESC LIMIT 1
		) d ON true`
	sqlListNotifications = sqlNotificationColumns + `
		WHERE o.id > $1
		ORDER BY o.id LIMIT $2`
	// Pending notifications are among the unfinished outbox rows (index
	// outbox_pending).
	sqlListPendingNotifications = sqlNotificationColumns + `
		WHERE o.id > $1 AND o.delivered_at IS NULL AND coalesce(d.state, 'pending') = 'pending'
		ORDER BY o.id LIMIT $2`
	// Notifications in a final state are found through the deliveries in
	// that state (index deliveries_state).
	sqlListNotificationsInState = sqlNotificationColumns + `
		WHERE o.id IN (SELECT outbox_id FROM awards.deliveries WHERE state = $3 AND outbox_id > $1)
		  AND d.state = $3
		ORDER BY o.id LIMIT $2`
)

// enqueueDeliveries creates the deliveries, on channels, of up to limit
// outbox rows that have none yet. Suppressed rows get suppressed deliveries
// and rows whose user opted out get skipped ones; both are finished at
// once. It returns the outbox rows enqueued, how many of them were
// suppressed, and the skipped deliveries per channel.
func (s *PostgresStore) enqueueDeliveries(ctx context.Context, channels []string, limit int) (res enqueueResult, err error) {
	defer derrors.Wrap(&err, "enqueue notification deliveries (channels %v)", channels)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		res = enqueueResult{}
		// One instance enqueues at a time; the others skip this step (the
		// one holding the lock does the work) and go on to deliver. A
		// second enqueue at the same moment would read the same fresh rows
		// and wait on their deliveries' keys only to insert nothing.
		var mine bool
		if err := tx.QueryRow(ctx, sqlTryXactLock, int32(lockClassEnqueue)).Scan(&mine); err != nil || !mine {
			return err
		}
		rows, err := tx.Query(ctx, sqlEnqueueDeliveries, channels, limit, skipOptedOut, skipNoAnnouncements)
		if err != nil {
			return err
		}
		var (
			id             int64
			channel, state string
			seen           = map[int64]bool{}
			suppressed     = map[int64]bool{}
			finished       = map[int64]bool{}
			done           []int64
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &channel, &state}, func() error {
			seen[id] = true
			if state != DeliveryPending && !finished[id] {
				// finishOutbox leaves the rows with a delivery still pending
				// on another channel.
				finished[id] = true
				done = append(done, id)
			}
			switch state {
			case DeliverySuppressed:
				suppressed[id] = true
			case DeliverySkipped:
				if res.skipped == nil {
					res.skipped = map[string]int{}
				}
				res.skipped[channel]++
			}
			return nil
		})
		if err != nil {
			return err
		}
		res.enqueued, res.suppressed = len(seen), len(suppressed)
		return finishOutbox(ctx, tx, done)
	})
	return res, err
}

// enqueueResult is what enqueueDeliveries did.
type enqueueResult struct {
	enqueued   int            // outbox rows given deliveries
	suppressed int            // of which suppressed on some channel
	skipped    map[string]int // skipped deliveries per channel
}

// deliverDue claims up to limit due deliveries of channel, hands them to
// deliver and records its outcomes, in one transaction: a delivery is marked
// delivered in the transaction that records the attempt, and the claim
// (FOR UPDATE SKIP LOCKED) keeps other instances off the rows meanwhile.
// Deliveries whose user opted out since they were enqueued are skipped, not
// handed to deliver. deliver returns one outcome per delivery, in order. It
// returns the deliveries claimed and their outcomes.
func (s *PostgresStore) deliverDue(ctx context.Context, channel string, limit int,
	deliver func(context.Context, []pendingDelivery) []deliveryOutcome) (claimed []pendingDelivery, outcomes []deliveryOutcome, err error) {
	defer derrors.Wrap(&err, "%s", "deliver due notifications (channel "+channel+")")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		claimed, outcomes = nil, nil
		rows, err := tx.Query(ctx, sqlClaimDeliveries, channel, limit, skipOptedOut, skipNoAnnouncements)
		if err != nil {
			return err
		}
		var (
			p      pendingDelivery
			toSend []pendingDelivery
		)
		n := &p.Notification
		_, err = pgx.ForEachRow(rows, []any{&n.ID, &n.Kind, &n.UserID, &n.AchievementID, &n.Progress, &n.Goal, &n.CreatedAt, &n.Backfilled, &p.attempts, &p.optedOut}, func() error {
			claimed = append(claimed, p)
			if p.optedOut == "" {
				toSend = append(toSend, p)
			}
			return nil
		})
		if err != nil || len(claimed) == 0 {
			return err
		}
		var sent []deliveryOutcome
		if len(toSend) > 0 {
			sent = deliver(ctx, toSend)
			if len(sent) != len(toSend) {
				return fmt.Errorf("%d outcomes for %d deliveries", len(sent), len(toSend))
			}
		}
		outcomes = make([]deliveryOutcome, len(claimed))
		for i, c := range claimed {
			if c.optedOut != "" {
				outcomes[i] = deliveryOutcome{state: DeliverySkipped, lastError: c.optedOut}
				continue
			}
			outcomes[i], sent = sent[0], sent[1:]
		}
		ids := make([]int64, len(claimed))
		states := make([]string, len(claimed))
		errs := make([]string, len(claimed))
		delays := make([]int64, len(claimed))
		var done []int64
		for i, o := range outcomes {
			ids[i], states[i], errs[i], delays[i] = claimed[i].ID, o.state, o.lastError, o.retryIn.Microseconds()
			if o.state != DeliveryPending {
				done = append(done, claimed[i].ID)
			}
		}
		if _, err := tx.Exec(ctx, sqlRecordAttempts, channel, ids, states, errs, delays); err != nil {
			return err
		}
		return finishOutbox(ctx, tx, done)
	})
	return claimed, outcomes, err
}

// finishOutbox sets delivered_at on the outbox rows among ids none of whose
// deliveries is still pending.
func finishOutbox(ctx context.Context, tx pgx.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, sqlLockOutbox, ids); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, sqlFinishOutbox, ids)
	return err
}

// ListNotifications lists notifications in id order, optionally only those
// in one delivery state, a page at a time.
func (s *PostgresStore) ListNotifications(ctx context.Context, f NotificationFilter) (_ []Notification, err error) {
	defer derrors.Wrap(&err, "list notifications (state %q, after %d)", f.State, f.AfterID)
	switch {
	case f.Limit <= 0:
		f.Limit = 100
	case f.Limit > 1000:
		f.Limit = 1000
	}
	var rows pgx.Rows
	switch f.State {
	case "":
		rows, err = s.pool.Query(ctx, sqlListNotifications, f.AfterID, f.Limit)
	case DeliveryPending:
		rows, err = s.pool.Query(ctx, sqlListPendingNotifications, f.AfterID, f.Limit)
	case DeliveryDelivered, DeliveryParked, DeliverySuppressed, DeliverySkipped:
		rows, err = s.pool.Query(ctx, sqlListNotificationsInState, f.AfterID, f.Limit, f.State)
	default:
		return nil, fmt.Errorf("%w: unknown notification state %q (want pending, delivered, parked, suppressed or skipped)", ErrInvalidNotificationFilter, f.State)
	}
	if err != nil {
		return nil, err
	}
	var (
		out []Notification
		n   Notification
	)
	_, err = pgx.ForEachRow(rows, []any{&n.ID, &n.Kind, &n.UserID, &n.AchievementID, &n.Progress, &n.Goal, &n.CreatedAt,
		&n.State, &n.Attempts, &n.LastError, &n.DeliveredAt, &n.Backfilled}, func() error {
		item := n
		if n.DeliveredAt != nil {
			at := *n.DeliveredAt
			item.DeliveredAt = &at
		}
		out = append(out, item)
		return nil
	})
	return out, err
}

// ErrInvalidNotificationFilter wraps errors of a NotificationFilter the
// caller can fix (an unknown state).
var ErrInvalidNotificationFilter = errors.New("invalid notification filter")

// RetryParked moves parked deliveries (of the outbox rows ids, or all when
// ids is empty) back to pending, due now and with no attempts counted, and
// returns how many it moved.
func (s *PostgresStore) RetryParked(ctx context.Context, ids []int64) (retried int, err error) {
	defer derrors.Wrap(&err, "retry parked notifications")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			UPDATE awards.deliveries SET state = 'pending', attempts = 0, last_error = '', next_attempt_at = now()
			WHERE state = 'parked' AND (cardinality($1::int8[]) = 0 OR outbox_id = ANY($1))
			RETURNING outbox_id`, ids)
		if err != nil {
			return err
		}
		moved, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		retried = len(moved)
		// The rows are in flight again.
		_, err = tx.Exec(ctx, `UPDATE awards.outbox SET delivered_at = NULL WHERE id = ANY($1)`, moved)
		return err
	})
	return retried, err
}

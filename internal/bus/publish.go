package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is one message to publish.
type Message struct {
	Subject string
	MsgID   string // sent as Nats-Msg-Id so retries dedupe
	Data    []byte
	Header  map[string]string // optional extra headers
}

// PublishResult is what became of one published Message.
type PublishResult struct {
	Sequence  uint64 // stream sequence of the stored message (of the original one for a duplicate)
	Duplicate bool   // JetStream reported the MsgID as a duplicate within the window
	Err       error  // per-message failure (nil when stored)
}

// ackGrace is how long PublishAll waits past the ack timeout for the JetStream client to
// report the timeout itself before it gives up on the message.
const ackGrace = time.Second

// PublishAll publishes msgs asynchronously, keeping at most Config.Window of them in flight,
// and returns when JetStream acknowledged every message, or ctx ended, or an ack timed out.
//
// results always has one entry per message: results[i] is msgs[i]. A message has Err == nil
// only when JetStream acknowledged it (as stored or as a duplicate of a stored message);
// a message with Err set may still have been stored, so retry it with the same MsgID.
// The returned error is non-nil when the bus could not take the batch at all (closed,
// disconnected, ctx done); every message not acknowledged by then carries an Err too.
func (b *Bus) PublishAll(ctx context.Context, msgs []Message) ([]PublishResult, error) {
	results := make([]PublishResult, len(msgs))
	if err := b.canPublish(ctx); err != nil {
		err = fmt.Errorf("publish batch of %d messages: %w", len(msgs), err)
		failFrom(results, 0, err)
		return results, err
	}

	var (
		futures = make([]jetstream.PubAckFuture, len(msgs))
		sentAt  = make([]time.Time, len(msgs))
		pending = make([]int, 0, min(len(msgs), b.cfg.Window)) // indexes in flight, oldest first
		timer   = time.NewTimer(time.Hour)
	)
	defer timer.Stop()

	// await resolves the oldest message in flight; it returns false when ctx ended.
	await := func() bool {
		i := pending[0]
		pending = pending[1:]
		timer.Reset(time.Until(sentAt[i].Add(b.cfg.AckTimeout + ackGrace)))
		select {
		case ack := <-futures[i].Ok():
			results[i] = PublishResult{Sequence: ack.Sequence, Duplicate: ack.Duplicate}
		case err := <-futures[i].Err():
			results[i].Err = msgError(msgs[i], err)
		case <-timer.C:
			results[i].Err = msgError(msgs[i], jetstream.ErrAsyncPublishTimeout)
		case <-ctx.Done():
			pending = append([]int{i}, pending...)
			return false
		}
		return true
	}
	abort := func(sent int) ([]PublishResult, error) {
		err := fmt.Errorf("publish batch of %d messages: %w", len(msgs), ctx.Err())
		for _, i := range pending {
			results[i].Err = msgError(msgs[i], fmt.Errorf("not acknowledged: %w", ctx.Err()))
		}
		failFrom(results, sent, err)
		return results, err
	}

	for i := range msgs {
		for len(pending) >= b.cfg.Window {
			if !await() {
				return abort(i)
			}
		}
		if ctx.Err() != nil {
			return abort(i)
		}
		fut, err := b.js.PublishMsgAsync(natsMsg(msgs[i]), jetstream.WithStallWait(b.cfg.AckTimeout))
		if err != nil {
			results[i].Err = msgError(msgs[i], err)
			continue
		}
		futures[i], sentAt[i] = fut, time.Now()
		pending = append(pending, i)
	}
	for len(pending) > 0 {
		if !await() {
			return abort(len(msgs))
		}
	}
	return results, nil
}

// canPublish reports why the bus cannot take a batch now.
func (b *Bus) canPublish(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-b.closed:
		return ErrClosed
	default:
	}
	if status := b.nc.Status(); status != nats.CONNECTED {
		return fmt.Errorf("bus connection is %s", status)
	}
	return nil
}

func natsMsg(m Message) *nats.Msg {
	msg := &nats.Msg{Subject: m.Subject, Data: m.Data}
	if len(m.Header) > 0 || m.MsgID != "" {
		msg.Header = make(nats.Header, len(m.Header)+1)
		for k, v := range m.Header {
			msg.Header[k] = []string{v}
		}
		if m.MsgID != "" {
			msg.Header[jetstream.MsgIDHeader] = []string{m.MsgID}
		}
	}
	return msg
}

func msgError(m Message, err error) error {
	return fmt.Errorf("publish to %s (msg id %q): %w", m.Subject, m.MsgID, err)
}

// failFrom sets err on every result from index from on that has no error yet.
func failFrom(results []PublishResult, from int, err error) {
	for i := from; i < len(results); i++ {
		if results[i].Err == nil {
			results[i].Err = err
		}
	}
}

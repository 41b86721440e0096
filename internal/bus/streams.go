package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The streams of the bus and the subjects they hold.
const (
	StreamEvents     = "EVENTS"     // subjects "events.>"      : events.<env>.<event>.v<N>
	StreamDeadLetter = "DEADLETTER" // subjects "deadletter.>"  : deadletter.<env>.<reason>
	StreamAwards     = "AWARDS"     // subjects "awards.>"      : awards.<kind>.<achievement>
)

// StreamsConfig says how the bus sets up its streams (EVENTS, DEADLETTER, AWARDS).
//
// The bus never takes away what an operator gave a stream: it raises replicas but does not
// lower them, and it loosens limits but tightens them only when told to (ShrinkMaxAge,
// ShrinkMaxBytes), since a tighter limit deletes messages. What it keeps is logged.
type StreamsConfig struct {
	// Replicas of each stream; 0 means 1. More than 1 needs an external NATS cluster with
	// at least that many JetStream servers. An existing stream with more replicas keeps them.
	Replicas int
	// OperatorManaged leaves the streams to the operator: the bus only checks that they
	// exist and take their subjects, and fails to open when one does not.
	OperatorManaged bool
	// MaxAge is how long EVENTS and DEADLETTER keep a message; 0 keeps messages forever.
	MaxAge time.Duration
	// MaxBytes is the most each of EVENTS and DEADLETTER stores (the oldest messages go
	// first); 0 is no limit.
	MaxBytes int64
	// ShrinkMaxAge applies MaxAge to an existing stream that keeps messages longer, which
	// deletes the older ones; without it such a stream keeps its max age.
	ShrinkMaxAge bool
	// ShrinkMaxBytes applies MaxBytes to an existing stream that may store more, which
	// deletes the oldest messages beyond it; without it such a stream keeps its limit.
	ShrinkMaxBytes bool
}

func (c StreamsConfig) validate(duplicateWindow time.Duration) error {
	switch {
	case c.MaxAge < 0:
		return fmt.Errorf("bus config: stream max age %s must be 0 (keep forever) or more", c.MaxAge)
	case c.MaxAge > 0 && c.MaxAge < duplicateWindow:
		return fmt.Errorf("bus config: stream max age %s is shorter than the duplicate window %s; JetStream needs the window within the max age", c.MaxAge, duplicateWindow)
	case c.MaxBytes < 0:
		return fmt.Errorf("bus config: stream max bytes %d must be 0 (no limit) or more", c.MaxBytes)
	}
	return nil
}

const (
	// ensureTimeout bounds how long EnsureStreams waits for JetStream to answer at all: a
	// cluster that is starting has no meta leader for a few seconds.
	ensureTimeout = 30 * time.Second
	// attemptTimeout bounds one attempt: without a meta leader a request gets no answer.
	attemptTimeout = 5 * time.Second
)

// streamSpec is what the bus wants of one stream.
type streamSpec struct {
	config  jetstream.StreamConfig
	limited bool // MaxAge and MaxBytes apply to it
}

// streamSpecs returns the configuration of every stream the bus owns.
func (b *Bus) streamSpecs() []streamSpec {
	stream := func(name, subjects, description string, limited bool) streamSpec {
		cfg := jetstream.StreamConfig{
			Name:        name,
			Description: description,
			Subjects:    []string{subjects},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    b.cfg.Streams.Replicas,
			Duplicates:  b.cfg.DuplicateWindow,
		}
		if limited {
			cfg.MaxAge = b.cfg.Streams.MaxAge
			cfg.MaxBytes = b.cfg.Streams.MaxBytes
			if cfg.MaxBytes == 0 {
				cfg.MaxBytes = -1 // JetStream's "no limit"
			}
		}
		return streamSpec{config: cfg, limited: limited}
	}
	return []streamSpec{
		stream(StreamEvents, "events.>", "Accepted events: events.<env>.<event>.v<N>, EventRecord payloads", true),
		stream(StreamDeadLetter, "deadletter.>", "Rejected events with their original bytes and the reason: deadletter.<env>.<reason>", true),
		stream(StreamAwards, "awards.>", "Award notifications: awards.<kind>.<achievement>", false),
	}
}

// EnsureStreams creates the streams that are missing and updates the others to the
// configuration of this bus, within what StreamsConfig allows; with OperatorManaged it
// only checks them. It is idempotent: a stream that needs no change is not updated.
//
// While JetStream does not answer (a cluster electing its meta leader) it retries for up
// to 30 seconds.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	for _, spec := range b.streamSpecs() {
		err := retryTransient(ctx, func(ctx context.Context) error {
			if b.cfg.Streams.OperatorManaged {
				return b.checkStream(ctx, spec)
			}
			return b.ensureStream(ctx, spec)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// retryTransient runs op until it succeeds, fails for a reason other than JetStream not
// answering, or ensureTimeout passed.
func retryTransient(ctx context.Context, op func(context.Context) error) error {
	deadline := time.Now().Add(ensureTimeout)
	backoff := 100 * time.Millisecond
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := op(attemptCtx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// transient reports whether err means JetStream did not answer yet (no responders, a
// timeout, a cluster without a leader) rather than that it refused.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == 503 || apiErr.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled
	}
	return false
}

// ensureStream creates spec's stream, or reconciles the existing one with it.
func (b *Bus) ensureStream(ctx context.Context, spec streamSpec) error {
	want := spec.config
	s, err := b.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = b.js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another instance created it meanwhile: reconcile with that one.
			s, err = b.js.Stream(ctx, want.Name)
		} else if err != nil {
			return fmt.Errorf("create stream %s (subjects %v, %d replicas): %w", want.Name, want.Subjects, want.Replicas, err)
		} else {
			b.log.Info("stream created", "stream", want.Name, "replicas", want.Replicas, "max_age", want.MaxAge, "max_bytes", want.MaxBytes)
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("ensure stream %s: read its configuration: %w", want.Name, err)
	}
	have := s.CachedInfo().Config
	next, changes := b.reconcile(have, spec)
	if len(changes) == 0 {
		return nil
	}
	if _, err := b.js.UpdateStream(ctx, next); err != nil {
		return fmt.Errorf("update stream %s (%v): %w", want.Name, changes, err)
	}
	b.log.Info("stream updated", "stream", want.Name, "changes", changes)
	return nil
}

// reconcile returns the configuration to give the existing stream have so that it holds
// what spec asks for, and the changes that makes. It starts from have, so settings the bus
// does not own (message limits, placement, compression …) stay as the operator set them.
func (b *Bus) reconcile(have jetstream.StreamConfig, spec streamSpec) (jetstream.StreamConfig, []string) {
	want := spec.config
	next := have
	next.Subjects = slices.Clone(have.Subjects)
	var changes []string
	change := func(format string, args ...any) { changes = append(changes, fmt.Sprintf(format, args...)) }

	if next.Description != want.Description {
		next.Description = want.Description
		change("description")
	}
	for _, subject := range want.Subjects {
		if !slices.Contains(next.Subjects, subject) {
			next.Subjects = append(next.Subjects, subject)
			change("subjects %v → %v", have.Subjects, next.Subjects)
		}
	}
	if next.Duplicates != want.Duplicates {
		next.Duplicates = want.Duplicates
		change("duplicate window %s → %s", have.Duplicates, want.Duplicates)
	}
	switch {
	case have.Replicas < want.Replicas:
		next.Replicas = want.Replicas
		change("replicas %d → %d", have.Replicas, want.Replicas)
	case have.Replicas > want.Replicas:
		b.log.Info("stream keeps the replicas it has, more than configured; the bus never lowers them",
			"stream", have.Name, "replicas", have.Replicas, "configured", want.Replicas)
	}
	if have.Storage != want.Storage || have.Retention != want.Retention {
		// Neither can change on an existing stream.
		b.log.Warn("stream has another storage or retention than the bus creates; keeping them",
			"stream", have.Name, "storage", have.Storage.String(), "retention", have.Retention.String())
	}
	if !spec.limited {
		return next, changes
	}

	if have.MaxAge != want.MaxAge {
		if looser(want.MaxAge, have.MaxAge) || b.cfg.Streams.ShrinkMaxAge {
			next.MaxAge = want.MaxAge
			change("max age %s → %s", ageText(have.MaxAge), ageText(want.MaxAge))
		} else {
			b.log.Warn("stream keeps its longer max age; shrinking it would delete older messages, set the max age explicitly to do so",
				"stream", have.Name, "max_age", ageText(have.MaxAge), "configured", ageText(want.MaxAge))
		}
	}
	if norm(have.MaxBytes) != norm(want.MaxBytes) {
		if looser(norm(want.MaxBytes), norm(have.MaxBytes)) || b.cfg.Streams.ShrinkMaxBytes {
			next.MaxBytes = want.MaxBytes
			change("max bytes %s → %s", bytesText(have.MaxBytes), bytesText(want.MaxBytes))
		} else {
			b.log.Warn("stream keeps its larger max bytes; shrinking it would delete the oldest messages, set the max bytes explicitly to do so",
				"stream", have.Name, "max_bytes", bytesText(have.MaxBytes), "configured", bytesText(want.MaxBytes))
		}
	}
	return next, changes
}

// looser reports whether limit a keeps more than limit b, where 0 is no limit.
func looser[T time.Duration | int64](a, b T) bool {
	return b != 0 && (a == 0 || a > b)
}

// norm turns JetStream's "no limit" (-1) into 0.
func norm(n int64) int64 { return max(n, 0) }

func ageText(d time.Duration) string {
	if d <= 0 {
		return "forever"
	}
	return d.String()
}

func bytesText(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkStream checks that an operator-managed stream exists and takes spec's subjects.
func (b *Bus) checkStream(ctx context.Context, spec streamSpec) error {
	want := spec.config
	s, err := b.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s does not exist and the streams are left to the operator (manage streams off): create it with subjects %v, file storage and a duplicate window of at least %s (e.g. `nats stream add %s --subjects '%s' --storage file --replicas %d --dupe-window %s`), or let clickstream manage the streams",
			want.Name, want.Subjects, want.Duplicates, want.Name, want.Subjects[0], want.Replicas, want.Duplicates)
	}
	if err != nil {
		return fmt.Errorf("check stream %s: %w", want.Name, err)
	}
	have := s.CachedInfo().Config
	for _, subject := range want.Subjects {
		if !slices.Contains(have.Subjects, subject) {
			return fmt.Errorf("stream %s takes subjects %v, not %s, and the streams are left to the operator (manage streams off): add %s to its subjects, or let clickstream manage the streams",
				want.Name, have.Subjects, subject, subject)
		}
	}
	if have.Duplicates < want.Duplicates {
		b.log.Warn("operator-managed stream dedupes retries for less time than configured; a retry after the window is stored twice",
			"stream", want.Name, "duplicate_window", have.Duplicates, "configured", want.Duplicates)
	}
	if have.Replicas < want.Replicas {
		b.log.Warn("operator-managed stream has fewer replicas than configured", "stream", want.Name, "replicas", have.Replicas, "configured", want.Replicas)
	}
	return nil
}

package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// The streams of the bus and the subjects they hold.
const (
	StreamEvents     = "EVENTS"     // subjects "events.>"      : events.<env>.<event>.v<N>
	StreamDeadLetter = "DEADLETTER" // subjects "deadletter.>"  : deadletter.<env>.<reason>
	StreamAwards     = "AWARDS"     // subjects "awards.>"      : awards.<kind>.<achievement>
)

// streamConfigs returns the configuration of every stream the bus owns.
func (b *Bus) streamConfigs() []jetstream.StreamConfig {
	stream := func(name, subjects, description string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: description,
			Subjects:    []string{subjects},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    b.cfg.Replicas,
			Duplicates:  b.cfg.DuplicateWindow,
		}
	}
	return []jetstream.StreamConfig{
		stream(StreamEvents, "events.>", "Accepted events: events.<env>.<event>.v<N>, EventRecord payloads"),
		stream(StreamDeadLetter, "deadletter.>", "Rejected events with their original bytes and the reason: deadletter.<env>.<reason>"),
		stream(StreamAwards, "awards.>", "Award notifications: awards.<kind>.<achievement>"),
	}
}

// EnsureStreams creates the streams, or updates them to the configuration of this bus.
// It is idempotent.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	for _, cfg := range b.streamConfigs() {
		if _, err := b.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s (subjects %v): %w", cfg.Name, cfg.Subjects, err)
		}
	}
	return nil
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/clickstream-dev/clickstream/internal/bus"
)

// A Subscription is a consumer on request: the events a team chose (event
// versions, in environments), delivered by pull stream (Subscribe), by
// webhook, or as a plain JetStream durable consumer the team reads itself.
// Each is backed by a durable consumer on EVENTS whose filter subjects are
// the subscription's events.<env>.<event>.v<N>.
type Subscription struct {
	Name      string
	OwnerTeam string
	Events    []SubscribedEvent
	// Environments are the sending environments; empty for all.
	Environments []string
	Delivery     Delivery
	Format       Format
	// WebhookURL, WebhookSecret and MaxFailures configure a webhook.
	WebhookURL    string
	WebhookSecret string
	MaxFailures   int
	State         SubscriptionState
	ParkedReason  string
	CreatedAt     time.Time
	CreatedBy     string
	// TokenHash is the SHA-256 of the subscription's own token (pull
	// delivery), stored at creation; it is never read back.
	TokenHash []byte
}

// SubscribedEvent is one event of a subscription by name ("PhotoStatusChanged"),
// and some of its versions; no versions means every version.
type SubscribedEvent struct {
	Name     string   `json:"name"`
	Versions []uint32 `json:"versions,omitempty"`
}

// Delivery is how a subscription reaches its team.
type Delivery string

// The deliveries.
const (
	DeliveryPull    Delivery = "pull"
	DeliveryWebhook Delivery = "webhook"
	DeliveryDurable Delivery = "durable"
)

// Format is how a delivered event is encoded.
type Format string

// The formats: JSON (the record in protojson, its payload decoded with the
// registry's descriptors) or the binary EventRecord as on the bus.
const (
	FormatJSON   Format = "json"
	FormatBinary Format = "binary"
)

// SubscriptionState says whether a subscription delivers.
type SubscriptionState string

// The states.
const (
	StateActive SubscriptionState = "active"
	StatePaused SubscriptionState = "paused"
	// StateParked is a webhook that failed MaxFailures times in a row.
	StateParked SubscriptionState = "parked"
)

// DefaultMaxFailures is how many attempts in a row a webhook gets for one
// event before its subscription is parked.
const DefaultMaxFailures = 10

// ConsumerPrefix starts the name of every subscription's durable consumer.
const ConsumerPrefix = "subscription-"

// Consumer is the name of the subscription's durable consumer on EVENTS.
func (s Subscription) Consumer() string { return ConsumerPrefix + s.Name }

// FilterSubjects are the EVENTS subjects the subscription takes:
// events.<env>.<event>.v<N>, with * for every environment or version.
func (s Subscription) FilterSubjects() ([]string, error) {
	envs := s.Environments
	if len(envs) == 0 {
		envs = []string{"*"}
	}
	var out []string
	for _, env := range envs {
		for _, ev := range s.Events {
			if len(ev.Versions) == 0 {
				subject, err := bus.EventSubject(envOrToken(env), ev.Name, 1)
				if err != nil {
					return nil, err
				}
				out = append(out, strings.TrimSuffix(subject, ".v1")+".*")
				continue
			}
			for _, v := range ev.Versions {
				subject, err := bus.EventSubject(envOrToken(env), ev.Name, v)
				if err != nil {
					return nil, err
				}
				out = append(out, subject)
			}
		}
	}
	// Replace the stand-in token by the wildcard.
	for i, subject := range out {
		out[i] = strings.Replace(subject, "events."+anyEnvironment+".", "events.*.", 1)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// anyEnvironment stands in for the wildcard while bus.EventSubject, which
// takes literal tokens only, builds a subject.
const anyEnvironment = "__any__"

func envOrToken(env string) string {
	if env == "*" {
		return anyEnvironment
	}
	return env
}

// Errors of subscriptions.
var (
	ErrSubscriptionNotFound = errors.New("subscription not found")
	ErrSubscriptionExists   = errors.New("subscription exists")
)

// SubscriptionStore keeps subscriptions.
type SubscriptionStore interface {
	// CreateSubscription stores a new subscription, or ErrSubscriptionExists.
	CreateSubscription(ctx context.Context, s Subscription) error
	// Subscription returns one, or ErrSubscriptionNotFound.
	Subscription(ctx context.Context, name string) (Subscription, error)
	// ListSubscriptions lists them by name; ownerTeam "" for every team.
	ListSubscriptions(ctx context.Context, ownerTeam string) ([]Subscription, error)
	// SetSubscriptionState changes the state (reason for parking), or
	// ErrSubscriptionNotFound.
	SetSubscriptionState(ctx context.Context, name string, state SubscriptionState, reason, actor string) (Subscription, error)
	// DeleteSubscription deletes one, or ErrSubscriptionNotFound.
	DeleteSubscription(ctx context.Context, name string) error
	// SetSubscriptionToken replaces the hash of a subscription's token, or
	// ErrSubscriptionNotFound.
	SetSubscriptionToken(ctx context.Context, name string, hash []byte, actor string) error
	// SubscriptionOfToken returns the name of the subscription whose token
	// hashes to hash, or ErrSubscriptionNotFound.
	SubscriptionOfToken(ctx context.Context, hash []byte) (string, error)
}

// maxSubscriptionName bounds a name: it names a consumer too.
const maxSubscriptionName = 64

// validate checks a new subscription against catalogue, which must know
// each event and version it names; it fills the defaults.
func (s *Subscription) validate(c *Catalogue) error {
	if s.Name == "" || len(s.Name) > maxSubscriptionName || strings.IndexFunc(s.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return fmt.Errorf("name %s: use 1 to %d letters, digits, '-' and '_' (it names the JetStream consumer)", escapeClipped(s.Name, 80), maxSubscriptionName)
	}
	if strings.TrimSpace(s.OwnerTeam) == "" {
		return errors.New("owner_team is empty: name the team that owns the subscription")
	}
	if len(s.Events) == 0 {
		return errors.New("events is empty: choose at least one event, e.g. {\"name\": \"PhotoStatusChanged\"}")
	}
	known := c.eventVersionsByName()
	for i, ev := range s.Events {
		versions, ok := known[ev.Name]
		if !ok {
			return fmt.Errorf("events[%d]: %s is not a registered event; name it without version as the registry does, e.g. PhotoStatusChanged", i, escapeClipped(ev.Name, 80))
		}
		for _, v := range ev.Versions {
			if !slices.Contains(versions, v) {
				return fmt.Errorf("events[%d]: %s has no version %d; registered versions: %v", i, ev.Name, v, versions)
			}
		}
		slices.Sort(s.Events[i].Versions)
		s.Events[i].Versions = slices.Compact(s.Events[i].Versions)
	}
	for i, env := range s.Environments {
		if _, err := bus.EventSubject(env, "E", 1); err != nil {
			return fmt.Errorf("environments[%d]: %s is not an environment name (one subject token, no wildcard)", i, escapeClipped(env, 80))
		}
	}
	slices.Sort(s.Environments)
	s.Environments = slices.Compact(s.Environments)
	switch s.Delivery {
	case DeliveryPull, DeliveryDurable:
		if s.WebhookURL != "" {
			return fmt.Errorf("webhook.url is set but the delivery is %s: choose delivery webhook or leave the URL out", s.Delivery)
		}
	case DeliveryWebhook:
		u, err := url.Parse(s.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("webhook.url %s is not an http or https URL", escapeClipped(s.WebhookURL, 200))
		}
	default:
		return errors.New("delivery is unset: choose pull, webhook or durable")
	}
	switch s.Format {
	case "":
		s.Format = FormatJSON
		if s.Delivery == DeliveryDurable {
			s.Format = FormatBinary
		}
	case FormatJSON, FormatBinary:
	}
	if s.Delivery == DeliveryDurable && s.Format != FormatBinary {
		return errors.New("a durable consumer carries the bus's binary EventRecords: choose format binary (or delivery pull or webhook for JSON)")
	}
	if s.MaxFailures < 0 {
		return fmt.Errorf("webhook.max_failures is %d: it must be positive (0 for the default, %d)", s.MaxFailures, DefaultMaxFailures)
	}
	if s.Delivery == DeliveryWebhook && s.MaxFailures == 0 {
		s.MaxFailures = DefaultMaxFailures
	}
	if _, err := s.FilterSubjects(); err != nil {
		return err
	}
	return nil
}

// eventVersionsByName maps each event's name (without version) to its
// registered versions.
func (c *Catalogue) eventVersionsByName() map[string][]uint32 {
	out := map[string][]uint32{}
	for _, t := range c.byName {
		out[t.Name] = append(out[t.Name], t.Version)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

var _ SubscriptionStore = (*PostgresStore)(nil)

const (
	sqlSubscriptionColumns = `name, owner_team, events, environments, delivery, format, webhook_url, webhook_secret,
max_failures, state, parked_reason, created_at, created_by`
	sqlCreateSubscription = `INSERT INTO ingest.subscriptions (name, owner_team, events, environments, delivery, format,
consumer, webhook_url, webhook_secret, max_failures, state, created_at, created_by, updated_by, token_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', now(), $11, $11, $12)`
	sqlSubscription      = `SELECT ` + sqlSubscriptionColumns + ` FROM ingest.subscriptions WHERE name = $1`
	sqlListSubscriptions = `SELECT ` + sqlSubscriptionColumns + ` FROM ingest.subscriptions
WHERE ($1 = '' OR owner_team = $1) ORDER BY name`
	sqlSetSubscriptionState = `UPDATE ingest.subscriptions SET state = $2, parked_reason = $3, updated_at = now(), updated_by = $4
WHERE name = $1 RETURNING ` + sqlSubscriptionColumns
	sqlDeleteSubscription   = `DELETE FROM ingest.subscriptions WHERE name = $1`
	sqlSetSubscriptionToken = `UPDATE ingest.subscriptions SET token_hash = $2, updated_at = now(), updated_by = $3
WHERE name = $1`
	sqlSubscriptionOfToken = `SELECT name FROM ingest.subscriptions WHERE token_hash = $1`
)

// CreateSubscription implements SubscriptionStore.
func (s *PostgresStore) CreateSubscription(ctx context.Context, sub Subscription) (err error) {
	defer derrors.Wrap(&err, "create subscription %q", sub.Name)
	events, err := json.Marshal(sub.Events)
	if err != nil {
		return err
	}
	envs := sub.Environments
	if envs == nil {
		envs = []string{}
	}
	_, err = s.pool.Exec(ctx, sqlCreateSubscription, sub.Name, sub.OwnerTeam, events, envs, string(sub.Delivery),
		string(sub.Format), sub.Consumer(), sub.WebhookURL, sub.WebhookSecret, sub.MaxFailures, sub.CreatedBy, sub.TokenHash)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrSubscriptionExists
	}
	return err
}

// Subscription implements SubscriptionStore.
func (s *PostgresStore) Subscription(ctx context.Context, name string) (sub Subscription, err error) {
	defer derrors.Wrap(&err, "read subscription %q", name)
	return s.oneSubscription(ctx, sqlSubscription, name)
}

// ListSubscriptions implements SubscriptionStore.
func (s *PostgresStore) ListSubscriptions(ctx context.Context, ownerTeam string) (subs []Subscription, err error) {
	defer derrors.Wrap(&err, "list subscriptions (owner team %q)", ownerTeam)
	rows, err := s.pool.Query(ctx, sqlListSubscriptions, ownerTeam)
	if err != nil {
		return nil, err
	}
	return scanSubscriptions(rows)
}

// SetSubscriptionState implements SubscriptionStore.
func (s *PostgresStore) SetSubscriptionState(ctx context.Context, name string, state SubscriptionState, reason, actor string) (sub Subscription, err error) {
	defer derrors.Wrap(&err, "set subscription %q %s", name, state)
	return s.oneSubscription(ctx, sqlSetSubscriptionState, name, string(state), reason, actor)
}

// DeleteSubscription implements SubscriptionStore.
func (s *PostgresStore) DeleteSubscription(ctx context.Context, name string) (err error) {
	defer derrors.Wrap(&err, "delete subscription %q", name)
	tag, err := s.pool.Exec(ctx, sqlDeleteSubscription, name)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrSubscriptionNotFound
	}
	return err
}

// SetSubscriptionToken implements SubscriptionStore.
func (s *PostgresStore) SetSubscriptionToken(ctx context.Context, name string, hash []byte, actor string) (err error) {
	defer derrors.Wrap(&err, "set the token of subscription %q", name)
	tag, err := s.pool.Exec(ctx, sqlSetSubscriptionToken, name, hash, actor)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrSubscriptionNotFound
	}
	return err
}

// SubscriptionOfToken implements SubscriptionStore.
func (s *PostgresStore) SubscriptionOfToken(ctx context.Context, hash []byte) (name string, err error) {
	defer derrors.Wrap(&err, "find the subscription of a token")
	err = s.pool.QueryRow(ctx, sqlSubscriptionOfToken, hash).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrSubscriptionNotFound
	}
	return name, err
}

func (s *PostgresStore) oneSubscription(ctx context.Context, sql string, args ...any) (Subscription, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return Subscription{}, err
	}
	subs, err := scanSubscriptions(rows)
	if err != nil {
		return Subscription{}, err
	}
	if len(subs) == 0 {
		return Subscription{}, ErrSubscriptionNotFound
	}
	return subs[0], nil
}

func scanSubscriptions(rows pgx.Rows) ([]Subscription, error) {
	var (
		subs                    []Subscription
		sub                     Subscription
		events                  []byte
		delivery, format, state string
	)
	_, err := pgx.ForEachRow(rows, []any{&sub.Name, &sub.OwnerTeam, &events, &sub.Environments, &delivery, &format,
		&sub.WebhookURL, &sub.WebhookSecret, &sub.MaxFailures, &state, &sub.ParkedReason, &sub.CreatedAt, &sub.CreatedBy}, func() error {
		s := sub
		s.Events = nil
		if err := json.Unmarshal(events, &s.Events); err != nil {
			return fmt.Errorf("subscription %q: events: %w", s.Name, err)
		}
		s.Environments = append([]string(nil), sub.Environments...)
		s.Delivery, s.Format, s.State = Delivery(delivery), Format(format), SubscriptionState(state)
		subs = append(subs, s)
		return nil
	})
	return subs, err
}

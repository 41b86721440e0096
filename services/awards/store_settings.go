package awards

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const (
	sqlNotificationSettings = `SELECT mode, updated_at, updated_by FROM awards.notification_settings WHERE user_id = $1`
	// The previous settings are read with the row locked, so two concurrent
	// changes of stored settings each report the one they replaced (two
	// first changes of a user may both report the defaults).
	sqlLockNotificationSettings = `SELECT mode, updated_at, updated_by FROM awards.notification_settings WHERE user_id = $1 FOR UPDATE`
	sqlSetNotificationSettings  = `
		INSERT INTO awards.notification_settings (user_id, mode, updated_by) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET mode = excluded.mode, updated_by = excluded.updated_by, updated_at = now()
		RETURNING mode, updated_at, updated_by`

	// sqlOptedOut is, for an outbox row o, why its user does not receive it
	// (NULL when they do): $3 for a user who opted out of everything, $4
	// for an announcement to a user who opted out of announcements. Rows
	// with no user (broadcast announcements) are never opted out.
	sqlOptedOut = `(
		SELECT CASE WHEN s.mode = 'none' THEN $3::text
		            WHEN s.mode = 'no_announcements' AND o.kind = 'announced' THEN $4::text END
		FROM awards.notification_settings s
		WHERE o.user_id <> '' AND s.user_id = o.user_id)`
)

// NotificationSettings implements NotificationSettingsStore.
func (s *PostgresStore) NotificationSettings(ctx context.Context, userID string) (_ NotificationSettings, err error) {
	defer derrors.Wrap(&err, "notification settings of user %q", userID)
	return scanNotificationSettings(s.pool.QueryRow(ctx, sqlNotificationSettings, userID))
}

// SetNotificationSettings implements NotificationSettingsStore.
func (s *PostgresStore) SetNotificationSettings(ctx context.Context, userID, mode, by string) (previous, now NotificationSettings, err error) {
	defer derrors.Wrap(&err, "set notification settings of user %q to %q", userID, mode)
	if p := notificationModeProblem(mode); p != "" {
		return previous, now, fmt.Errorf("%w: mode %s", ErrInvalidNotificationSettings, p)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if previous, err = scanNotificationSettings(tx.QueryRow(ctx, sqlLockNotificationSettings, userID)); err != nil {
			return err
		}
		now, err = scanNotificationSettings(tx.QueryRow(ctx, sqlSetNotificationSettings, userID, mode, by))
		return err
	})
	return previous, now, err
}

// ErrInvalidNotificationSettings wraps errors of settings the caller can
// fix (an unknown mode).
var ErrInvalidNotificationSettings = errors.New("invalid notification settings")

// scanNotificationSettings reads one settings row; no row is the defaults.
func scanNotificationSettings(row pgx.Row) (NotificationSettings, error) {
	var ns NotificationSettings
	err := row.Scan(&ns.Mode, &ns.UpdatedAt, &ns.UpdatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return DefaultNotificationSettings, nil
	}
	return ns, err
}

package awards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// ConfigVersion is one saved configuration of an achievement.
type ConfigVersion struct {
	Version   int
	Author    string
	ChangedAt time.Time
	Config    AchievementConfig
}

// StoredConfig is an achievement's current configuration as saved.
type StoredConfig struct {
	ConfigVersion
	DisabledReason string
}

const (
	sqlStoredConfigs = `
		SELECT a.id, h.version, h.author, h.changed_at, h.config, a.disabled_reason
		FROM awards.achievements a
		JOIN awards.config_history h ON h.achievement_id = a.id AND h.version = a.config_version
		WHERE ($1 = '' OR a.id = $1)
		ORDER BY a.id`
	sqlConfigHistory = `
		SELECT version, author, changed_at, config FROM awards.config_history
		WHERE achievement_id = $1 ORDER BY version DESC`
	sqlSetUserStatus = `
		WITH prev AS (SELECT status FROM awards.users WHERE user_id = $1)
		INSERT INTO awards.users (user_id, status) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET status = excluded.status, updated_at = now()
		RETURNING coalesce((SELECT status FROM prev), 'active')`
	sqlRefreshUserObjectives = `
		UPDATE awards.user_objectives SET version = nextval('awards.progress_version_seq'), backfill_id = NULL, updated_at = now()
		WHERE user_id = $1`
	sqlProcessingLog = `
		SELECT record_id, objective_id, outcome, filter, content_id, delta, counters, occurred_at, processed_at
		FROM awards.processing_log
		WHERE user_id = $1 AND objective_id = ANY($2)
		  AND ($3::timestamptz IS NULL OR (processed_at, record_id) < ($3, $4))
		ORDER BY processed_at DESC, record_id DESC
		LIMIT $5`
)

// StoredConfigs returns the current configuration of one achievement (id)
// or of every one (id empty), ordered by id.
func (s *PostgresStore) StoredConfigs(ctx context.Context, id string) (out []StoredConfig, err error) {
	defer derrors.Wrap(&err, "stored achievement configurations")
	rows, err := s.pool.Query(ctx, sqlStoredConfigs, id)
	if err != nil {
		return nil, err
	}
	var (
		sc  StoredConfig
		aid string
		raw []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&aid, &sc.Version, &sc.Author, &sc.ChangedAt, &raw, &sc.DisabledReason}, func() error {
		v := sc
		if err := json.Unmarshal(raw, &v.Config); err != nil {
			return fmt.Errorf("achievement %q version %d: %w", aid, v.Version, err)
		}
		out = append(out, v)
		return nil
	})
	if err == nil && id != "" && len(out) == 0 {
		err = fmt.Errorf("achievement %q: %w", id, ErrNotFound)
	}
	return out, err
}

// ConfigHistory returns every saved configuration of an achievement,
// newest first.
func (s *PostgresStore) ConfigHistory(ctx context.Context, id string) (out []ConfigVersion, err error) {
	defer derrors.Wrap(&err, "configuration history of %q", id)
	rows, err := s.pool.Query(ctx, sqlConfigHistory, id)
	if err != nil {
		return nil, err
	}
	var (
		v   ConfigVersion
		raw []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&v.Version, &v.Author, &v.ChangedAt, &raw}, func() error {
		entry := v
		if err := json.Unmarshal(raw, &entry.Config); err != nil {
			return err
		}
		out = append(out, entry)
		return nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("achievement %q: %w", id, ErrNotFound)
	}
	return out, err
}

// SetUserStatus sets a user's status and returns the previous one.
//
// A banned or deleted user's events keep updating their ledger and
// counters, but the achievements worker folds nothing for them. When such
// a user becomes active again, every objective of theirs takes a new
// progress version in the same transaction, so the worker's next cycle
// folds all their achievements from what their events say: goals met
// during the ban are granted, and revocable achievements whose goal is no
// longer met are revoked.
func (s *PostgresStore) SetUserStatus(ctx context.Context, userID, status string) (prev string, err error) {
	switch status {
	case "active", "deleted", "banned":
	default:
		return "", fmt.Errorf("status %q is not valid; use active, deleted or banned", status)
	}
	defer derrors.Wrap(&err, "set status of user %q to %s", userID, status)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A writer of progress versions, like a consuming batch.
		if _, err := tx.Exec(ctx, sqlXactLockShared, int32(lockClassProgress)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, sqlSetUserStatus, userID, status).Scan(&prev); err != nil {
			return err
		}
		if prev == "active" || status != "active" {
			return nil
		}
		_, err := tx.Exec(ctx, sqlRefreshUserObjectives, userID)
		return err
	})
	return prev, err
}

// LogEntry is one row of the processing log.
type LogEntry struct {
	RecordID     string
	ObjectiveID  int64
	Outcome      string
	Filter       string
	ContentID    string
	Delta        Deltas
	Counters     Deltas
	OccurredAt   *time.Time
	ProcessedAt  time.Time
	ObjectiveKey string // filled in by the caller that knows the objectives
}

// LogPage is a cursor in the processing log: the last entry of a page.
type LogPage struct {
	ProcessedAt time.Time
	RecordID    string
}

// ProcessingLog lists the processing log of a user's objectives, newest
// first, limit entries after the cursor (nil for the first page).
func (s *PostgresStore) ProcessingLog(ctx context.Context, userID string, objectives []int64, after *LogPage, limit int) (out []LogEntry, err error) {
	defer derrors.Wrap(&err, "processing log of user %q", userID)
	var (
		at  *time.Time
		rec string
	)
	if after != nil {
		at, rec = &after.ProcessedAt, after.RecordID
	}
	rows, err := s.pool.Query(ctx, sqlProcessingLog, userID, objectives, at, rec, limit)
	if err != nil {
		return nil, err
	}
	var (
		e               LogEntry
		delta, counters []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&e.RecordID, &e.ObjectiveID, &e.Outcome, &e.Filter, &e.ContentID, &delta, &counters, &e.OccurredAt, &e.ProcessedAt}, func() error {
		entry := e
		entry.Delta, entry.Counters = nil, nil
		for _, p := range []struct {
			raw []byte
			dst *Deltas
		}{{delta, &entry.Delta}, {counters, &entry.Counters}} {
			if len(p.raw) > 0 {
				if err := json.Unmarshal(p.raw, p.dst); err != nil {
					return err
				}
			}
		}
		out = append(out, entry)
		return nil
	})
	return out, err
}

// isNotFound reports whether err means something does not exist.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

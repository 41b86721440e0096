package awards

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const (
	backfillColumns = `id, achievement_id, from_time, state, total, done, skipped, error, notify, actor,
		started_at, finished_at, sources, last_seq, position`
	sqlInsertBackfill = `
		INSERT INTO awards.backfills (achievement_id, from_time, notify, actor, sources, last_seq)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING ` + backfillColumns
	sqlGetBackfill      = `SELECT ` + backfillColumns + ` FROM awards.backfills WHERE id = $1`
	sqlListBackfills    = `SELECT ` + backfillColumns + ` FROM awards.backfills ORDER BY id DESC LIMIT $1`
	sqlRunningBackfills = `SELECT id FROM awards.backfills WHERE state = 'running' ORDER BY id`
	sqlBackfillProgress = `UPDATE awards.backfills SET total = $2, done = $3, skipped = $4, position = $5 WHERE id = $1 AND state = 'running'`
	sqlFinishBackfill   = `UPDATE awards.backfills SET state = $2, error = $3, total = $4, finished_at = now() WHERE id = $1 AND state = 'running'`
	sqlTryLockBackfill  = `SELECT pg_try_advisory_lock($1::int4, $2::int4)`
	sqlUnlockBackfill   = `SELECT pg_advisory_unlock($1::int4, $2::int4)`
)

// backfillRow is a stored backfill with where it stands in the stream.
type backfillRow struct {
	Backfill
	sources  []string
	lastSeq  uint64
	position uint64
}

func scanBackfill(row pgx.Row) (backfillRow, error) {
	var (
		b                      backfillRow
		total, done, skipped   int64
		lastSeq, position      int64
		finished               *time.Time
		from, started          time.Time
		achievement, state, er string
	)
	err := row.Scan(&b.ID, &achievement, &from, &state, &total, &done, &skipped, &er, &b.Notify, &b.Actor,
		&started, &finished, &b.sources, &lastSeq, &position)
	if err != nil {
		return b, err
	}
	b.AchievementID, b.State, b.Error = achievement, state, er
	b.From, b.StartedAt = from.UTC(), started.UTC()
	if finished != nil {
		t := finished.UTC()
		b.FinishedAt = &t
	}
	b.Total, b.Done, b.Skipped = uint64(total), uint64(done), uint64(skipped)
	b.lastSeq, b.position = uint64(lastSeq), uint64(position)
	return b, nil
}

// insertBackfill stores a new running backfill.
func (s *PostgresStore) insertBackfill(ctx context.Context, req BackfillRequest, sources []string, lastSeq uint64) (b backfillRow, err error) {
	defer derrors.Wrap(&err, "store backfill")
	return scanBackfill(s.pool.QueryRow(ctx, sqlInsertBackfill, req.AchievementID, req.From, req.Notify, req.Actor, sources, int64(lastSeq)))
}

// backfill returns a stored backfill; ErrNotFound (wrapped) when there is none.
func (s *PostgresStore) backfill(ctx context.Context, id int64) (backfillRow, error) {
	b, err := scanBackfill(s.pool.QueryRow(ctx, sqlGetBackfill, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("backfill %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return b, fmt.Errorf("backfill %d: %w", id, err)
	}
	return b, nil
}

// listBackfills returns the newest limit backfills, newest first.
func (s *PostgresStore) listBackfills(ctx context.Context, limit int) (out []Backfill, err error) {
	defer derrors.Wrap(&err, "list backfills")
	rows, err := s.pool.Query(ctx, sqlListBackfills, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		b, err := scanBackfill(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b.Backfill)
	}
	return out, rows.Err()
}

// runningBackfills lists the ids of the backfills still running, oldest first.
func (s *PostgresStore) runningBackfills(ctx context.Context) (ids []int64, err error) {
	defer derrors.Wrap(&err, "list running backfills")
	rows, err := s.pool.Query(ctx, sqlRunningBackfills)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// saveBackfillProgress records the counters and the last stream sequence
// replayed.
func (s *PostgresStore) saveBackfillProgress(ctx context.Context, b backfillRow) error {
	if _, err := s.pool.Exec(ctx, sqlBackfillProgress, b.ID, int64(b.Total), int64(b.Done), int64(b.Skipped), int64(b.position)); err != nil {
		return fmt.Errorf("record progress of backfill %d: %w", b.ID, err)
	}
	return nil
}

// finishBackfill marks a running backfill done or failed.
func (s *PostgresStore) finishBackfill(ctx context.Context, id int64, state, reason string, total uint64) error {
	if _, err := s.pool.Exec(ctx, sqlFinishBackfill, id, state, reason, int64(total)); err != nil {
		return fmt.Errorf("mark backfill %d %s: %w", id, state, err)
	}
	return nil
}

// claimBackfill takes the backfill's lock on a connection of its own. ok
// is false when another process holds it; otherwise release gives it back.
func (s *PostgresStore) claimBackfill(ctx context.Context, id int64) (release func(), ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("claim backfill %d: %w", id, err)
	}
	if err := conn.QueryRow(ctx, sqlTryLockBackfill, int32(lockClassBackfill), int32(id)).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("claim backfill %d: %w", id, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, sqlUnlockBackfill, int32(lockClassBackfill), int32(id)); err != nil {
			// The lock goes with the connection.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, true, nil
}

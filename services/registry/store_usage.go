package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const (
	sqlVersionsOfEvents = `SELECT event_id, version FROM registry.event_versions WHERE event_id = ANY($1::bigint[])`

	// sqlRecordUsage adds a report to the stored counts. Counts of one key
	// are summed first (ON CONFLICT cannot touch a row twice in one
	// statement), and rows are written in key order so concurrent reports
	// lock them in the same order.
	sqlRecordUsage = `
		INSERT INTO registry.usage AS u (event_id, version, minute, environment, app_version, status, reason, count)
		SELECT event_id, version, minute, environment, app_version, status, reason, sum(count)::bigint
		FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])
			AS c (event_id, version, minute, environment, app_version, status, reason, count)
		GROUP BY event_id, version, minute, environment, app_version, status, reason
		ORDER BY event_id, version, minute, environment, app_version, status, reason
		ON CONFLICT (event_id, version, minute, environment, app_version, status, reason)
		DO UPDATE SET count = u.count + excluded.count`

	sqlStatsVersionExists = `
		SELECT EXISTS (SELECT 1 FROM registry.event_versions WHERE event_id = $1 AND ($2::bigint = 0 OR version = $2::bigint))`

	// The stats queries share their filter: $1 event, $2 version (0 for
	// all), $3 environment ('' for all).
	sqlStatsFilter = `u.event_id = $1 AND ($2::bigint = 0 OR u.version = $2::bigint) AND ($3::text = '' OR u.environment = $3::text)`

	// sqlStatsSeries buckets the period [$4, $5) in buckets of $6 minutes
	// aligned on the Unix epoch, so hourly buckets start on the hour.
	sqlStatsSeries = `
		SELECT date_bin(make_interval(mins => $6::int), u.minute, timestamptz 'epoch') AS start,
			coalesce(sum(u.count) FILTER (WHERE u.status = 'accepted'), 0)::bigint,
			coalesce(sum(u.count) FILTER (WHERE u.status = 'rejected'), 0)::bigint
		FROM registry.usage u
		WHERE ` + sqlStatsFilter + ` AND u.minute >= $4 AND u.minute < $5
		GROUP BY start
		ORDER BY start`

	sqlStatsReasons = `
		SELECT u.reason, sum(u.count)::bigint
		FROM registry.usage u
		WHERE ` + sqlStatsFilter + ` AND u.minute >= $4 AND u.minute < $5 AND u.status = 'rejected'
		GROUP BY u.reason
		ORDER BY u.reason`

	sqlStatsLastSeen = `
		SELECT u.environment, u.app_version, u.version, max(u.minute)
		FROM registry.usage u
		WHERE ` + sqlStatsFilter + `
		GROUP BY u.environment, u.app_version, u.version
		ORDER BY max(u.minute) DESC, u.environment, u.app_version, u.version`

	// sqlVersionVolumes counts, per version and environment, the events in
	// the window [$1 - $2 minutes, $1) (day 0) and in the same window on
	// each of the $3 days before (the baseline), with the most frequent
	// rejection reason in the window. Days are 24 hours, whatever the
	// session's time zone does with daylight saving.
	sqlVersionVolumes = `
		WITH periods AS (
			SELECT d AS day,
				$1::timestamptz - d * interval '24 hours' - make_interval(mins => $2::int) AS start,
				$1::timestamptz - d * interval '24 hours' AS stop
			FROM generate_series(0, $3::int) AS d
		), volumes AS (
			SELECT u.event_id, u.version, u.environment,
				coalesce(sum(u.count) FILTER (WHERE p.day = 0 AND u.status = 'accepted'), 0)::bigint AS accepted,
				coalesce(sum(u.count) FILTER (WHERE p.day = 0 AND u.status = 'rejected'), 0)::bigint AS rejected,
				coalesce(sum(u.count) FILTER (WHERE p.day > 0), 0)::bigint AS baseline
			FROM periods p
			JOIN registry.usage u ON u.minute >= p.start AND u.minute < p.stop
			GROUP BY u.event_id, u.version, u.environment
		), reasons AS (
			SELECT DISTINCT ON (event_id, version, environment) event_id, version, environment, reason
			FROM (
				SELECT u.event_id, u.version, u.environment, u.reason, sum(u.count) AS n
				FROM registry.usage u
				WHERE u.status = 'rejected'
				  AND u.minute >= $1::timestamptz - make_interval(mins => $2::int) AND u.minute < $1::timestamptz
				GROUP BY u.event_id, u.version, u.environment, u.reason
			) r
			ORDER BY event_id, version, environment, n DESC, reason
		)
		SELECT v.event_id, v.version, ev.message_name, ev.status, v.environment,
			v.accepted, v.rejected, coalesce(r.reason, ''), v.baseline
		FROM volumes v
		JOIN registry.event_versions ev ON ev.event_id = v.event_id AND ev.version = v.version
		LEFT JOIN reasons r ON r.event_id = v.event_id AND r.version = v.version AND r.environment = v.environment
		ORDER BY v.event_id, v.version, v.environment`

	// sqlUnusedVersions finds the active versions with no usage since $1;
	// the last minute each was ever seen comes from the primary key.
	sqlUnusedVersions = `
		SELECT v.event_id, v.version, v.message_name, last.minute
		FROM registry.event_versions v
		LEFT JOIN LATERAL (
			SELECT max(u.minute) AS minute FROM registry.usage u
			WHERE u.event_id = v.event_id AND u.version = v.version
		) last ON true
		WHERE v.status = 'active' AND (last.minute IS NULL OR last.minute < $1)
		ORDER BY v.event_id, v.version`
)

// RecordUsage implements UsageStore. Counts of zero are checked but store
// nothing, so they never make a version look used.
func (s *PostgresStore) RecordUsage(ctx context.Context, counts []UsageCount) (err error) {
	defer derrors.Wrap(&err, "record usage (%d counts)", len(counts))
	if len(counts) == 0 {
		return nil
	}
	var (
		eventIDs, versions, values   []int64
		minutes                      []time.Time
		envs, apps, statuses, reason []string
	)
	seen := map[uint32]bool{}
	var ids []int64
	for _, c := range counts {
		if !seen[c.EventID] {
			seen[c.EventID] = true
			ids = append(ids, int64(c.EventID))
		}
		if c.Count == 0 {
			continue
		}
		eventIDs = append(eventIDs, int64(c.EventID))
		versions = append(versions, int64(c.Version))
		minutes = append(minutes, c.Minute)
		envs = append(envs, c.Environment)
		apps = append(apps, c.AppVersion)
		statuses = append(statuses, c.Status)
		reason = append(reason, c.Reason)
		values = append(values, c.Count)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sqlVersionsOfEvents, ids)
		if err != nil {
			return err
		}
		registered := map[versionKey]bool{}
		events := map[uint32]bool{}
		var k versionKey
		if _, err := pgx.ForEachRow(rows, []any{&k.id, &k.version}, func() error {
			registered[k] = true
			events[k.id] = true
			return nil
		}); err != nil {
			return err
		}
		for i, c := range counts {
			if !registered[versionKey{c.EventID, c.Version}] {
				return &UnregisteredVersionError{Index: i, EventID: c.EventID, Version: c.Version, EventKnown: events[c.EventID]}
			}
		}
		if len(values) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, sqlRecordUsage, eventIDs, versions, minutes, envs, apps, statuses, reason, values)
		return err
	})
}

// EventStats implements UsageStore. Its queries read one snapshot, so the
// series, the totals and the reasons agree.
func (s *PostgresStore) EventStats(ctx context.Context, q StatsQuery) (st EventStats, err error) {
	defer derrors.Wrap(&err, "stats of event %d v%d", q.EventID, q.Version)
	bucket := int(q.Bucket / time.Minute)
	if bucket <= 0 {
		return EventStats{}, fmt.Errorf("bucket %s is shorter than a minute", q.Bucket)
	}
	filter := []any{int64(q.EventID), int64(q.Version), q.Environment}
	period := []any{int64(q.EventID), int64(q.Version), q.Environment, q.From, q.To}
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, sqlStatsVersionExists, int64(q.EventID), int64(q.Version)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return ErrNotFound
		}

		rows, err := tx.Query(ctx, sqlStatsSeries, int64(q.EventID), int64(q.Version), q.Environment, q.From, q.To, bucket)
		if err != nil {
			return err
		}
		points := map[time.Time]StatsPoint{}
		var p StatsPoint
		if _, err := pgx.ForEachRow(rows, []any{&p.Start, &p.Accepted, &p.Rejected}, func() error {
			points[p.Start.UTC()] = p
			st.Accepted += p.Accepted
			st.Rejected += p.Rejected
			return nil
		}); err != nil {
			return err
		}
		for start := binStart(q.From, q.Bucket); start.Before(q.To); start = start.Add(q.Bucket) {
			p := points[start]
			p.Start = start
			st.Series = append(st.Series, p)
		}

		rows, err = tx.Query(ctx, sqlStatsReasons, period...)
		if err != nil {
			return err
		}
		st.RejectionsByReason = map[string]int64{}
		var (
			reason string
			n      int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&reason, &n}, func() error {
			st.RejectionsByReason[reason] = n
			return nil
		}); err != nil {
			return err
		}

		rows, err = tx.Query(ctx, sqlStatsLastSeen, filter...)
		if err != nil {
			return err
		}
		var l LastSeen
		_, err = pgx.ForEachRow(rows, []any{&l.Environment, &l.AppVersion, &l.Version, &l.At}, func() error {
			st.LastSeen = append(st.LastSeen, l)
			return nil
		})
		return err
	})
	return st, err
}

// binStart is the start of the bucket holding t, buckets being aligned on
// the Unix epoch as date_bin(..., 'epoch') aligns them.
func binStart(t time.Time, bucket time.Duration) time.Time {
	since := t.Sub(time.Unix(0, 0))
	off := since % bucket
	if off < 0 {
		off += bucket
	}
	return t.Add(-off).UTC()
}

// VersionVolumes implements UsageStore.
func (s *PostgresStore) VersionVolumes(ctx context.Context, q VolumeQuery) (volumes []VersionVolume, err error) {
	defer derrors.Wrap(&err, "volumes of the %s before %s", q.Window, q.At.Format(time.RFC3339))
	rows, err := s.pool.Query(ctx, sqlVersionVolumes, q.At, int(q.Window/time.Minute), q.BaselineDays)
	if err != nil {
		return nil, err
	}
	var v VersionVolume
	_, err = pgx.ForEachRow(rows, []any{&v.EventID, &v.Version, &v.MessageName, &v.Status, &v.Environment,
		&v.Accepted, &v.Rejected, &v.TopReason, &v.BaselineTotal}, func() error {
		volumes = append(volumes, v)
		return nil
	})
	return volumes, err
}

// UnusedVersions implements UsageStore.
func (s *PostgresStore) UnusedVersions(ctx context.Context, since time.Time) (unused []UnusedVersion, err error) {
	defer derrors.Wrap(&err, "versions unused since %s", since.Format(time.RFC3339))
	rows, err := s.pool.Query(ctx, sqlUnusedVersions, since)
	if err != nil {
		return nil, err
	}
	var (
		u    UnusedVersion
		last *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&u.EventID, &u.Version, &u.MessageName, &last}, func() error {
		u.LastSeen = time.Time{}
		if last != nil {
			u.LastSeen = last.UTC()
		}
		unused = append(unused, u)
		return nil
	})
	return unused, err
}

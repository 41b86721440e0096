package awards

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Advisory lock classes (the two-key form of pg_advisory_*_lock, so they
// cannot collide with single-key locks such as the migration lock).
const (
	// lockClassProgress guards the progress version sequence: every writer
	// of user objectives holds it shared for its transaction; the
	// achievements worker takes it exclusively for a moment to learn a
	// sequence value below which nothing is still uncommitted.
	lockClassProgress = 0x41574431 // "AWD1"
	// lockClassUserObjective serialises writers of one user objective (a
	// hash of user and objective), so that two sources feeding one
	// objective cannot lose an update.
	lockClassUserObjective = 0x41574432 // "AWD2"
)

const (
	sqlProgressBarrierShared = `SELECT pg_advisory_xact_lock_shared($1::int4, 0)`
	sqlLockUserObjectives    = `
		SELECT count(pg_advisory_xact_lock($1::int4, h))
		FROM (SELECT DISTINCT h FROM unnest($2::int4[]) AS h ORDER BY h) s`
	sqlInactiveUsers = `
		SELECT user_id, status FROM awards.users WHERE user_id = ANY($1) AND status <> 'active'`
	sqlLoggedPairs = `
		SELECT record_id, objective_id FROM awards.processing_log WHERE record_id = ANY($1)`
	sqlLoadLedger = `
		SELECT c.user_id, c.objective_id, c.content_id, c.item_id, c.status, c.value, c.occurred_at, c.record_id
		FROM unnest($1::text[], $2::int8[], $3::text[]) AS k(u, o, c)
		JOIN awards.contributions c ON c.user_id = k.u AND c.objective_id = k.o AND c.content_id = k.c`
	sqlLoadUserObjectives = `
		SELECT uo.user_id, uo.objective_id, uo.counters, uo.progress, uo.version
		FROM unnest($1::text[], $2::int8[]) AS k(u, o)
		JOIN awards.user_objectives uo ON uo.user_id = k.u AND uo.objective_id = k.o`
	sqlUpsertLedger = `
		INSERT INTO awards.contributions (user_id, objective_id, content_id, item_id, status, value, occurred_at, record_id)
		SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::timestamptz[], $8::text[])
		ON CONFLICT (user_id, objective_id, content_id) DO UPDATE SET item_id = excluded.item_id,
			status = excluded.status, value = excluded.value, occurred_at = excluded.occurred_at,
			record_id = excluded.record_id, updated_at = now()`
	sqlUpsertUserObjectives = `
		INSERT INTO awards.user_objectives (user_id, objective_id, counters, progress, version)
		SELECT k.u, k.o, k.c, k.p, nextval('awards.progress_version_seq')
		FROM unnest($1::text[], $2::int8[], $3::jsonb[], $4::float8[]) WITH ORDINALITY AS k(u, o, c, p, n)
		ORDER BY k.n
		ON CONFLICT (user_id, objective_id) DO UPDATE SET counters = excluded.counters,
			progress = excluded.progress, version = excluded.version, updated_at = now()`
	sqlInsertProcessingLog = `
		INSERT INTO awards.processing_log (record_id, objective_id, user_id, outcome, filter, content_id, delta, counters, occurred_at)
		SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[], $9::timestamptz[])
		ON CONFLICT (record_id, objective_id) DO NOTHING`
)

// userObjectiveLock is the advisory lock key of a user objective.
func userObjectiveLock(k progressKey) int32 {
	h := fnv.New32a()
	h.Write([]byte(k.user))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(k.objective, 10)))
	return int32(h.Sum32())
}

// applyEvents runs one batch in one transaction: lock the user objectives
// it touches, load their counters, ledger entries, users' statuses and
// what the processing log already holds, apply in memory, write back.
func (s *PostgresStore) applyEvents(ctx context.Context, work []pendingEvent, res *BatchResult) error {
	// What the batch may touch, from the events alone.
	var (
		users, records       []string
		lUsers, lContent     []string
		lObjectives          []int64
		pUsers               []string
		pObjectives          []int64
		locks                []int32
		seenUser, seenRecord = map[string]bool{}, map[string]bool{}
		seenLedger           = map[ledgerKey]bool{}
		seenProgress         = map[progressKey]bool{}
	)
	for _, w := range work {
		if !seenUser[w.ev.UserID] {
			seenUser[w.ev.UserID] = true
			users = append(users, w.ev.UserID)
		}
		if !seenRecord[w.ev.RecordID] {
			seenRecord[w.ev.RecordID] = true
			records = append(records, w.ev.RecordID)
		}
		for _, o := range w.objectives {
			pk := progressKey{w.ev.UserID, o.ID}
			if !seenProgress[pk] {
				seenProgress[pk] = true
				pUsers, pObjectives = append(pUsers, pk.user), append(pObjectives, pk.objective)
				locks = append(locks, userObjectiveLock(pk))
			}
			if o.firstFailing(w.ev) != "" {
				continue
			}
			if id, ok := o.Rule.ContentID(w.ev); ok {
				lk := ledgerKey{w.ev.UserID, o.ID, id}
				if !seenLedger[lk] {
					seenLedger[lk] = true
					lUsers, lObjectives, lContent = append(lUsers, lk.user), append(lObjectives, lk.objective), append(lContent, lk.content)
				}
			}
		}
	}

	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(sqlProgressBarrierShared, int32(lockClassProgress))
		b.Queue(sqlLockUserObjectives, int32(lockClassUserObjective), locks)
		inactive := map[string]bool{}
		b.Queue(sqlInactiveUsers, users).Query(func(rows pgx.Rows) error {
			var user, status string
			_, err := pgx.ForEachRow(rows, []any{&user, &status}, func() error {
				inactive[user] = true
				return nil
			})
			return err
		})
		logged := map[progressKey]bool{} // (record id, objective) pairs
		b.Queue(sqlLoggedPairs, records).Query(func(rows pgx.Rows) error {
			var rec string
			var obj int64
			_, err := pgx.ForEachRow(rows, []any{&rec, &obj}, func() error {
				logged[progressKey{rec, obj}] = true
				return nil
			})
			return err
		})
		ledger := map[ledgerKey]*Contribution{}
		b.Queue(sqlLoadLedger, lUsers, lObjectives, lContent).Query(func(rows pgx.Rows) error {
			var (
				k  ledgerKey
				c  Contribution
				at *time.Time
			)
			_, err := pgx.ForEachRow(rows, []any{&k.user, &k.objective, &k.content, &c.ItemID, &c.Status, &c.Value, &at, &c.RecordID}, func() error {
				entry := c
				entry.ContentID = k.content
				if at != nil {
					entry.OccurredAt = *at
				}
				ledger[k] = &entry
				return nil
			})
			return err
		})
		counters := map[progressKey]*userObjective{}
		b.Queue(sqlLoadUserObjectives, pUsers, pObjectives).Query(func(rows pgx.Rows) error {
			var (
				k   progressKey
				raw []byte
				uo  userObjective
			)
			_, err := pgx.ForEachRow(rows, []any{&k.user, &k.objective, &raw, &uo.progress, &uo.version}, func() error {
				entry := uo
				entry.counters = Deltas{}
				if err := json.Unmarshal(raw, &entry.counters); err != nil {
					return fmt.Errorf("counters of user %q objective %d: %w", k.user, k.objective, err)
				}
				counters[k] = &entry
				return nil
			})
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}

		// Drop what must not move anything: inactive users' events and
		// (event, objective) pairs already applied.
		kept := make([]pendingEvent, 0, len(work))
		for _, w := range work {
			if inactive[w.ev.UserID] {
				res.Inactive++
				continue
			}
			var objs []*CompiledObjective
			for _, o := range w.objectives {
				if logged[progressKey{w.ev.RecordID, o.ID}] {
					res.Duplicates++
					continue
				}
				objs = append(objs, o)
			}
			if len(objs) > 0 {
				kept = append(kept, pendingEvent{ev: w.ev, objectives: objs})
			}
		}
		ledgerChanged := map[ledgerKey]bool{}
		entries := applyInMemory(kept, ledger, counters, ledgerChanged)
		res.Applied += len(entries)
		return s.writeProgress(ctx, tx, entries, ledger, ledgerChanged, counters, res)
	})
}

// writeProgress writes the changed ledger entries and counters and the
// processing log, pipelined.
func (s *PostgresStore) writeProgress(ctx context.Context, tx pgx.Tx, entries []logEntry, ledger map[ledgerKey]*Contribution,
	ledgerChanged map[ledgerKey]bool, counters map[progressKey]*userObjective, res *BatchResult) error {
	b := &pgx.Batch{}
	if n := len(ledgerChanged); n > 0 {
		var (
			us, cs, items, statuses, recs = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
			os                            = make([]int64, 0, n)
			values                        = make([]float64, 0, n)
			ats                           = make([]*time.Time, 0, n)
		)
		for k := range ledgerChanged {
			c := ledger[k]
			us, os, cs = append(us, k.user), append(os, k.objective), append(cs, k.content)
			items, statuses, values, recs = append(items, c.ItemID), append(statuses, c.Status), append(values, c.Value), append(recs, c.RecordID)
			if c.OccurredAt.IsZero() {
				ats = append(ats, nil)
			} else {
				at := c.OccurredAt
				ats = append(ats, &at)
			}
		}
		b.Queue(sqlUpsertLedger, us, os, cs, items, statuses, values, ats, recs)
	}
	var (
		pu []string
		po []int64
		pc []string
		pp []float64
	)
	for _, k := range sortedProgressKeys(counters) {
		uo := counters[k]
		if !uo.changed {
			continue
		}
		js, err := json.Marshal(uo.counters)
		if err != nil {
			return err
		}
		pu, po, pc, pp = append(pu, k.user), append(po, k.objective), append(pc, string(js)), append(pp, uo.progress)
	}
	res.Changed += len(pu)
	if len(pu) > 0 {
		b.Queue(sqlUpsertUserObjectives, pu, po, pc, pp)
	}
	if n := len(entries); n > 0 {
		var (
			recs, users, outcomes, filters, contents = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
			objs                                     = make([]int64, 0, n)
			deltas, after                            = make([]*string, 0, n), make([]*string, 0, n)
			ats                                      = make([]*time.Time, 0, n)
		)
		for _, e := range entries {
			recs, objs, users, outcomes = append(recs, e.recordID), append(objs, e.objective), append(users, e.user), append(outcomes, e.outcome)
			filters, contents = append(filters, e.filter), append(contents, e.content)
			deltas, after = append(deltas, jsonOrNil(e.delta)), append(after, jsonOrNil(e.counters))
			if e.ev.OccurredAt.IsZero() {
				ats = append(ats, nil)
			} else {
				at := e.ev.OccurredAt
				ats = append(ats, &at)
			}
		}
		b.Queue(sqlInsertProcessingLog, recs, objs, users, outcomes, filters, contents, deltas, after, ats)
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

func jsonOrNil(d Deltas) *string {
	if d == nil {
		return nil
	}
	js, err := json.Marshal(d)
	if err != nil {
		return nil
	}
	s := string(js)
	return &s
}

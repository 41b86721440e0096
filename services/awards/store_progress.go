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

const (
	sqlLockUserObjectives = `
		SELECT count(pg_advisory_xact_lock($1::int4, h))
		FROM (SELECT DISTINCT h FROM unnest($2::int4[]) AS h ORDER BY h) s`
	sqlConfigGeneration = `SELECT generation FROM awards.config_generation`
	sqlInactiveUsers    = `
		SELECT user_id, status FROM awards.users WHERE user_id = ANY($1) AND status <> 'active'`
	sqlLoggedPairs = `
		SELECT l.record_id, l.objective_id
		FROM unnest($1::text[], $2::int8[], $3::text[]) AS k(u, o, r)
		JOIN awards.processing_log l ON l.user_id = k.u AND l.objective_id = k.o AND l.record_id = k.r`
	sqlLoadLedger = `
		SELECT c.user_id, c.objective_id, c.content_id, c.item_id, c.status, c.value, c.occurred_at, c.record_id,
			coalesce(c.seq, 0), c.items
		FROM unnest($1::text[], $2::int8[], $3::text[]) AS k(u, o, c)
		JOIN awards.contributions c ON c.user_id = k.u AND c.objective_id = k.o AND c.content_id = k.c`
	sqlLoadUserObjectives = `
		SELECT uo.user_id, uo.objective_id, uo.counters, uo.progress, uo.version
		FROM unnest($1::text[], $2::int8[]) AS k(u, o)
		JOIN awards.user_objectives uo ON uo.user_id = k.u AND uo.objective_id = k.o`
	sqlUpdateLedger = `
		UPDATE awards.contributions c SET item_id = k.i, status = k.s, value = k.v, occurred_at = k.t,
			record_id = k.r, seq = nullif(k.q, 0), items = k.x, updated_at = now()
		FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::timestamptz[], $8::text[],
			$9::int8[], $10::jsonb[])
			AS k(u, o, c, i, s, v, t, r, q, x)
		WHERE c.user_id = k.u AND c.objective_id = k.o AND c.content_id = k.c`
	sqlUpdateUserObjectives = `
		UPDATE awards.user_objectives uo SET counters = k.c, progress = k.p, backfill_id = $5,
			version = nextval('awards.progress_version_seq'), updated_at = now()
		FROM unnest($1::text[], $2::int8[], $3::jsonb[], $4::float8[]) AS k(u, o, c, p)
		WHERE uo.user_id = k.u AND uo.objective_id = k.o`
)

// configGeneration is the stored configuration generation: it moves with
// every write to the achievements and their objectives.
func (s *PostgresStore) configGeneration(ctx context.Context) (generation int64, err error) {
	if err := s.pool.QueryRow(ctx, sqlConfigGeneration).Scan(&generation); err != nil {
		return 0, fmt.Errorf("configuration generation: %w", err)
	}
	return generation, nil
}

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
//
// When generation is not negative and the stored configuration generation
// differs, it writes nothing and returns errConfigChanged. When source is
// set and an operator paused it, it writes nothing and returns
// ErrSourcePaused.
func (s *PostgresStore) applyEvents(ctx context.Context, work []pendingEvent, backfillID, generation int64, source string, res *BatchResult) error {
	// What the batch may touch, from the events alone.
	var (
		users            []string
		logU, logR       []string
		logO             []int64
		lUsers, lContent []string
		lObjectives      []int64
		pUsers           []string
		pObjectives      []int64
		locks            []int32
		seenUser         = map[string]bool{}
		seenLedger       = map[ledgerKey]bool{}
		seenProgress     = map[progressKey]bool{}
	)
	for _, w := range work {
		if !seenUser[w.ev.UserID] {
			seenUser[w.ev.UserID] = true
			users = append(users, w.ev.UserID)
		}
		for _, m := range w.matches {
			o := m.objective
			logU, logO, logR = append(logU, w.ev.UserID), append(logO, o.ID), append(logR, w.ev.RecordID)
			pk := progressKey{w.ev.UserID, o.ID}
			if !seenProgress[pk] {
				seenProgress[pk] = true
				pUsers, pObjectives = append(pUsers, pk.user), append(pObjectives, pk.objective)
				locks = append(locks, userObjectiveLock(pk))
			}
			if m.failing == "" && m.hasContent {
				lk := ledgerKey{w.ev.UserID, o.ID, m.content}
				if !seenLedger[lk] {
					seenLedger[lk] = true
					lUsers, lObjectives, lContent = append(lUsers, lk.user), append(lObjectives, lk.objective), append(lContent, lk.content)
				}
			}
		}
	}

	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		paused := false
		if source != "" {
			// First, before any other lock: a batch waiting here behind a
			// pause holds nothing another batch could wait for.
			b.Queue(sqlXactLockNameShared, int32(lockClassSource), source)
			b.Queue(sqlSourceIsPaused, source).QueryRow(func(row pgx.Row) error { return row.Scan(&paused) })
		}
		b.Queue(sqlXactLockShared, int32(lockClassProgress))
		b.Queue(sqlLockUserObjectives, int32(lockClassUserObjective), locks)
		stored := generation
		if generation >= 0 {
			b.Queue(sqlConfigGeneration).QueryRow(func(row pgx.Row) error { return row.Scan(&stored) })
		}
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
		b.Queue(sqlLoggedPairs, logU, logO, logR).Query(func(rows pgx.Rows) error {
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
				k     ledgerKey
				c     Contribution
				at    *time.Time
				seq   int64
				items []byte
			)
			_, err := pgx.ForEachRow(rows, []any{&k.user, &k.objective, &k.content, &c.ItemID, &c.Status, &c.Value, &at, &c.RecordID, &seq, &items}, func() error {
				entry := c
				entry.ContentID, entry.Sequence, entry.Items = k.content, uint64(seq), nil
				if at != nil {
					entry.OccurredAt = *at
				}
				if len(items) > 0 {
					if err := json.Unmarshal(items, &entry.Items); err != nil {
						return fmt.Errorf("items of ledger entry %q (user %q, objective %d): %w", k.content, k.user, k.objective, err)
					}
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
				entry.stored = true
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
		if paused {
			return fmt.Errorf("%w: %s", ErrSourcePaused, source)
		}
		if stored != generation {
			return fmt.Errorf("%w (generation %d, stored %d)", errConfigChanged, generation, stored)
		}

		// Drop what must not move anything: (event, objective) pairs
		// already applied. Banned and deleted users' events still update
		// their ledger and counters (the achievements worker grants them
		// nothing and the public API shows nothing), so that on an unban
		// their state is what their events say: a photo blocked during
		// the ban no longer counts.
		kept := make([]pendingEvent, 0, len(work))
		for _, w := range work {
			if inactive[w.ev.UserID] {
				res.Inactive++
			}
			var matches []match
			for _, m := range w.matches {
				pair := progressKey{w.ev.RecordID, m.objective.ID}
				if logged[pair] {
					res.Duplicates++
					continue
				}
				// A record delivered twice within the batch counts once.
				logged[pair] = true
				matches = append(matches, m)
			}
			if len(matches) == 0 {
				res.Skipped++
				continue
			}
			kept = append(kept, pendingEvent{ev: w.ev, matches: matches})
		}
		ledgerStored := make(map[ledgerKey]bool, len(ledger))
		for k := range ledger {
			ledgerStored[k] = true
		}
		ledgerChanged := map[ledgerKey]bool{}
		entries := applyInMemory(kept, ledger, counters, ledgerChanged)
		res.Applied += len(entries)
		if err := s.writeProgress(ctx, tx, entries, ledger, ledgerChanged, ledgerStored, counters, backfillID, res); err != nil {
			return err
		}
		if s.hooks.beforeCommit != nil {
			s.hooks.beforeCommit()
		}
		return nil
	})
}

// writeProgress writes the changed ledger entries and counters and the
// processing log. Rows the batch found in the database are updated in one
// statement each; new rows are copied in (COPY is the cheapest insert). No
// other writer can add the same rows meanwhile: they are all under the user
// objective locks this transaction holds.
func (s *PostgresStore) writeProgress(ctx context.Context, tx pgx.Tx, entries []logEntry, ledger map[ledgerKey]*Contribution,
	ledgerChanged, ledgerStored map[ledgerKey]bool, counters map[progressKey]*userObjective, backfillID int64, res *BatchResult) error {
	var backfill *int64 // NULL for live processing
	if backfillID != 0 {
		backfill = &backfillID
	}
	var newLedger []ledgerKey
	var upd ledgerColumns
	for k := range ledgerChanged {
		if ledgerStored[k] {
			if err := upd.add(k, ledger[k]); err != nil {
				return err
			}
		} else {
			newLedger = append(newLedger, k)
		}
	}
	var (
		newProgress []progressKey
		pu          []string
		po          []int64
		pc          []string
		pp          []float64
	)
	for _, k := range sortedProgressKeys(counters) {
		uo := counters[k]
		if !uo.changed {
			continue
		}
		res.Changed++
		if !uo.stored {
			newProgress = append(newProgress, k)
			continue
		}
		js, err := json.Marshal(uo.counters)
		if err != nil {
			return err
		}
		pu, po, pc, pp = append(pu, k.user), append(po, k.objective), append(pc, string(js)), append(pp, uo.progress)
	}
	b := &pgx.Batch{}
	if len(upd.users) > 0 {
		b.Queue(sqlUpdateLedger, upd.users, upd.objectives, upd.contents, upd.items, upd.statuses, upd.values, upd.times, upd.records,
			upd.seqs, upd.itemStates)
	}
	if len(pu) > 0 {
		b.Queue(sqlUpdateUserObjectives, pu, po, pc, pp, backfill)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
	if len(newLedger) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"awards", "contributions"}, ledgerColumnNames, pgx.CopyFromSlice(len(newLedger), func(i int) ([]any, error) {
			k := newLedger[i]
			c := ledger[k]
			items, err := itemsJSON(c.Items)
			return []any{k.user, k.objective, k.content, c.ItemID, c.Status, c.Value, timeOrNil(c.OccurredAt), c.RecordID, seqOrNil(c.Sequence), items}, err
		}))
		if err != nil {
			return fmt.Errorf("insert ledger entries: %w", err)
		}
	}
	if len(newProgress) > 0 {
		// version takes nextval of the progress sequence by default.
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"awards", "user_objectives"}, []string{"user_id", "objective_id", "counters", "progress", "backfill_id"},
			pgx.CopyFromSlice(len(newProgress), func(i int) ([]any, error) {
				k := newProgress[i]
				uo := counters[k]
				js, err := json.Marshal(uo.counters)
				return []any{k.user, k.objective, string(js), uo.progress, backfill}, err
			}))
		if err != nil {
			return fmt.Errorf("insert user objectives: %w", err)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"awards", "processing_log"}, processingLogColumns, pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) {
		e := entries[i]
		return []any{e.user, e.objective, e.recordID, e.outcome, e.filter, e.content, jsonOrNil(e.delta), jsonOrNil(e.counters), timeOrNil(e.ev.OccurredAt)}, nil
	}))
	if err != nil {
		return fmt.Errorf("write the processing log: %w", err)
	}
	return nil
}

var (
	processingLogColumns = []string{"user_id", "objective_id", "record_id", "outcome", "filter", "content_id", "delta", "counters", "occurred_at"}
	ledgerColumnNames    = []string{"user_id", "objective_id", "content_id", "item_id", "status", "value", "occurred_at", "record_id", "seq", "items"}
)

// ledgerColumns are ledger entries as column arrays.
type ledgerColumns struct {
	users, contents, items, statuses, records []string
	objectives, seqs                          []int64
	values                                    []float64
	times                                     []*time.Time
	itemStates                                []*string
}

func (c *ledgerColumns) add(k ledgerKey, e *Contribution) error {
	items, err := itemsJSON(e.Items)
	if err != nil {
		return err
	}
	c.users, c.objectives, c.contents = append(c.users, k.user), append(c.objectives, k.objective), append(c.contents, k.content)
	c.items, c.statuses, c.values, c.records = append(c.items, e.ItemID), append(c.statuses, e.Status), append(c.values, e.Value), append(c.records, e.RecordID)
	c.times, c.seqs, c.itemStates = append(c.times, timeOrNil(e.OccurredAt)), append(c.seqs, int64(e.Sequence)), append(c.itemStates, items)
	return nil
}

// itemsJSON is a ledger entry's items as stored (NULL when it has none).
func itemsJSON(items map[string]ItemState) (*string, error) {
	if len(items) == 0 {
		return nil, nil
	}
	js, err := json.Marshal(items)
	if err != nil {
		return nil, fmt.Errorf("encode ledger items: %w", err)
	}
	s := string(js)
	return &s, nil
}

// seqOrNil is a stream sequence as stored (NULL when unknown).
func seqOrNil(seq uint64) *int64 {
	if seq == 0 {
		return nil
	}
	v := int64(seq)
	return &v
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
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

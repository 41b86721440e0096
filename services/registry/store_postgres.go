package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/derrors"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// PostgresStore is the Store on PostgreSQL (schema "registry").
type PostgresStore struct {
	pool *pgxpool.Pool
	// descriptors caches parsed descriptor sets: a stored one never changes.
	descriptors *boundedCache[uint64, *Descriptors]
	// hubs holds the revision watch hub while anyone subscribes.
	hubs *hubSlot
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a store using pool.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore {
	s := &PostgresStore{pool: pool, hubs: &hubSlot{}}
	s.descriptors = newDescriptorCache(s.descriptorSet)
	return s
}

// NewReplicaStore returns a store reading from replica, a streaming replica
// of primary's database, that shares primary's parsed descriptor sets: they
// never change, so one copy in memory serves both, read from the primary
// when neither has it (a replica may not have the newest push yet).
func NewReplicaStore(replica *pgxpool.Pool, primary *PostgresStore) *PostgresStore {
	return &PostgresStore{pool: replica, descriptors: primary.descriptors, hubs: &hubSlot{}}
}

// registerLock serializes registrations so revisions and version numbers are
// assigned without races between registry replicas.
const registerLock = 0x636c6b72656731 // "clkreg1"

const (
	sqlLockRegister   = `SELECT pg_advisory_xact_lock($1)`
	sqlKnownVersions  = `SELECT event_id, version, message_name, fingerprint FROM registry.event_versions`
	sqlKnownEvents    = `SELECT id, name FROM registry.events`
	sqlInsertRevision = `INSERT INTO registry.revisions (author, message, descriptor_set, kind) VALUES ($1, $2, $3, 'push') RETURNING revision`
	sqlInsertEvent    = `INSERT INTO registry.events (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`
	sqlInsertVersion  = `INSERT INTO registry.event_versions (event_id, version, message_name, description, fingerprint, revision)
		VALUES ($1, $2, $3, $4, $5, $6)`
	sqlDocumentVersion = `UPDATE registry.event_versions SET description = $3, docs_revision = $4
		WHERE event_id = $1 AND version = $2`
	sqlCurrentRevision  = `SELECT coalesce(max(revision), 0) FROM registry.revisions`
	sqlRevisions        = `SELECT coalesce(max(revision), 0), coalesce(max(revision) FILTER (WHERE kind = 'push'), 0) FROM registry.revisions`
	sqlDescriptorSet    = `SELECT descriptor_set FROM registry.revisions WHERE revision = $1 AND kind = 'push'`
	sqlEnvironmentKnown = `SELECT EXISTS (SELECT 1 FROM registry.environments WHERE name = $1)`
	// sqlListVersions lists the versions of the events matching the filter
	// ($1 text, $2 event id, $3 environment, $4 owner team, $5 status; each
	// empty or 0 when not filtering), with the event's owner and the
	// environments allowed to send each version.
	sqlListVersions = `
		SELECT e.id, e.name, v.version, v.message_name, v.description, v.fingerprint, v.status, v.revision,
		       coalesce(v.docs_revision, v.revision), v.created_at,
		       coalesce(o.team, ''), coalesce(o.contact, ''),
		       coalesce(array(SELECT a.environment FROM registry.environment_access a
		                      WHERE a.event_id = v.event_id AND a.version = v.version ORDER BY a.environment), '{}')
		FROM registry.events e
		JOIN registry.event_versions v ON v.event_id = e.id
		LEFT JOIN registry.owners o ON o.event_id = e.id
		WHERE ($1 = '' OR e.id IN (
			SELECT event_id FROM registry.event_versions
			WHERE strpos(lower(message_name), lower($1)) > 0 OR strpos(lower(description), lower($1)) > 0))
		  AND ($2::bigint = 0 OR e.id = $2::bigint)
		  AND ($3 = '' OR e.id IN (SELECT event_id FROM registry.environment_access WHERE environment = $3))
		  AND ($4 = '' OR lower(o.team) = lower($4))
		  AND ($5 = '' OR e.id IN (SELECT event_id FROM registry.event_versions WHERE status = $5))
		ORDER BY e.id, v.version`
	// sqlSchemaSetVersions lists the versions environment $1 may send, all
	// of them when $1 is empty.
	sqlSchemaSetVersions = `
		SELECT v.event_id, v.version, v.message_name, v.description, v.fingerprint, v.status, v.revision,
		       coalesce(v.docs_revision, v.revision), v.created_at
		FROM registry.event_versions v
		WHERE $1 = '' OR EXISTS (
			SELECT 1 FROM registry.environment_access a
			WHERE a.environment = $1 AND a.event_id = v.event_id AND a.version = v.version)
		ORDER BY v.event_id, v.version`
)

type versionKey struct{ id, version uint32 }

// Register implements Store.
func (s *PostgresStore) Register(ctx context.Context, r Registration) (res RegisterResult, err error) {
	defer derrors.Wrap(&err, "register catalogue")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlLockRegister, registerLock); err != nil {
			return err
		}
		var revs Revisions
		if err := tx.QueryRow(ctx, sqlRevisions).Scan(&revs.Current, &revs.Push); err != nil {
			return err
		}
		if revs.Push != r.Base {
			return fmt.Errorf("checked against push revision %d, now at %d: %w", r.Base, revs.Push, ErrCatalogueMoved)
		}
		known, latest, err := knownVersions(ctx, tx)
		if err != nil {
			return err
		}
		names, err := knownEvents(ctx, tx)
		if err != nil {
			return err
		}
		fresh, problems := newVersions(r.Versions, known, latest, names)
		if len(problems) > 0 {
			return &ConflictError{Problems: problems}
		}
		if problems := undocumentable(r.Documented, known); len(problems) > 0 {
			return &ConflictError{Problems: problems}
		}
		if len(fresh) == 0 && len(r.Documented) == 0 {
			res.Revision = revs.Current
			return nil
		}
		if err := tx.QueryRow(ctx, sqlInsertRevision, r.Author, r.Message, r.DescriptorSet).Scan(&res.Revision); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for _, v := range fresh {
			batch.Queue(sqlInsertEvent, v.EventID, v.EventName)
			batch.Queue(sqlInsertVersion, v.EventID, v.Version, v.MessageName, v.Description, v.Fingerprint, res.Revision)
			res.Added = append(res.Added, shortName(v.MessageName))
		}
		for _, d := range r.Documented {
			batch.Queue(sqlDocumentVersion, d.EventID, d.Version, d.Description, res.Revision)
			before, after := docStates(d.Changes)
			if err := queueAudit(batch, r.Author, actionDocument, versionEntity(d.EventID, d.Version), before, after); err != nil {
				return err
			}
			res.Documented = append(res.Documented, shortName(d.MessageName))
		}
		push := pushState{Revision: res.Revision, Message: r.Message, Added: res.Added, Documented: res.Documented}
		if err := queueAudit(batch, r.Author, actionPush, catalogueEntity, nil, push); err != nil {
			return err
		}
		return tx.SendBatch(ctx, batch).Close()
	})
	return res, err
}

// pushState is a push as the audit records it.
type pushState struct {
	Revision   uint64   `json:"revision"`
	Message    string   `json:"message,omitempty"`
	Added      []string `json:"added"`
	Documented []string `json:"documented,omitempty"`
}

// docStates are the audit states of a documentation change: each changed
// item (the event or a field path, and what) before and after.
func docStates(changes []schema.DocChange) (before, after map[string]string) {
	before, after = map[string]string{}, map[string]string{}
	for _, c := range changes {
		key := c.What
		if c.Field != "" {
			key = c.Field + "." + c.What
		}
		before[key], after[key] = c.Before, c.After
	}
	return before, after
}

// queueAudit queues an audit row.
func queueAudit(batch *pgx.Batch, actor, action, entity string, before, after any) error {
	b, err := auditJSON(before)
	if err != nil {
		return err
	}
	a, err := auditJSON(after)
	if err != nil {
		return err
	}
	batch.Queue(sqlInsertAudit, actor, action, entity, b, a)
	return nil
}

// undocumentable lists a problem for each documented version that is not
// registered under its name: documentation changes only apply to
// registered versions whose shape did not change.
func undocumentable(in []DocumentedVersion, known map[versionKey]NewVersion) []string {
	var problems []string
	for _, d := range in {
		old, ok := known[versionKey{d.EventID, d.Version}]
		if !ok || old.MessageName != d.MessageName {
			problems = append(problems, fmt.Sprintf(
				"%s (event %d v%d) is not registered under that name: only registered versions are documented; register it first",
				shortName(d.MessageName), d.EventID, d.Version))
		}
	}
	return problems
}

// newVersions picks the versions not yet registered and lists every reason
// the registration cannot be accepted. The versions of in may come in any
// order.
func newVersions(in []NewVersion, known map[versionKey]NewVersion, latest map[uint32]uint32, names map[uint32]string) ([]NewVersion, []string) {
	var (
		fresh    []NewVersion
		problems []string
	)
	in = slices.Clone(in)
	slices.SortStableFunc(in, func(a, b NewVersion) int {
		return cmp.Or(cmp.Compare(a.EventID, b.EventID), cmp.Compare(a.Version, b.Version))
	})
	// highest is the highest version of each event, registered or in this
	// registration: a changed version must move past it.
	highest := maps.Clone(latest)
	for _, v := range in {
		highest[v.EventID] = max(highest[v.EventID], v.Version)
	}
	next := maps.Clone(latest)
	ids := make(map[string]uint32, len(names))
	for id, name := range names {
		ids[name] = id
	}
	messages := make(map[string]versionKey, len(known))
	for k, v := range known {
		messages[v.MessageName] = k
	}
	for _, v := range in {
		k := versionKey{v.EventID, v.Version}
		if old, ok := known[k]; ok {
			if old.Fingerprint != v.Fingerprint || old.MessageName != v.MessageName {
				problems = append(problems, fmt.Sprintf(
					"%s (event %d v%d) differs from the registered version: registered versions are immutable; add %sV%d instead",
					shortName(v.MessageName), v.EventID, v.Version, v.EventName, highest[v.EventID]+1))
			}
			continue
		}
		if v.EventID > math.MaxInt32 || v.Version > math.MaxInt32 {
			problems = append(problems, fmt.Sprintf(
				"%s (event %d v%d): event ids and versions go up to %d; pick a smaller id",
				shortName(v.MessageName), v.EventID, v.Version, math.MaxInt32))
			continue
		}
		if name, ok := names[v.EventID]; ok && name != v.EventName {
			problems = append(problems, fmt.Sprintf(
				"%s uses event id %d, which is registered as %q: one event name per id; pick a new id",
				shortName(v.MessageName), v.EventID, name))
			continue
		}
		if id, ok := ids[v.EventName]; ok && id != v.EventID {
			problems = append(problems, fmt.Sprintf(
				"%s uses event id %d, but %q is registered as event %d: one id per event name; use id %d or another name",
				shortName(v.MessageName), v.EventID, v.EventName, id, id))
			continue
		}
		if other, ok := messages[v.MessageName]; ok {
			problems = append(problems, fmt.Sprintf(
				"%s (event %d v%d) is already registered as event %d v%d: message names are unique; rename the message",
				shortName(v.MessageName), v.EventID, v.Version, other.id, other.version))
			continue
		}
		if v.Version != next[v.EventID]+1 {
			problems = append(problems, fmt.Sprintf(
				"%s (event %d) is version %d but the next version must be %d: versions are contiguous",
				shortName(v.MessageName), v.EventID, v.Version, next[v.EventID]+1))
			continue
		}
		next[v.EventID] = v.Version
		names[v.EventID] = v.EventName
		ids[v.EventName] = v.EventID
		messages[v.MessageName] = k
		fresh = append(fresh, v)
	}
	return fresh, problems
}

func knownVersions(ctx context.Context, tx pgx.Tx) (map[versionKey]NewVersion, map[uint32]uint32, error) {
	rows, err := tx.Query(ctx, sqlKnownVersions)
	if err != nil {
		return nil, nil, err
	}
	known := map[versionKey]NewVersion{}
	latest := map[uint32]uint32{}
	var v NewVersion
	_, err = pgx.ForEachRow(rows, []any{&v.EventID, &v.Version, &v.MessageName, &v.Fingerprint}, func() error {
		known[versionKey{v.EventID, v.Version}] = v
		latest[v.EventID] = max(latest[v.EventID], v.Version)
		return nil
	})
	return known, latest, err
}

func knownEvents(ctx context.Context, tx pgx.Tx) (map[uint32]string, error) {
	rows, err := tx.Query(ctx, sqlKnownEvents)
	if err != nil {
		return nil, err
	}
	names := map[uint32]string{}
	var (
		id   uint32
		name string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		names[id] = name
		return nil
	})
	return names, err
}

// Catalogue implements Store.
func (s *PostgresStore) Catalogue(ctx context.Context) (events []Event, revs Revisions, err error) {
	defer derrors.Wrap(&err, "read the catalogue")
	err = snapshot(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, sqlRevisions).Scan(&revs.Current, &revs.Push); err != nil {
			return err
		}
		events, err = queryEvents(ctx, tx, EventFilter{}, 0)
		return err
	})
	return events, revs, err
}

// ListEvents implements Store. The events and the revision come from one
// snapshot, so a caller that caches the list under the revision never holds
// a list older than its label.
func (s *PostgresStore) ListEvents(ctx context.Context, f EventFilter) (events []Event, revision uint64, err error) {
	defer derrors.Wrap(&err, "list events")
	err = snapshot(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, sqlCurrentRevision).Scan(&revision); err != nil {
			return err
		}
		if err := environmentKnown(ctx, tx, f.Environment); err != nil {
			return err
		}
		events, err = queryEvents(ctx, tx, f, 0)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return events, revision, nil
}

// GetEvent implements Store.
func (s *PostgresStore) GetEvent(ctx context.Context, id uint32) (_ Event, err error) {
	defer derrors.Wrap(&err, "get event %d", id)
	events, err := queryEvents(ctx, s.pool, EventFilter{}, id)
	if err != nil {
		return Event{}, err
	}
	if len(events) == 0 {
		return Event{}, ErrNotFound
	}
	return events[0], nil
}

// Revisions implements Store.
func (s *PostgresStore) Revisions(ctx context.Context) (revs Revisions, err error) {
	defer derrors.Wrap(&err, "read the catalogue revision")
	err = s.pool.QueryRow(ctx, sqlRevisions).Scan(&revs.Current, &revs.Push)
	return revs, err
}

// Descriptors implements Store.
func (s *PostgresStore) Descriptors(ctx context.Context, revision uint64) (*Descriptors, error) {
	return s.descriptors.get(ctx, revision)
}

// descriptorSet reads the serialized descriptor set of a push revision.
func (s *PostgresStore) descriptorSet(ctx context.Context, revision uint64) (_ []byte, err error) {
	defer derrors.Wrap(&err, "read the descriptors of revision %d", revision)
	var fds []byte
	err = s.pool.QueryRow(ctx, sqlDescriptorSet, revision).Scan(&fds)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return fds, err
}

// AllowedVersions implements Store.
func (s *PostgresStore) AllowedVersions(ctx context.Context, environment string) (versions []EventVersion, revs Revisions, err error) {
	defer derrors.Wrap(&err, "list the versions environment %q may send", environment)
	err = snapshot(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, sqlRevisions).Scan(&revs.Current, &revs.Push); err != nil {
			return err
		}
		if err := environmentKnown(ctx, tx, environment); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlSchemaSetVersions, environment)
		if err != nil {
			return err
		}
		var v EventVersion
		_, err = pgx.ForEachRow(rows, []any{&v.EventID, &v.Version, &v.MessageName, &v.Description, &v.Fingerprint, &v.Status, &v.Revision, &v.DocsRevision, &v.CreatedAt}, func() error {
			versions = append(versions, v)
			return nil
		})
		return err
	})
	return versions, revs, err
}

// snapshot runs read in a read-only transaction that sees one snapshot.
func snapshot(ctx context.Context, pool *pgxpool.Pool, read func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, read)
}

// environmentKnown returns ErrNotFound, with the name, when environment is
// set and does not exist.
func environmentKnown(ctx context.Context, tx pgx.Tx, environment string) error {
	if environment == "" {
		return nil
	}
	var known bool
	if err := tx.QueryRow(ctx, sqlEnvironmentKnown, environment).Scan(&known); err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("environment %q: %w", environment, ErrNotFound)
	}
	return nil
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryEvents returns the events matching f and id (all when 0), each with
// all its versions.
func queryEvents(ctx context.Context, q querier, f EventFilter, id uint32) ([]Event, error) {
	rows, err := q.Query(ctx, sqlListVersions, f.Text, id, f.Environment, f.OwnerTeam, string(f.Status))
	if err != nil {
		return nil, err
	}
	var (
		events []Event
		v      EventVersion
		name   string
		owner  Owner
	)
	_, err = pgx.ForEachRow(rows, []any{&v.EventID, &name, &v.Version, &v.MessageName, &v.Description, &v.Fingerprint,
		&v.Status, &v.Revision, &v.DocsRevision, &v.CreatedAt, &owner.Team, &owner.Contact, &v.Environments}, func() error {
		if len(events) == 0 || events[len(events)-1].ID != v.EventID {
			events = append(events, Event{ID: v.EventID, Name: name, Owner: owner})
		}
		e := &events[len(events)-1]
		e.Versions = append(e.Versions, v)
		e.Description = v.Description
		return nil
	})
	return events, err
}

// shortName is the message name without its package: "ItemViewV2".
func shortName(full string) string {
	return full[strings.LastIndexByte(full, '.')+1:]
}

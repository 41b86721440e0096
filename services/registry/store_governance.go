package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const (
	sqlInsertMetadataRevision = `INSERT INTO registry.revisions (author, message, descriptor_set, kind)
		VALUES ($1, $2, ''::bytea, 'metadata') RETURNING revision`
	sqlInsertAudit = `INSERT INTO registry.audit (actor, action, entity, before, after)
		VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)`
	sqlListAudit = `
		SELECT id, actor, action, entity, before::text, after::text, at
		FROM registry.audit
		WHERE ($1 = '' OR entity = $1)
		ORDER BY id DESC
		LIMIT $2`
	sqlEventName   = `SELECT name FROM registry.events WHERE id = $1`
	sqlGetOwner    = `SELECT team, contact, updated_at FROM registry.owners WHERE event_id = $1`
	sqlUpsertOwner = `
		INSERT INTO registry.owners (event_id, team, contact) VALUES ($1, $2, $3)
		ON CONFLICT (event_id) DO UPDATE SET team = EXCLUDED.team, contact = EXCLUDED.contact, updated_at = now()
		RETURNING team, contact, updated_at`
	sqlGetVersion = `
		SELECT event_id, version, message_name, description, fingerprint, status, revision,
		       coalesce(docs_revision, revision), created_at
		FROM registry.event_versions WHERE event_id = $1 AND version = $2`
	sqlSetLifecycle  = `UPDATE registry.event_versions SET status = $3 WHERE event_id = $1 AND version = $2`
	sqlEventVersions = `SELECT version, message_name FROM registry.event_versions WHERE event_id = $1 ORDER BY version`
)

// metadataChange is what a metadata transaction records: its audit row and
// the message of its catalogue revision.
type metadataChange struct {
	actor, action, entity string
	// before and after are encoded as JSON; nil is SQL NULL.
	before, after any
	// revision is the message of the metadata revision.
	revision string
}

// changeMetadata runs change in one transaction that holds the lock
// registrations take, so revisions commit in the order of their numbers and
// no change reads state another is changing. When change returns a
// metadataChange, its audit row and metadata revision are written in the
// same transaction; nil means nothing changed and nothing is recorded.
func (s *PostgresStore) changeMetadata(ctx context.Context, change func(tx pgx.Tx) (*metadataChange, error)) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlLockRegister, registerLock); err != nil {
			return err
		}
		c, err := change(tx)
		if err != nil || c == nil {
			return err
		}
		before, err := auditJSON(c.before)
		if err != nil {
			return err
		}
		after, err := auditJSON(c.after)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlInsertAudit, c.actor, c.action, c.entity, before, after); err != nil {
			return err
		}
		var revision uint64
		return tx.QueryRow(ctx, sqlInsertMetadataRevision, c.actor, c.revision).Scan(&revision)
	})
}

// auditJSON encodes an audit state; nil stays SQL NULL.
func auditJSON(v any) (*string, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode audit state: %w", err)
	}
	s := string(b)
	return &s, nil
}

// ownerState is an owner as the audit records it.
type ownerState struct {
	Team    string `json:"team"`
	Contact string `json:"contact"`
}

// lifecycleState is a version's lifecycle as the audit records it.
type lifecycleState struct {
	Status Lifecycle `json:"status"`
}

// SetOwner implements Store.
func (s *PostgresStore) SetOwner(ctx context.Context, eventID uint32, o Owner, actor string) (_ Owner, err error) {
	defer derrors.Wrap(&err, "set owner of event %d", eventID)
	o.Team, o.Contact = strings.TrimSpace(o.Team), strings.TrimSpace(o.Contact)
	if err := checkActor(actor); err != nil {
		return Owner{}, err
	}
	if o.Team == "" {
		return Owner{}, invalidf("team is required to own event %d: name the team answerable for it, e.g. \"payments\", and how to reach it in contact", eventID)
	}
	var result Owner
	err = s.changeMetadata(ctx, func(tx pgx.Tx) (*metadataChange, error) {
		name, err := eventName(ctx, tx, eventID)
		if err != nil {
			return nil, err
		}
		var before *ownerState
		err = tx.QueryRow(ctx, sqlGetOwner, int64(eventID)).Scan(&result.Team, &result.Contact, &result.UpdatedAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			before = &ownerState{Team: result.Team, Contact: result.Contact}
			if result.Team == o.Team && result.Contact == o.Contact {
				return nil, nil
			}
		}
		if err := tx.QueryRow(ctx, sqlUpsertOwner, int64(eventID), o.Team, o.Contact).Scan(&result.Team, &result.Contact, &result.UpdatedAt); err != nil {
			return nil, err
		}
		c := &metadataChange{
			actor:    actor,
			action:   actionSetOwner,
			entity:   eventEntity(eventID),
			after:    ownerState{Team: o.Team, Contact: o.Contact},
			revision: fmt.Sprintf("%s (event %d) is owned by team %s", name, eventID, o.Team),
		}
		if before != nil {
			c.before = before
		}
		return c, nil
	})
	if err != nil {
		return Owner{}, err
	}
	return result, nil
}

// GetOwner implements Store.
func (s *PostgresStore) GetOwner(ctx context.Context, eventID uint32) (o Owner, err error) {
	defer derrors.Wrap(&err, "get owner of event %d", eventID)
	if eventID > math.MaxInt32 {
		return Owner{}, notFoundf("event %d is not registered; list events with GET /v1/events", eventID)
	}
	err = s.pool.QueryRow(ctx, sqlGetOwner, int64(eventID)).Scan(&o.Team, &o.Contact, &o.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Owner{}, notFoundf("event %d has no owner; set one with SetOwner (PUT /v1/admin/events/%d/owner)", eventID, eventID)
	}
	return o, err
}

// SetLifecycle implements Store.
func (s *PostgresStore) SetLifecycle(ctx context.Context, eventID, version uint32, status Lifecycle, actor string) (_ EventVersion, err error) {
	defer derrors.Wrap(&err, "set lifecycle of event %d v%d to %s", eventID, version, status)
	if err := checkActor(actor); err != nil {
		return EventVersion{}, err
	}
	if lifecycleRank(status) < 0 {
		return EventVersion{}, invalidf("lifecycle status %q is unknown: use active, deprecated or retired", status)
	}
	var v EventVersion
	err = s.changeMetadata(ctx, func(tx pgx.Tx) (*metadataChange, error) {
		var err error
		v, err = eventVersion(ctx, tx, eventID, version)
		if err != nil {
			return nil, err
		}
		from := v.Status
		switch {
		case from == status:
			return nil, nil
		case from == LifecycleRetired:
			return nil, backwardsf("%s (event %d v%d) is retired, and retired is final: the version is kept for the record but never "+
				"comes back; to send this shape again, register it as a new version of the event", shortName(v.MessageName), eventID, version)
		case lifecycleRank(status) < lifecycleRank(from):
			return nil, backwardsf("%s (event %d v%d) is %s and cannot become %s: lifecycle only moves forward (active → deprecated → retired), "+
				"because senders were told to move off it; leave it %s, or register a new version for senders to adopt",
				shortName(v.MessageName), eventID, version, from, status, from)
		}
		if _, err := tx.Exec(ctx, sqlSetLifecycle, int64(eventID), int64(version), string(status)); err != nil {
			return nil, err
		}
		v.Status = status
		return &metadataChange{
			actor:    actor,
			action:   actionSetLifecycle,
			entity:   versionEntity(eventID, version),
			before:   lifecycleState{Status: from},
			after:    lifecycleState{Status: status},
			revision: fmt.Sprintf("%s (event %d v%d) is %s, was %s", shortName(v.MessageName), eventID, version, status, from),
		}, nil
	})
	if err != nil {
		return EventVersion{}, err
	}
	return v, nil
}

// ListAudit implements Store.
func (s *PostgresStore) ListAudit(ctx context.Context, f AuditFilter) (entries []AuditEntry, err error) {
	defer derrors.Wrap(&err, "list audit")
	limit := f.Limit
	switch {
	case limit < 0:
		return nil, invalidf("audit limit %d is negative: pass 1 to %d, or 0 for %d", limit, MaxAuditLimit, DefaultAuditLimit)
	case limit == 0:
		limit = DefaultAuditLimit
	case limit > MaxAuditLimit:
		limit = MaxAuditLimit
	}
	rows, err := s.pool.Query(ctx, sqlListAudit, f.Entity, limit)
	if err != nil {
		return nil, err
	}
	var (
		e             AuditEntry
		before, after *string
	)
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &e.Actor, &e.Action, &e.Entity, &before, &after, &e.At}, func() error {
		entry := e
		if before != nil {
			entry.Before = json.RawMessage(*before)
		}
		if after != nil {
			entry.After = json.RawMessage(*after)
		}
		entries = append(entries, entry)
		return nil
	})
	return entries, err
}

// eventName returns the name of a registered event, or a not-found error
// naming it.
func eventName(ctx context.Context, tx pgx.Tx, eventID uint32) (string, error) {
	var name string
	if eventID > math.MaxInt32 {
		return "", notFoundf("event %d is not registered; list events with GET /v1/events", eventID)
	}
	err := tx.QueryRow(ctx, sqlEventName, int64(eventID)).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFoundf("event %d is not registered; list events with GET /v1/events", eventID)
	}
	return name, err
}

// eventVersion returns one registered version, or a not-found error naming
// the event or the version.
func eventVersion(ctx context.Context, tx pgx.Tx, eventID, version uint32) (EventVersion, error) {
	var v EventVersion
	if eventID <= math.MaxInt32 && version <= math.MaxInt32 {
		err := tx.QueryRow(ctx, sqlGetVersion, int64(eventID), int64(version)).Scan(
			&v.EventID, &v.Version, &v.MessageName, &v.Description, &v.Fingerprint, &v.Status, &v.Revision, &v.DocsRevision, &v.CreatedAt)
		if !errors.Is(err, pgx.ErrNoRows) {
			return v, err
		}
	}
	versions, err := registeredVersions(ctx, tx, eventID)
	if err != nil {
		return v, err
	}
	return v, noSuchVersion(eventID, version, versions)
}

// registeredVersions lists the versions of an event, oldest first, or
// returns a not-found error naming the event when it is not registered.
func registeredVersions(ctx context.Context, tx pgx.Tx, eventID uint32) ([]EventVersionRef, error) {
	if eventID > math.MaxInt32 {
		return nil, notFoundf("event %d is not registered; list events with GET /v1/events", eventID)
	}
	rows, err := tx.Query(ctx, sqlEventVersions, int64(eventID))
	if err != nil {
		return nil, err
	}
	var (
		versions []EventVersionRef
		r        = EventVersionRef{EventID: eventID}
	)
	if _, err := pgx.ForEachRow(rows, []any{&r.Version, &r.MessageName}, func() error {
		versions = append(versions, r)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, notFoundf("event %d is not registered; list events with GET /v1/events", eventID)
	}
	return versions, nil
}

// noSuchVersion is the not-found error of a version an event does not have.
func noSuchVersion(eventID, version uint32, versions []EventVersionRef) error {
	last := versions[len(versions)-1]
	return notFoundf("event %d has no version %d: its versions are 1 to %d (latest %s)",
		eventID, version, last.Version, shortName(last.MessageName))
}

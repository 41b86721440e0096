package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const (
	sqlLockLangpack = `SELECT pg_advisory_xact_lock(hashtextextended('langpack/' || $1 || '/' || $2, 0))`
	sqlLangpackAt   = `
		SELECT version FROM registry.langpack_checks
		WHERE language = $1 AND environment = $2 AND revision = $3 AND generator_version = $4`
	sqlLangpackColumns = `language, environment, version, revision, content_hash, generator_version, manifest, created_at`
	// sqlLangpack reads one version, the newest when $3 is 0.
	sqlLangpack = `
		SELECT ` + sqlLangpackColumns + `, archive FROM registry.langpacks
		WHERE language = $1 AND environment = $2 AND ($3 = 0 OR version = $3)
		ORDER BY version DESC LIMIT 1`
	sqlListLangpacks = `
		SELECT ` + sqlLangpackColumns + ` FROM registry.langpacks
		WHERE ($1 = '' OR language = $1) AND ($2 = '' OR environment = $2)
		ORDER BY language, environment, version`
	sqlInsertLangpack = `
		INSERT INTO registry.langpacks (language, environment, version, revision, content_hash, generator_version, manifest, archive)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		RETURNING created_at`
	sqlRecordLangpackCheck = `
		INSERT INTO registry.langpack_checks (language, environment, revision, generator_version, version)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`
)

// LangpackAt implements LangpackStore.
func (s *PostgresStore) LangpackAt(ctx context.Context, language, environment string, revision uint64, generator string) (version int, err error) {
	defer derrors.Wrap(&err, "find the %s langpack of %q at revision %d", language, environment, revision)
	err = s.pool.QueryRow(ctx, sqlLangpackAt, language, environment, int64(revision), generator).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	return version, err
}

// Langpack implements LangpackStore.
func (s *PostgresStore) Langpack(ctx context.Context, language, environment string, version int) (l Langpack, err error) {
	defer derrors.Wrap(&err, "read %s langpack %d of %q", language, version, environment)
	return readLangpack(ctx, s.pool, language, environment, version)
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readLangpack(ctx context.Context, q rowQuerier, language, environment string, version int) (Langpack, error) {
	var l Langpack
	err := q.QueryRow(ctx, sqlLangpack, language, environment, version).Scan(
		&l.Language, &l.Environment, &l.Version, &l.Revision, &l.ContentHash, &l.GeneratorVersion, &l.Manifest, &l.CreatedAt, &l.Archive)
	if errors.Is(err, pgx.ErrNoRows) {
		return Langpack{}, ErrNotFound
	}
	return l, err
}

// ListLangpacks implements LangpackStore.
func (s *PostgresStore) ListLangpacks(ctx context.Context, language, environment string) (out []Langpack, err error) {
	defer derrors.Wrap(&err, "list the %q langpacks of %q", language, environment)
	rows, err := s.pool.Query(ctx, sqlListLangpacks, language, environment)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Langpack, error) {
		var l Langpack
		err := row.Scan(&l.Language, &l.Environment, &l.Version, &l.Revision, &l.ContentHash, &l.GeneratorVersion, &l.Manifest, &l.CreatedAt)
		return l, err
	})
}

// AddLangpack implements LangpackStore.
func (s *PostgresStore) AddLangpack(ctx context.Context, l Langpack) (stored Langpack, err error) {
	defer derrors.Wrap(&err, "store %s langpack %d of %q", l.Language, l.Version, l.Environment)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlLockLangpack, l.Language, l.Environment); err != nil {
			return err
		}
		latest, err := readLangpack(ctx, tx, l.Language, l.Environment, 0)
		switch {
		case errors.Is(err, ErrNotFound):
			latest = Langpack{}
		case err != nil:
			return err
		}
		switch {
		case latest.Version > 0 && latest.ContentHash == l.ContentHash:
			stored = latest
		case latest.Version != l.Version-1:
			return fmt.Errorf("the newest stored version is %d: %w", latest.Version, ErrLangpackMoved)
		default:
			stored = l
			if err := tx.QueryRow(ctx, sqlInsertLangpack, l.Language, l.Environment, l.Version, int64(l.Revision),
				l.ContentHash, l.GeneratorVersion, l.Manifest, l.Archive).Scan(&stored.CreatedAt); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, sqlRecordLangpackCheck, l.Language, l.Environment, int64(l.Revision), l.GeneratorVersion, stored.Version)
		return err
	})
	return stored, err
}

package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

const (
	sqlLockLangpackLine  = `SELECT pg_advisory_xact_lock(hashtextextended('langpack-line/' || $1, 0))`
	sqlLangpackVersionAt = `
		SELECT major, minor, patch FROM registry.langpack_version_checks
		WHERE environment = $1 AND revision = $2 AND generator_version = $3`
	sqlLangpackVersionColumns = `environment, major, minor, patch, surface_hash, input_hash, generator_version, change, revision, created_at`
	// sqlLangpackVersion reads one version of a line, the newest when $2 is -1.
	sqlLangpackVersion = `
		SELECT ` + sqlLangpackVersionColumns + `, surface, input FROM registry.langpack_versions
		WHERE environment = $1 AND ($2 = -1 OR (major, minor, patch) = ($2, $3, $4))
		ORDER BY major DESC, minor DESC, patch DESC LIMIT 1`
	sqlListLangpackVersions = `
		SELECT ` + sqlLangpackVersionColumns + ` FROM registry.langpack_versions
		WHERE environment = $1
		ORDER BY major, minor, patch`
	sqlInsertLangpackVersion = `
		INSERT INTO registry.langpack_versions (environment, major, minor, patch, surface_hash, input_hash, generator_version, change, surface, input, revision)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING created_at`
	sqlRecordLangpackVersionCheck = `
		INSERT INTO registry.langpack_version_checks (environment, revision, generator_version, major, minor, patch)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`

	sqlLangpackColumns = `language, environment, major, minor, patch, revision, content_hash, generator_version, manifest, created_at`
	sqlLangpack        = `
		SELECT ` + sqlLangpackColumns + `, archive FROM registry.langpacks
		WHERE language = $1 AND environment = $2 AND (major, minor, patch) = ($3, $4, $5)`
	sqlListLangpacks = `
		SELECT ` + sqlLangpackColumns + ` FROM registry.langpacks
		WHERE ($1 = '' OR language = $1) AND ($2 = '' OR environment = $2)
		ORDER BY language, environment, major, minor, patch`
	sqlInsertLangpack = `
		INSERT INTO registry.langpacks (language, environment, major, minor, patch, revision, content_hash, generator_version, manifest, archive)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT DO NOTHING`
)

// LangpackVersionAt implements LangpackStore.
func (s *PostgresStore) LangpackVersionAt(ctx context.Context, environment string, revision uint64, generator string) (v langpack.Version, err error) {
	defer derrors.Wrap(&err, "find the langpack version of %q at revision %d", environment, revision)
	err = s.pool.QueryRow(ctx, sqlLangpackVersionAt, environment, int64(revision), generator).Scan(&v.Major, &v.Minor, &v.Patch)
	if errors.Is(err, pgx.ErrNoRows) {
		return langpack.Version{}, ErrNotFound
	}
	return v, err
}

// LangpackVersion implements LangpackStore.
func (s *PostgresStore) LangpackVersion(ctx context.Context, environment string, v langpack.Version) (lv LangpackVersion, err error) {
	defer derrors.Wrap(&err, "read langpack version %s of %q", v, environment)
	return readLangpackVersion(ctx, s.pool, environment, v.Major, v.Minor, v.Patch)
}

// NewestLangpackVersion implements LangpackStore.
func (s *PostgresStore) NewestLangpackVersion(ctx context.Context, environment string) (lv LangpackVersion, err error) {
	defer derrors.Wrap(&err, "read the newest langpack version of %q", environment)
	return readLangpackVersion(ctx, s.pool, environment, -1, 0, 0)
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readLangpackVersion(ctx context.Context, q rowQuerier, environment string, major, minor, patch int) (LangpackVersion, error) {
	var lv LangpackVersion
	var surface []byte
	err := q.QueryRow(ctx, sqlLangpackVersion, environment, major, minor, patch).Scan(
		&lv.Environment, &lv.Version.Major, &lv.Version.Minor, &lv.Version.Patch, &lv.SurfaceHash, &lv.InputHash,
		&lv.GeneratorVersion, &lv.Change, &lv.Revision, &lv.CreatedAt, &surface, &lv.Input)
	if errors.Is(err, pgx.ErrNoRows) {
		return LangpackVersion{}, ErrNotFound
	}
	if err != nil {
		return LangpackVersion{}, err
	}
	if err := json.Unmarshal(surface, &lv.Surface); err != nil {
		return LangpackVersion{}, fmt.Errorf("decode the surface: %w", err)
	}
	return lv, nil
}

// ListLangpackVersions implements LangpackStore.
func (s *PostgresStore) ListLangpackVersions(ctx context.Context, environment string) (out []LangpackVersion, err error) {
	defer derrors.Wrap(&err, "list the langpack versions of %q", environment)
	rows, err := s.pool.Query(ctx, sqlListLangpackVersions, environment)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (LangpackVersion, error) {
		var lv LangpackVersion
		err := row.Scan(&lv.Environment, &lv.Version.Major, &lv.Version.Minor, &lv.Version.Patch, &lv.SurfaceHash, &lv.InputHash,
			&lv.GeneratorVersion, &lv.Change, &lv.Revision, &lv.CreatedAt)
		return lv, err
	})
}

// AddLangpackVersion implements LangpackStore.
func (s *PostgresStore) AddLangpackVersion(ctx context.Context, lv LangpackVersion, after langpack.Version) (stored LangpackVersion, added bool, err error) {
	defer derrors.Wrap(&err, "store langpack version %s of %q", lv.Version, lv.Environment)
	surface, err := json.Marshal(lv.Surface)
	if err != nil {
		return LangpackVersion{}, false, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlLockLangpackLine, lv.Environment); err != nil {
			return err
		}
		newest, err := readLangpackVersion(ctx, tx, lv.Environment, -1, 0, 0)
		switch {
		case errors.Is(err, ErrNotFound):
			newest = LangpackVersion{}
		case err != nil:
			return err
		}
		switch {
		case newest.SurfaceHash != "" && newest.SurfaceHash == lv.SurfaceHash && newest.InputHash == lv.InputHash &&
			newest.GeneratorVersion == lv.GeneratorVersion:
			stored = newest
		case newest.Version != after:
			return fmt.Errorf("the newest version is %s, not %s: %w", newest.Version, after, ErrLangpackMoved)
		default:
			stored, added = lv, true
			if err := tx.QueryRow(ctx, sqlInsertLangpackVersion, lv.Environment, lv.Version.Major, lv.Version.Minor, lv.Version.Patch,
				lv.SurfaceHash, lv.InputHash, lv.GeneratorVersion, lv.Change, surface, lv.Input, int64(lv.Revision)).Scan(&stored.CreatedAt); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, sqlRecordLangpackVersionCheck, lv.Environment, int64(lv.Revision), lv.GeneratorVersion,
			stored.Version.Major, stored.Version.Minor, stored.Version.Patch)
		return err
	})
	return stored, added && err == nil, err
}

// RecordLangpackVersionCheck implements LangpackStore.
func (s *PostgresStore) RecordLangpackVersionCheck(ctx context.Context, environment string, revision uint64, generator string, v langpack.Version) (err error) {
	defer derrors.Wrap(&err, "record langpack version %s of %q at revision %d", v, environment, revision)
	_, err = s.pool.Exec(ctx, sqlRecordLangpackVersionCheck, environment, int64(revision), generator, v.Major, v.Minor, v.Patch)
	return err
}

// Langpack implements LangpackStore.
func (s *PostgresStore) Langpack(ctx context.Context, language, environment string, v langpack.Version) (l Langpack, err error) {
	defer derrors.Wrap(&err, "read %s langpack %s of %q", language, v, environment)
	err = s.pool.QueryRow(ctx, sqlLangpack, language, environment, v.Major, v.Minor, v.Patch).Scan(
		&l.Language, &l.Environment, &l.Version.Major, &l.Version.Minor, &l.Version.Patch, &l.Revision, &l.ContentHash,
		&l.GeneratorVersion, &l.Manifest, &l.CreatedAt, &l.Archive)
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
		err := row.Scan(&l.Language, &l.Environment, &l.Version.Major, &l.Version.Minor, &l.Version.Patch, &l.Revision, &l.ContentHash,
			&l.GeneratorVersion, &l.Manifest, &l.CreatedAt)
		return l, err
	})
}

// AddLangpack implements LangpackStore.
func (s *PostgresStore) AddLangpack(ctx context.Context, l Langpack) (stored Langpack, err error) {
	defer derrors.Wrap(&err, "store %s langpack %s of %q", l.Language, l.Version, l.Environment)
	if _, err := s.pool.Exec(ctx, sqlInsertLangpack, l.Language, l.Environment, l.Version.Major, l.Version.Minor, l.Version.Patch,
		int64(l.Revision), l.ContentHash, l.GeneratorVersion, l.Manifest, l.Archive); err != nil {
		return Langpack{}, err
	}
	return s.Langpack(ctx, l.Language, l.Environment, l.Version)
}

const (
	sqlLangpackBuild = `
		SELECT data FROM registry.langpack_builds
		WHERE language = $1 AND environment = $2 AND (major, minor, patch) = ($3, $4, $5) AND kind = $6`
	sqlInsertLangpackBuild = `
		INSERT INTO registry.langpack_builds (language, environment, major, minor, patch, kind, tool, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT DO NOTHING`
)

// LangpackBuild implements LangpackStore.
func (s *PostgresStore) LangpackBuild(ctx context.Context, l Langpack, kind string) (data []byte, err error) {
	defer derrors.Wrap(&err, "read the %s build of %s langpack %s of %q", kind, l.Language, l.Version, l.Environment)
	err = s.pool.QueryRow(ctx, sqlLangpackBuild, l.Language, l.Environment, l.Version.Major, l.Version.Minor, l.Version.Patch, kind).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return data, err
}

// AddLangpackBuild implements LangpackStore.
func (s *PostgresStore) AddLangpackBuild(ctx context.Context, l Langpack, kind, tool string, data []byte) (stored []byte, err error) {
	defer derrors.Wrap(&err, "store the %s build of %s langpack %s of %q", kind, l.Language, l.Version, l.Environment)
	if _, err := s.pool.Exec(ctx, sqlInsertLangpackBuild, l.Language, l.Environment, l.Version.Major, l.Version.Minor, l.Version.Patch,
		kind, tool, data); err != nil {
		return nil, err
	}
	err = s.pool.QueryRow(ctx, sqlLangpackBuild, l.Language, l.Environment, l.Version.Major, l.Version.Minor, l.Version.Patch, kind).Scan(&stored)
	return stored, err
}

package ingest

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// PostgresStore keeps ingest's tables (schema "ingest") in PostgreSQL.
type PostgresStore struct {
	pool *pgxpool.Pool
}

var _ KeyStore = (*PostgresStore)(nil)

// NewPostgresStore returns a store over pool; the ingest migrations must
// have been applied.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore { return &PostgresStore{pool: pool} }

const (
	sqlKeyColumns = `id, environment, description, secret_hash, created_at, created_by, revoked_at, kind, allowed_origins`
	sqlCreateKey  = `INSERT INTO ingest.api_keys (id, environment, description, secret_hash, created_at, created_by, kind, allowed_origins)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	sqlRestrictKey = `UPDATE ingest.api_keys SET allowed_origins = $2 WHERE id = $1 AND kind = 'browser' RETURNING ` + sqlKeyColumns
	sqlKey         = `SELECT ` + sqlKeyColumns + ` FROM ingest.api_keys WHERE id = $1`
	sqlListKeys    = `SELECT ` + sqlKeyColumns + ` FROM ingest.api_keys
WHERE ($1 = '' OR environment = $1) AND ($2 OR revoked_at IS NULL)
ORDER BY created_at, id`
	sqlRevokeKey = `UPDATE ingest.api_keys SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, $2)
WHERE id = $1 RETURNING ` + sqlKeyColumns
)

// CreateKey implements KeyStore.
func (s *PostgresStore) CreateKey(ctx context.Context, k APIKey) (err error) {
	defer derrors.Wrap(&err, "create api key %s (environment %q)", k.ID, k.Environment)
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now()
	}
	kind := k.Kind
	if kind == "" {
		kind = KeyKindServer
	}
	origins := k.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	_, err = s.pool.Exec(ctx, sqlCreateKey, k.ID, k.Environment, k.Description, k.SecretHash, k.CreatedAt, k.CreatedBy, kind, origins)
	return err
}

// Key implements KeyStore.
func (s *PostgresStore) Key(ctx context.Context, id string) (k APIKey, err error) {
	defer derrors.Wrap(&err, "read api key %s", id)
	return s.oneKey(ctx, sqlKey, id)
}

// ListKeys implements KeyStore.
func (s *PostgresStore) ListKeys(ctx context.Context, environment string, includeRevoked bool) (keys []APIKey, err error) {
	defer derrors.Wrap(&err, "list api keys (environment %q)", environment)
	rows, err := s.pool.Query(ctx, sqlListKeys, environment, includeRevoked)
	if err != nil {
		return nil, err
	}
	return scanKeys(rows)
}

// RevokeKey implements KeyStore.
func (s *PostgresStore) RevokeKey(ctx context.Context, id, actor string) (k APIKey, err error) {
	defer derrors.Wrap(&err, "revoke api key %s", id)
	return s.oneKey(ctx, sqlRevokeKey, id, actor)
}

// RestrictKey implements KeyStore: only a browser key has origins;
// another id is ErrKeyNotFound.
func (s *PostgresStore) RestrictKey(ctx context.Context, id string, origins []string) (k APIKey, err error) {
	defer derrors.Wrap(&err, "restrict api key %s", id)
	return s.oneKey(ctx, sqlRestrictKey, id, origins)
}

// oneKey runs a query returning at most one key; none is ErrKeyNotFound.
func (s *PostgresStore) oneKey(ctx context.Context, sql string, args ...any) (APIKey, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return APIKey{}, err
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return APIKey{}, err
	}
	if len(keys) == 0 {
		return APIKey{}, ErrKeyNotFound
	}
	return keys[0], nil
}

func scanKeys(rows pgx.Rows) ([]APIKey, error) {
	var (
		keys    []APIKey
		k       APIKey
		revoked *time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&k.ID, &k.Environment, &k.Description, &k.SecretHash, &k.CreatedAt, &k.CreatedBy, &revoked, &k.Kind, &k.AllowedOrigins}, func() error {
		k.RevokedAt = time.Time{}
		if revoked != nil {
			k.RevokedAt = *revoked
		}
		k.SecretHash = append([]byte(nil), k.SecretHash...)
		k.AllowedOrigins = append([]string(nil), k.AllowedOrigins...)
		keys = append(keys, k)
		return nil
	})
	return keys, err
}

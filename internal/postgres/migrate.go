package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// versionTable is the goose version table inside each service schema.
const versionTable = "goose_db_version"

// Seconds between attempts to take the migration lock, and how many attempts to make:
// another process migrating the same schema holds it for the duration of its run.
const (
	lockRetrySeconds = 1
	lockAttempts     = 300
	unlockAttempts   = 60
)

// ErrInRecovery is the error of Migrate on a standby: migrations run on the primary, and
// reach the standby through replication.
var ErrInRecovery = errors.New("the database is a standby (in recovery) and takes no writes: migrate its primary")

// schemaName restricts service schemas to plain lower-case identifiers, which need no
// quoting anywhere (goose interpolates the version table name into its queries).
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Migrate applies the pending migrations in migrations to schema, creating the schema if
// it is missing and recording applied versions in <schema>.goose_db_version. The files are
// goose SQL files at the root of migrations, and must schema-qualify the names they use.
// Concurrent calls for the same schema, from any number of processes, take turns on a
// PostgreSQL advisory lock; the later ones find nothing left to apply. A standby (a
// database in recovery) takes no writes: Migrate changes nothing there and returns an
// error wrapping [ErrInRecovery].
func Migrate(ctx context.Context, url string, schema string, migrations fs.FS) (err error) {
	defer derrors.Wrap(&err, "migrate schema %q (database %s)", schema, Redact(url))
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("schema name must match %s", schemaName)
	}
	config, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse database URL: %w", err)
	}
	db := stdlib.OpenDB(*config)
	defer db.Close()

	var recovering bool
	if err := db.QueryRowContext(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovering); err != nil {
		return err
	}
	if recovering {
		return ErrInRecovery
	}
	lockID := migrationLockID(schema)
	if err := createSchema(ctx, db, schema, lockID); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(lockID),
		lock.WithLockTimeout(lockRetrySeconds, lockAttempts),
		lock.WithUnlockTimeout(lockRetrySeconds, unlockAttempts),
	)
	if err != nil {
		return err
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithTableName(schema+"."+versionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return err
	}
	_, err = provider.Up(ctx)
	return err
}

// createSchema creates schema if it is missing. It holds the schema's migration lock for the
// transaction, since concurrent CREATE SCHEMA IF NOT EXISTS statements can still collide.
func createSchema(ctx context.Context, db *sql.DB, schema string, lockID int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockID); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return err
	}
	return tx.Commit()
}

// migrationLockID derives the advisory lock key of a schema's migrations, so that services
// migrating different schemas do not wait for each other.
func migrationLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("clickstream migrate " + schema))
	return int64(h.Sum64())
}

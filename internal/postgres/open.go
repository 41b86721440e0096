package postgres

import (
	"context"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// Open returns a connection pool for the database at url (a postgres:// URL or a
// key=value connection string) after checking with a ping that the database is reachable.
func Open(ctx context.Context, url string) (_ *pgxpool.Pool, err error) {
	defer derrors.Wrap(&err, "open database %s", Redact(url))
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Redact hides the password of a connection URL so that it can appear in errors and logs.
// Strings that are not URLs are replaced entirely, since they may hold a password too.
func Redact(connString string) string {
	u, err := url.Parse(connString)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(connection string)"
	}
	return u.Redacted()
}

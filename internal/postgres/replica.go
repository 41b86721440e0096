package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

// StartReplica starts a hot standby of primary on its own port and returns it once it
// accepts (read-only) connections. When cfg.DataDir holds no cluster yet, it is filled
// with pg_basebackup -R from primary over a replication connection to 127.0.0.1, which
// also writes the standby's primary_conninfo (with the primary's password, if it has
// one); a data directory that already holds a standby is started again as it is.
// cfg.Password is ignored: roles and their passwords come from the primary. The standby
// streams WAL from the primary until [Cluster.Stop]; stop it before the primary.
func StartReplica(ctx context.Context, primary *Cluster, cfg ClusterConfig) (_ *Cluster, err error) {
	defer derrors.Wrap(&err, "start PostgreSQL replica (data dir %s) of the cluster on port %d", cfg.DataDir, primary.port)
	if cfg.DataDir == "" {
		return nil, errors.New("no data directory configured")
	}
	requested, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{binDir: primary.binDir, requested: requested, dataDir: requested,
		password: primary.password, owner: primary.owner, logger: logger}
	initialized, err := c.prepareDataDir(relocationRoot)
	if err != nil {
		return nil, err
	}
	c.logger = logger.With("data_dir", c.dataDir)
	if !initialized {
		if err := c.baseBackup(ctx, primary, cfg.Ephemeral); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(c.dataDir, "standby.signal")); err != nil {
		return nil, fmt.Errorf("%s holds a cluster that is not a standby (no standby.signal): choose an empty or missing directory", c.dataDir)
	}
	if err := c.checkNotRunning(ctx); err != nil {
		return nil, err
	}
	c.port = cfg.Port
	if c.port == 0 {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := c.start(ctx, cfg.Ephemeral); err != nil {
		c.removeSocketDir()
		return nil, err
	}
	c.logger.Info("PostgreSQL replica started", "port", c.port, "primary_port", primary.port)
	return c, nil
}

// baseBackup copies primary into the empty data directory with pg_basebackup, streaming
// the WAL written meanwhile, and configures the copy as a standby of primary (-R).
func (c *Cluster) baseBackup(ctx context.Context, primary *Cluster, ephemeral bool) error {
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=clickstream_replica", primary.port)
	args := []string{
		"--pgdata=" + c.dataDir,
		"--dbname=" + conninfo,
		"--write-recovery-conf",
		"--wal-method=stream",
		"--checkpoint=fast",
		"--no-password",
	}
	if ephemeral {
		args = append(args, "--no-sync")
	}
	cmd := c.owner.command(filepath.Join(c.binDir, "pg_basebackup"), args...)
	cmd.Dir = filepath.Dir(c.dataDir)
	// The password goes through the environment, not the command line; -R copies it into
	// primary_conninfo (postgresql.auto.conf, readable by the server user only).
	cmd.Env = append(os.Environ(), "PGPASSFILE="+os.DevNull)
	if primary.password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+primary.password)
	}
	if out, err := runCombined(ctx, cmd); err != nil {
		return fmt.Errorf("pg_basebackup from 127.0.0.1:%d: %w\n%s", primary.port, err, lastLines(out, logTailLines))
	}
	c.logger.Info("PostgreSQL replica copied from the primary", "primary", net.JoinHostPort("127.0.0.1", strconv.Itoa(primary.port)))
	return nil
}

// InRecovery reports whether the database at url is a standby (in recovery): it takes no
// writes, so migrations are skipped there.
func InRecovery(ctx context.Context, url string) (_ bool, err error) {
	defer derrors.Wrap(&err, "ask whether database %s is in recovery", Redact(url))
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var recovering bool
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovering)
	return recovering, err
}

// ReplicaLag is how far a standby is behind its primary, as the standby sees it.
type ReplicaLag struct {
	// Standby is false when the database is not in recovery (a primary): it lags nothing.
	Standby bool
	// Paused is true while WAL replay is paused (pg_wal_replay_pause).
	Paused bool
	// Seconds is the age of the last replayed transaction (now() -
	// pg_last_xact_replay_timestamp()) while received WAL waits to be replayed, and 0 once
	// everything received is replayed: an idle primary does not make its standby look late.
	Seconds float64
	// Bytes is the WAL received from the primary and not yet replayed.
	Bytes int64
}

// sqlReplicaLag measures ReplicaLag in one statement; on a primary every recovery
// function is skipped (pg_is_wal_replay_paused fails outside recovery).
const sqlReplicaLag = `
	SELECT r.standby,
	       CASE WHEN r.standby THEN pg_is_wal_replay_paused() ELSE false END,
	       CASE WHEN NOT r.standby OR r.received IS NULL OR r.received <= r.replayed THEN 0
	            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8,
	       CASE WHEN NOT r.standby OR r.received IS NULL OR r.received <= r.replayed THEN 0
	            ELSE pg_wal_lsn_diff(r.received, r.replayed) END::bigint
	FROM (SELECT pg_is_in_recovery() AS standby,
	             pg_last_wal_receive_lsn() AS received,
	             pg_last_wal_replay_lsn() AS replayed) r`

// MeasureReplicaLag reads how far the database of pool is behind its primary.
func MeasureReplicaLag(ctx context.Context, pool *pgxpool.Pool) (lag ReplicaLag, err error) {
	defer derrors.Wrap(&err, "measure replica lag")
	err = pool.QueryRow(ctx, sqlReplicaLag).Scan(&lag.Standby, &lag.Paused, &lag.Seconds, &lag.Bytes)
	return lag, err
}

// String describes the lag for logs and readiness reports.
func (l ReplicaLag) String() string {
	if !l.Standby {
		return "not a standby (not in recovery): reads see every write"
	}
	s := fmt.Sprintf("%.3fs behind the primary (%d bytes of WAL received, not yet replayed)", l.Seconds, l.Bytes)
	if l.Paused {
		s += "; WAL replay is paused (pg_wal_replay_resume() resumes it)"
	}
	return s
}

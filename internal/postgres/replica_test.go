package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/postgres"
)

// startReplica starts a standby of primary and stops it when the test ends (before the
// primary, whose cleanup was registered earlier).
func startReplica(t *testing.T, primary *postgres.Cluster) *postgres.Cluster {
	t.Helper()
	r, err := postgres.StartReplica(t.Context(), primary, postgres.ClusterConfig{DataDir: newDataDir(t), Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return r
}

func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// waitFor polls cond until it holds or the test's minute is up.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicaFollowsPrimary writes on a primary with a password and reads the write on
// its replica; the replica refuses writes and migrations, and reports its lag while
// replay is paused.
func TestReplicaFollowsPrimary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two clusters")
	}
	ctx := t.Context()
	primary := startCluster(t, postgres.ClusterConfig{DataDir: newDataDir(t), Ephemeral: true, Password: "replica-test-secret"})
	if err := primary.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	writer := openPool(t, primary.URL("app"))
	if _, err := writer.Exec(ctx, `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`); err != nil {
		t.Fatal(err)
	}

	replica := startReplica(t, primary)
	if replica.Port() == primary.Port() {
		t.Fatalf("replica listens on the primary's port %d", primary.Port())
	}
	reader := openPool(t, replica.URL("app"))
	if recovering, err := postgres.InRecovery(ctx, replica.URL("app")); err != nil || !recovering {
		t.Fatalf("InRecovery(replica) = %v, %v; want true", recovering, err)
	}
	if recovering, err := postgres.InRecovery(ctx, primary.URL("app")); err != nil || recovering {
		t.Fatalf("InRecovery(primary) = %v, %v; want false", recovering, err)
	}

	if _, err := writer.Exec(ctx, `INSERT INTO notes VALUES (1, 'first')`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica sees the insert", func() (bool, error) {
		var n int
		err := reader.QueryRow(ctx, `SELECT count(*) FROM notes WHERE id = 1`).Scan(&n)
		return n == 1, err
	})
	if _, err := reader.Exec(ctx, `INSERT INTO notes VALUES (2, 'on the replica')`); err == nil {
		t.Error("the replica took a write")
	}
	lag, err := postgres.MeasureReplicaLag(ctx, reader)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("caught up: %s", lag)
	if !lag.Standby || lag.Paused || lag.Bytes != 0 {
		t.Errorf("lag of a caught-up replica = %+v", lag)
	}
	if lag, err := postgres.MeasureReplicaLag(ctx, writer); err != nil || lag.Standby || lag.Seconds != 0 {
		t.Errorf("lag of the primary = %+v, %v; want not a standby", lag, err)
	}

	// Paused, the replica receives the next write but does not apply it.
	if _, err := reader.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // lets the last replayed commit age
	if _, err := writer.Exec(ctx, `INSERT INTO notes VALUES (3, 'while paused')`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica receives WAL it does not replay", func() (bool, error) {
		lag, err := postgres.MeasureReplicaLag(ctx, reader)
		return lag.Bytes > 0, err
	})
	lag, err = postgres.MeasureReplicaLag(ctx, reader)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("paused: %s", lag)
	if !lag.Paused || lag.Seconds <= 0 || lag.Bytes <= 0 {
		t.Errorf("lag while paused = %+v; want paused, seconds and bytes behind", lag)
	}
	var n int
	if err := reader.QueryRow(ctx, `SELECT count(*) FROM notes WHERE id = 3`).Scan(&n); err != nil || n != 0 {
		t.Errorf("paused replica: rows with id 3 = %d (%v), want 0", n, err)
	}
	if _, err := reader.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica catches up after resuming", func() (bool, error) {
		err := reader.QueryRow(ctx, `SELECT count(*) FROM notes WHERE id = 3`).Scan(&n)
		return n == 1, err
	})
}

// TestMigrateSkipsStandby migrates a primary and then its replica: the replica gets the
// schema by replication, and Migrate there changes nothing and says why.
func TestMigrateSkipsStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two clusters")
	}
	ctx := t.Context()
	primary := startCluster(t, postgres.ClusterConfig{DataDir: newDataDir(t), Ephemeral: true})
	if err := primary.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	replica := startReplica(t, primary)
	if err := postgres.Migrate(ctx, replica.URL("app"), "svc", svcMigrations); !errors.Is(err, postgres.ErrInRecovery) {
		t.Fatalf("Migrate(replica) error = %v, want ErrInRecovery", err)
	}
	if err := postgres.Migrate(ctx, primary.URL("app"), "svc", svcMigrations); err != nil {
		t.Fatal(err)
	}
	reader := openPool(t, replica.URL("app"))
	waitFor(t, "the replica has the migrated tables", func() (bool, error) {
		var n int
		err := reader.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'svc'`).Scan(&n)
		return n == 3, err
	})
}

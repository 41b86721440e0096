package awards

// Advisory lock classes, all of them in one place so that their values stay
// distinct. They use the two-key form of pg_advisory_*_lock (class, key),
// so they cannot collide with single-key locks such as the migration lock.
const (
	// lockClassProgress guards the progress version sequence: every writer
	// of user objectives holds it shared for its transaction; the
	// achievements worker takes it exclusively for a moment to learn a
	// sequence value below which nothing is still uncommitted.
	lockClassProgress = 0x41574431 // "AWD1"
	// lockClassUserObjective serialises writers of one user objective (a
	// hash of user and objective), so that two sources feeding one
	// objective cannot lose an update.
	lockClassUserObjective = 0x41574432 // "AWD2"
	// lockClassLogPartitions serialises the processes creating and
	// dropping processing log partitions.
	lockClassLogPartitions = 0x41574433 // "AWD3"
	// lockClassConfig serialises the writers of one achievement's
	// configuration (keyed by a hash of its id). Row locks alone cannot:
	// the first save of an achievement finds no row to lock, so two
	// instances applying the same file at start both took version 1 and
	// the second failed on config_history_pkey. Under the advisory lock the
	// second waits, then reads what the first committed (each statement of
	// a READ COMMITTED transaction sees the commits made before it started)
	// and finds the configuration equal: it changes nothing.
	lockClassConfig = 0x41574434 // "AWD4"
	// lockClassSource fences the batches of a source (keyed by a hash of
	// its name) from its pausing: a consuming batch holds it shared for its
	// transaction, taken first; pausing takes it exclusively once the
	// pause is written, so it waits for the batches in flight on every
	// instance, and every later batch reads the pause and applies nothing.
	lockClassSource = 0x41575331 // "AWS1"
	// lockClassEnqueue is held (for its transaction) by the instance
	// creating notification deliveries.
	lockClassEnqueue = 0x41574E31 // "AWN1"
	// lockClassBackfill is the class of a running backfill (the key is its
	// id): one process replays a backfill at a time, and a process that
	// dies releases it with its connection.
	lockClassBackfill = 0x41574231 // "AWB1"
)

// Transaction-scoped advisory locks: $1 is the class, the key is 0 for a
// class that is one lock, or a hash of the name in $2.
const (
	sqlXactLock           = `SELECT pg_advisory_xact_lock($1::int4, 0)`
	sqlXactLockShared     = `SELECT pg_advisory_xact_lock_shared($1::int4, 0)`
	sqlTryXactLock        = `SELECT pg_try_advisory_xact_lock($1::int4, 0)`
	sqlXactLockName       = `SELECT pg_advisory_xact_lock($1::int4, hashtext($2))`
	sqlXactLockNameShared = `SELECT pg_advisory_xact_lock_shared($1::int4, hashtext($2))`
)

package awards

import (
	"context"
	"time"
)

// The storage the service's parts depend on, declared in one place beside
// the domain (as pkgsite's internal/interfaces.go does): the engine and its
// workers, the notifier, the log retention and the APIs see these
// interfaces, never a pgx type. PostgresStore (store_*.go) implements all
// of them; it alone runs SQL. Interfaces with unexported methods can only be
// implemented in this package: they name the store's protocols (a batch's
// transaction, a cycle's cursor) that callers must not reimplement.

// Store keeps achievements and progress.
type Store interface {
	// UpsertAchievement creates an achievement or updates its metadata.
	UpsertAchievement(ctx context.Context, a Achievement) error
	// UserAchievements lists one page of the active achievements with the
	// user's progress (zero for those not started), ordered by id.
	UserAchievements(ctx context.Context, userID string, page Page) ([]UserAchievement, error)
	// Achievements lists one page of the active achievements, ordered by id.
	Achievements(ctx context.Context, page Page) ([]Achievement, error)
	// UserStatus returns the user's status: "active", "deleted" or
	// "banned"; "active" for a user the store has no record of.
	UserStatus(ctx context.Context, userID string) (string, error)
}

// PublicStore is what the public API reads and writes: achievements and
// progress, whether a user was ever seen, and users' notification
// settings.
type PublicStore interface {
	Store
	NotificationSettingsStore
	// UserSeen reports whether anything of the user is stored (a status,
	// counters, progress, settings): false for an id the service never saw.
	UserSeen(ctx context.Context, userID string) (bool, error)
}

// NotificationSettingsStore keeps users' notification settings.
type NotificationSettingsStore interface {
	// NotificationSettings returns the user's settings, the defaults for a
	// user who never set any.
	NotificationSettings(ctx context.Context, userID string) (NotificationSettings, error)
	// SetNotificationSettings stores the user's mode, recording by (who
	// changed it) and the time, and returns the settings before and after.
	SetNotificationSettings(ctx context.Context, userID, mode, by string) (previous, now NotificationSettings, err error)
}

// EngineStore is what the engine, its workers (consuming, achievements,
// backfills, audit) and the admin API need of storage.
type EngineStore interface {
	NotificationSettingsStore

	// The achievements configuration.
	LoadAchievements(ctx context.Context) ([]StoredAchievement, error)
	SaveAchievement(ctx context.Context, a *CompiledAchievement, author string) (SaveResult, error)
	DisableAchievement(ctx context.Context, id, reason string) error
	StoredConfigs(ctx context.Context, id string) ([]StoredConfig, error)
	ConfigHistory(ctx context.Context, id string) ([]ConfigVersion, error)
	configGeneration(ctx context.Context) (int64, error)

	// Progress: a batch of events in one transaction, an achievements
	// cycle from the cursor, users' statuses, paused sources.
	applyEvents(ctx context.Context, work []pendingEvent, backfillID, generation int64, source string, res *BatchResult) error
	recomputeChanged(ctx context.Context, cfg *Snapshot, limit int, strict bool) (CycleResult, error)
	SetUserStatus(ctx context.Context, userID, status string) (prev string, err error)
	PausedSources(ctx context.Context) (map[string]bool, error)
	SetSourcePaused(ctx context.Context, source string, paused bool, actor string) error
	ProcessingLog(ctx context.Context, userID string, objectives []int64, after *LogPage, limit int) ([]LogEntry, error)

	// Reconcile, repair and explain.
	reconcileUsers(ctx context.Context, after string, limit int) ([]string, error)
	reconcileSnapshot(ctx context.Context, users []string, objectives []int64, achievements []string) (*reconcileState, error)
	repairUser(ctx context.Context, userID string, objectives []int64, achievements []string, generation int64,
		refreshAll bool, plan func(*reconcileState) (reconcileRepair, error)) (CycleResult, int, error)
	explainRows(ctx context.Context, userID, achievementID string, objectives []int64) (explainRows, error)

	// Backfills.
	insertBackfill(ctx context.Context, req BackfillRequest, sources []string, lastSeq uint64) (backfillRow, error)
	backfill(ctx context.Context, id int64) (backfillRow, error)
	listBackfills(ctx context.Context, limit int) ([]Backfill, error)
	runningBackfills(ctx context.Context) ([]int64, error)
	saveBackfillProgress(ctx context.Context, b backfillRow) error
	// claimBackfill makes this process the one replaying the backfill, until
	// release (or its connection ends); ok is false when another has it.
	claimBackfill(ctx context.Context, id int64) (release func(), ok bool, err error)
	finishBackfill(ctx context.Context, id int64, state, reason string, total uint64) error

	// Notifications, as operators see them.
	ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
	RetryParked(ctx context.Context, ids []int64) (int, error)
}

// DeliveryStore is what the notifier needs: the outbox's deliveries.
type DeliveryStore interface {
	enqueueDeliveries(ctx context.Context, channels []string, limit int) (enqueueResult, error)
	deliverDue(ctx context.Context, channel string, limit int,
		deliver func(context.Context, []pendingDelivery) []deliveryOutcome) ([]pendingDelivery, []deliveryOutcome, error)
}

// LogPartitionStore is what the processing log retention needs.
type LogPartitionStore interface {
	CreateLogPartitions(ctx context.Context, from, to time.Time) ([]string, error)
	DropLogPartitions(ctx context.Context, cutoff time.Time) ([]string, error)
}

var (
	_ Store             = (*PostgresStore)(nil)
	_ PublicStore       = (*PostgresStore)(nil)
	_ EngineStore       = (*PostgresStore)(nil)
	_ DeliveryStore     = (*PostgresStore)(nil)
	_ LogPartitionStore = (*PostgresStore)(nil)
)

package awards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
)

// Engine turns events into progress. It holds the running configuration (a
// snapshot of every usable achievement, rebuilt by Reload) and applies
// batches of EventRecords to the ledger and counters.
type Engine struct {
	store      EngineStore
	components *Components
	schemas    Schemas
	log        *slog.Logger
	metrics    *Metrics

	config   atomic.Pointer[Snapshot]
	reloadMu sync.Mutex
}

// Snapshot is the running configuration: every usable achievement,
// compiled, as of one configuration generation.
type Snapshot struct {
	// Achievements are the usable achievements by id.
	Achievements map[string]*CompiledAchievement
	// Broken lists achievements whose configuration cannot run, with why.
	Broken map[string]string
	// bySubject lists the objectives consuming each event subject.
	bySubject map[string][]*CompiledObjective
	// objectives are the objectives by row id.
	objectives map[int64]*CompiledObjective
	// generation is the stored configuration generation this snapshot
	// includes (read before the configuration): a batch finding a
	// different one reloads before it applies anything.
	generation int64
}

// Subjects lists the event subjects some active objective consumes, sorted:
// the only events awards reads.
func (c *Snapshot) Subjects() []string { return sortedKeys(c.bySubject) }

// Objectives returns the objectives consuming subject.
func (c *Snapshot) Objectives(subject string) []*CompiledObjective { return c.bySubject[subject] }

// EngineConfig configures an Engine.
type EngineConfig struct {
	Store      EngineStore
	Components *Components // filters and rules; NewComponents() when nil
	Schemas    Schemas
	Logger     *slog.Logger
	Metrics    *Metrics // NewMetrics() when nil
}

// NewEngine returns an engine with an empty configuration; call Reload.
func NewEngine(cfg EngineConfig) *Engine {
	if cfg.Components == nil {
		cfg.Components = NewComponents()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	e := &Engine{store: cfg.Store, components: cfg.Components, schemas: cfg.Schemas, log: cfg.Logger, metrics: cfg.Metrics}
	e.config.Store(&Snapshot{Achievements: map[string]*CompiledAchievement{}, Broken: map[string]string{},
		bySubject: map[string][]*CompiledObjective{}, objectives: map[int64]*CompiledObjective{}})
	return e
}

// Snapshot returns the running configuration.
func (e *Engine) Snapshot() *Snapshot { return e.config.Load() }

// Metrics returns the engine's metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Components returns the filter and rule implementations.
func (e *Engine) Components() *Components { return e.components }

// Schemas returns the event schemas the engine validates and decodes with.
func (e *Engine) Schemas() Schemas { return e.schemas }

// Save validates an achievement configuration and stores it; the running
// configuration is reloaded. A configuration that does not validate is
// rejected with every problem named and nothing is stored.
func (e *Engine) Save(ctx context.Context, c AchievementConfig, author string) (SaveResult, error) {
	a, err := e.compile(c)
	if err != nil {
		return SaveResult{}, err
	}
	res, err := e.save(ctx, a, author)
	if err != nil {
		return res, err
	}
	return res, e.Reload(ctx)
}

// ErrInvalidConfig wraps the problems of a configuration that does not
// validate.
var ErrInvalidConfig = errors.New("invalid achievement configuration")

// compile is Compile with the engine's components and schemas; its errors
// match ErrInvalidConfig.
func (e *Engine) compile(c AchievementConfig) (*CompiledAchievement, error) {
	a, err := Compile(e.components, e.schemas, c)
	if err != nil {
		return nil, invalidConfig{err}
	}
	return a, nil
}

// invalidConfig is a Compile error that matches ErrInvalidConfig and reads
// as the problems alone.
type invalidConfig struct{ err error }

func (e invalidConfig) Error() string   { return e.err.Error() }
func (e invalidConfig) Unwrap() []error { return []error{ErrInvalidConfig, e.err} }

// save stores a compiled configuration, without reloading.
func (e *Engine) save(ctx context.Context, a *CompiledAchievement, author string) (SaveResult, error) {
	res, err := e.store.SaveAchievement(ctx, a, author)
	if err == nil && res.Changed {
		e.log.Info("achievement saved", "achievement", a.Config.ID, "version", res.Version, "author", author)
	}
	return res, err
}

// Reload rebuilds the running configuration from the store. An achievement
// whose stored configuration no longer validates (an event field it reads
// was removed, a filter is no longer known) is disabled and reported; the
// others keep running.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	// The generation first: a change saved meanwhile is then in the
	// configuration loaded (or makes the next batch reload again).
	generation, err := e.store.configGeneration(ctx)
	if err != nil {
		return err
	}
	stored, err := e.store.LoadAchievements(ctx)
	if err != nil {
		return err
	}
	next := &Snapshot{Achievements: map[string]*CompiledAchievement{}, Broken: map[string]string{},
		bySubject: map[string][]*CompiledObjective{}, objectives: map[int64]*CompiledObjective{}, generation: generation}
	for _, sa := range stored {
		a, err := Compile(e.components, e.schemas, sa.Config)
		if err != nil {
			next.Broken[sa.Config.ID] = err.Error()
			if sa.DisabledReason != err.Error() {
				e.log.Error("achievement disabled: its configuration cannot run", "achievement", sa.Config.ID, "err", err)
			}
			if derr := e.store.DisableAchievement(ctx, sa.Config.ID, err.Error()); derr != nil {
				return derr
			}
			continue
		}
		if sa.DisabledReason != "" {
			if err := e.store.DisableAchievement(ctx, sa.Config.ID, ""); err != nil {
				return err
			}
		}
		next.Achievements[a.Config.ID] = a
		for _, o := range a.Objectives {
			o.ID = sa.ObjectiveIDs[o.Key]
			next.objectives[o.ID] = o
			for _, s := range o.Subjects {
				next.bySubject[s] = append(next.bySubject[s], o)
			}
		}
	}
	e.metrics.brokenAchievements.Set(float64(len(next.Broken)))
	e.config.Store(next)
	return nil
}

// decode turns a record into an Event with its payload decoded by the
// registry's descriptor of the record's message.
func (e *Engine) decode(rec *busv1.EventRecord) (Event, error) {
	md, ok := e.schemas.Message(rec.GetEventName())
	if !ok {
		return Event{}, fmt.Errorf("%w: %s is not in the registry's schemas", ErrUnknownEvent, rec.GetEventName())
	}
	msg := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(rec.GetPayload(), msg); err != nil {
		return Event{}, fmt.Errorf("decode %s payload of record %s: %w", rec.GetEventName(), rec.GetId(), err)
	}
	return EventFromRecord(rec, msg), nil
}

// BatchResult counts what a batch did.
type BatchResult struct {
	Events      int // records in the batch
	Applied     int // (event, objective) pairs that reached the rule
	Changed     int // user objectives written
	Duplicates  int // (event, objective) pairs already in the processing log
	Skipped     int // events whose every pair was a duplicate: they changed nothing
	NoUser      int // events without an authenticated user
	Inactive    int // events of banned or deleted users (applied, never granted)
	Undecodable int // events whose payload could not be decoded
}

// ErrUnknownEvent wraps decode failures caused by a message the schemas do
// not know (yet).
var ErrUnknownEvent = errors.New("unknown event message")

// ApplyBatch applies records, in order, to the ledger and counters in one
// PostgreSQL transaction. Records of no active objective or without a user
// move nothing; a record already applied (redelivery) changes nothing.
// Records of banned or deleted users update their ledger and counters, but
// the achievements worker folds nothing for them until they are active
// again.
func (e *Engine) ApplyBatch(ctx context.Context, records []*busv1.EventRecord) (BatchResult, error) {
	return e.ApplyBatchWith(ctx, records, ApplyOptions{})
}

// ApplyOptions adjust how a batch is applied.
type ApplyOptions struct {
	// BackfillID marks the writes as a backfill's: the grants they cause
	// are marked with it (and their notifications suppressed unless the
	// backfill asked for them).
	BackfillID int64
	// Only, when set, limits the batch to the objectives it accepts, e.g.
	// those of the achievement a backfill is for.
	Only func(*CompiledObjective) bool
	// Source is the source a consuming worker read the batch from: the
	// batch applies nothing and fails with ErrSourcePaused when an operator
	// paused it meanwhile (on any instance).
	Source string
	// Sequences are the records' positions on the EVENTS stream, one per
	// record in order (or none): the bus order that orders a content
	// item's status changes when event times do not.
	Sequences []uint64
}

// ErrSourcePaused is returned for a consuming worker's batch of a source
// paused since the worker fetched it.
var ErrSourcePaused = errors.New("source paused")

// ApplyBatchWith is ApplyBatch with options.
//
// With several instances, an achievement saved on one is not in the
// running configuration of the others until they reload. So the batch's
// transaction compares the stored configuration generation with the one
// the running configuration was loaded at; when they differ it applies
// nothing, the engine reloads and the batch starts again, with the new
// objectives. (A save committed while the batch runs is treated as on a
// single instance: the batch in flight counts with the configuration it
// started with.)
func (e *Engine) ApplyBatchWith(ctx context.Context, records []*busv1.EventRecord, opts ApplyOptions) (BatchResult, error) {
	for attempt := 1; ; attempt++ {
		// After a few reloads in a row (configuration saved again and
		// again), apply with the newest configuration regardless.
		check := attempt <= maxConfigReloads
		res, err := e.applyBatch(ctx, e.Snapshot(), records, opts, check)
		if !errors.Is(err, errConfigChanged) {
			return res, err
		}
		if err := e.Reload(ctx); err != nil {
			return BatchResult{Events: len(records)}, err
		}
	}
}

// maxConfigReloads bounds the reloads one batch makes.
const maxConfigReloads = 3

// errConfigChanged stops a batch whose configuration is older than the
// stored one.
var errConfigChanged = errors.New("the achievements configuration changed since it was loaded")

// applyBatch applies records with cfg; when check is set it applies
// nothing and returns errConfigChanged if the stored configuration is
// newer than cfg.
func (e *Engine) applyBatch(ctx context.Context, cfg *Snapshot, records []*busv1.EventRecord, opts ApplyOptions, check bool) (BatchResult, error) {
	res := BatchResult{Events: len(records)}
	refreshed := false
	var work []pendingEvent
	if len(opts.Sequences) != 0 && len(opts.Sequences) != len(records) {
		return res, fmt.Errorf("%d stream sequences for %d records", len(opts.Sequences), len(records))
	}
	for i, rec := range records {
		objectives := cfg.bySubject[eventSubject(rec.GetEventName())]
		if opts.Only != nil {
			var only []*CompiledObjective
			for _, o := range objectives {
				if opts.Only(o) {
					only = append(only, o)
				}
			}
			objectives = only
		}
		if len(objectives) == 0 {
			continue
		}
		if rec.GetUserId() == "" {
			res.NoUser++
			continue
		}
		ev, err := e.decode(rec)
		if errors.Is(err, ErrUnknownEvent) && !refreshed {
			// A version registered after the schemas were fetched.
			refreshed = true
			if r, ok := e.schemas.(interface{ Refresh(context.Context) error }); ok {
				if rerr := r.Refresh(ctx); rerr != nil {
					e.log.Warn("refresh event schemas", "err", rerr)
				}
				ev, err = e.decode(rec)
			}
		}
		if len(opts.Sequences) != 0 {
			ev.Sequence = opts.Sequences[i]
		}
		if err != nil {
			res.Undecodable++
			e.log.Warn("event skipped: payload cannot be decoded", "record", rec.GetId(), "event", rec.GetEventName(), "err", err)
			continue
		}
		var matches []match
		for _, o := range objectives {
			if o.Achievement.InPeriod(ev.OccurredAt) {
				m := match{objective: o, failing: o.firstFailing(ev)}
				if m.failing == "" {
					m.content, m.hasContent = o.Rule.ContentID(ev)
				}
				matches = append(matches, m)
			}
		}
		if len(matches) > 0 {
			work = append(work, pendingEvent{ev: ev, matches: matches})
		}
	}
	if len(work) > 0 {
		generation := int64(-1) // no check
		if check {
			generation = cfg.generation
		}
		if err := e.store.applyEvents(ctx, work, opts.BackfillID, generation, opts.Source, &res); err != nil {
			return res, err
		}
	}
	e.metrics.observe(res)
	return res, nil
}

// pendingEvent is a decoded event and the objectives it may count for.
type pendingEvent struct {
	ev      Event
	matches []match
}

// match is an objective an event may count for, with what the objective's
// filters and rule make of the event, worked out once per batch.
type match struct {
	objective  *CompiledObjective
	failing    string // the first filter the event does not pass; "" when it passes all
	content    string // the rule's content id, when hasContent
	hasContent bool
}

// progressKey identifies a user's objective.
type progressKey struct {
	user      string
	objective int64
}

// ledgerKey identifies a ledger entry.
type ledgerKey struct {
	user      string
	objective int64
	content   string
}

// userObjective is a user's counters in one objective.
type userObjective struct {
	counters Deltas
	progress float64
	version  int64
	changed  bool
	stored   bool // the row exists in the database
}

// logEntry is one processing log row.
type logEntry struct {
	recordID, user, outcome, filter, content string
	objective                                int64
	delta, counters                          Deltas
	ev                                       *Event
}

// applyInMemory runs the filters and rules over work in order, against the
// ledger entries and counters loaded for it, and returns the log entries.
// It is the whole of the engine's arithmetic; the store only loads and
// writes.
func applyInMemory(work []pendingEvent, ledger map[ledgerKey]*Contribution, counters map[progressKey]*userObjective, ledgerChanged map[ledgerKey]bool) []logEntry {
	var log []logEntry
	for i := range work {
		ev := &work[i].ev
		for _, m := range work[i].matches {
			o := m.objective
			entry := logEntry{recordID: ev.RecordID, user: ev.UserID, objective: o.ID, ev: ev}
			if m.failing != "" {
				entry.outcome, entry.filter = "filtered", m.failing
				log = append(log, entry)
				continue
			}
			if !m.hasContent {
				entry.outcome = "no_content"
				log = append(log, entry)
				continue
			}
			id := m.content
			lk := ledgerKey{ev.UserID, o.ID, id}
			next, deltas, ok := o.Rule.Apply(ledger[lk], *ev)
			if !ok {
				entry.outcome = "no_content"
				log = append(log, entry)
				continue
			}
			entry.content = id
			pk := progressKey{ev.UserID, o.ID}
			uo := counters[pk]
			if uo == nil {
				uo = &userObjective{counters: Deltas{}}
				counters[pk] = uo
			}
			if prev := ledger[lk]; (prev == nil && next.Status != "") || (prev != nil && !equalContributions(*prev, next)) {
				ledger[lk] = &next
				ledgerChanged[lk] = true
			}
			if len(deltas) == 0 {
				entry.outcome = "unchanged"
			} else {
				entry.outcome, entry.delta = "applied", deltas
				for k, v := range deltas {
					uo.counters[k] += v
					if uo.counters[k] == 0 {
						delete(uo.counters, k)
					}
				}
				uo.progress = uo.counters[o.Rule.ProgressCounter()]
				uo.changed = true
			}
			entry.counters = cloneDeltas(uo.counters)
			log = append(log, entry)
		}
	}
	return log
}

func cloneDeltas(d Deltas) Deltas {
	out := make(Deltas, len(d))
	for k, v := range d {
		out[k] = v
	}
	return out
}

// sortedProgressKeys returns the keys in (user, objective) order: the lock
// order every writer uses, so that concurrent batches cannot deadlock.
func sortedProgressKeys[V any](m map[progressKey]V) []progressKey {
	keys := make([]progressKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b progressKey) int {
		if a.user != b.user {
			if a.user < b.user {
				return -1
			}
			return 1
		}
		return int(a.objective - b.objective)
	})
	return keys
}

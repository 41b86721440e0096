package awards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
)

// Backfill states.
const (
	BackfillRunning = "running"
	BackfillDone    = "done"
	BackfillFailed  = "failed"
)

// ErrInvalidBackfill is what every reason a backfill cannot start is
// (errors.Is); the error itself says the reason.
var ErrInvalidBackfill = errors.New("backfill cannot start")

// invalidBackfill is a reason a backfill cannot start.
type invalidBackfill struct{ reason string }

func (e *invalidBackfill) Error() string        { return e.reason }
func (e *invalidBackfill) Is(target error) bool { return target == ErrInvalidBackfill }

func invalidBackfillf(format string, args ...any) error {
	return &invalidBackfill{reason: fmt.Sprintf(format, args...)}
}

// BackfillRequest asks to replay EVENTS from a time.
type BackfillRequest struct {
	// AchievementID limits the replay to this achievement's objectives;
	// every running achievement when empty.
	AchievementID string
	// From is the stream time to replay from.
	From time.Time
	// Notify delivers the notifications of the grants the backfill makes;
	// they are suppressed otherwise (the users earned them in the past).
	Notify bool
	Actor  string
}

// Backfill is a replay of the EVENTS stream through the engine and how far
// it got.
type Backfill struct {
	ID            int64
	AchievementID string
	From          time.Time
	State         string // running, done or failed
	// Total is the number of messages to replay: those on the backfill's
	// sources from From up to the stream's last sequence when it started.
	// It is counted when the replay begins (an upper bound while live
	// events keep arriving) and set to Done when the backfill is done.
	Total uint64
	// Done counts the messages replayed so far.
	Done uint64
	// Skipped counts the replayed messages that had nothing left to do:
	// every (event, objective) pair they make for the backfill's
	// objectives was already in the processing log, applied by the live
	// consumers or an earlier backfill. They changed nothing.
	Skipped    uint64
	Error      string
	Notify     bool
	Actor      string
	StartedAt  time.Time
	FinishedAt *time.Time
}

// BackfillsConfig tunes the backfills.
type BackfillsConfig struct {
	// Batch bounds the messages applied per transaction; default 500.
	Batch int
	// FetchWait is how long a fetch waits for messages; default 2s.
	FetchWait time.Duration
	// Poll is how often Run looks for backfills to run besides those
	// Start announces (e.g. started by another process); default 10s.
	Poll time.Duration
	// AfterBatch, when set, is called after each batch's progress is
	// stored, with that progress (tests use it to watch a backfill run).
	AfterBatch func(Backfill)
}

// Backfills starts, runs and reports backfills. A backfill replays the
// EVENTS stream from a chosen time through the same filters and rules as
// the live consumers, with an ephemeral consumer of its own filtered to the
// sources of the objectives it is for. Events already applied are skipped
// by the processing log, so a backfill that overlaps live processing, or
// runs twice, counts nothing twice. The grants it causes are marked with
// its id and their notifications suppressed unless it asked for them.
type Backfills struct {
	engine *Engine
	js     jetstream.JetStream
	cfg    BackfillsConfig
	log    *slog.Logger

	wake   chan struct{}
	mu     sync.Mutex
	active map[int64]bool
}

// NewBackfills returns the backfills of e, reading EVENTS from js. An
// optional config tunes them.
func NewBackfills(e *Engine, js jetstream.JetStream, cfg ...BackfillsConfig) *Backfills {
	var c BackfillsConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 2 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = 10 * time.Second
	}
	return &Backfills{engine: e, js: js, cfg: c, log: e.log.With("worker", "backfill"),
		wake: make(chan struct{}, 1), active: map[int64]bool{}}
}

// Start validates req, stores the backfill as running and wakes Run, which
// replays it. The achievement must be running (not broken); From must not
// be in the future. The replay ends at the stream's last sequence now:
// later events are the live consumers'.
func (b *Backfills) Start(ctx context.Context, req BackfillRequest) (Backfill, error) {
	if req.From.IsZero() {
		return Backfill{}, invalidBackfillf("from is required: the stream time to replay from, e.g. 2026-11-01T00:00:00Z")
	}
	if req.From.After(time.Now()) {
		return Backfill{}, invalidBackfillf("from %s is in the future; nothing was published then yet", req.From.Format(time.RFC3339))
	}
	cfg := b.engine.Snapshot()
	var sources []string
	if req.AchievementID == "" {
		sources = cfg.Subjects()
		if len(sources) == 0 {
			return Backfill{}, invalidBackfillf("no achievement is running, so no event would count")
		}
	} else {
		a, ok := cfg.Achievements[req.AchievementID]
		if !ok {
			if reason, broken := cfg.Broken[req.AchievementID]; broken {
				return Backfill{}, invalidBackfillf("achievement %q is disabled because its configuration cannot run (%s); fix it first", req.AchievementID, reason)
			}
			return Backfill{}, invalidBackfillf("no achievement %q; save it first (clickstream awards apply)", req.AchievementID)
		}
		sources = achievementSources(a)
	}
	stream, err := b.js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return Backfill{}, fmt.Errorf("start backfill: stream %s: %w", bus.StreamEvents, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return Backfill{}, fmt.Errorf("start backfill: stream %s: %w", bus.StreamEvents, err)
	}
	req.From = req.From.UTC()
	row, err := b.engine.store.insertBackfill(ctx, req, sources, info.State.LastSeq)
	if err != nil {
		return Backfill{}, err
	}
	b.log.Info("backfill started", "backfill", row.ID, "achievement", req.AchievementID, "from", req.From,
		"sources", sources, "last_seq", info.State.LastSeq, "notify", req.Notify, "actor", req.Actor)
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return row.Backfill, nil
}

// achievementSources lists the sources an achievement's objectives consume.
func achievementSources(a *CompiledAchievement) []string {
	var out []string
	for _, o := range a.Objectives {
		for _, s := range o.Subjects {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Get returns a backfill with its progress; ErrNotFound (wrapped) for an
// unknown id.
func (b *Backfills) Get(ctx context.Context, id int64) (Backfill, error) {
	row, err := b.engine.store.backfill(ctx, id)
	return row.Backfill, err
}

// List returns the backfills, newest first (the latest 1,000).
func (b *Backfills) List(ctx context.Context) ([]Backfill, error) {
	return b.engine.store.listBackfills(ctx, 1000)
}

// Run replays the running backfills until ctx is done: those Start stores
// at once, and at start those a previous process left running (they resume
// after the last batch they recorded). Backfills run concurrently, each in
// one process at a time. When ctx ends, a backfill stops after its batch
// and stays running, to resume at the next Run.
func (b *Backfills) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		ids, err := b.engine.store.runningBackfills(ctx)
		if err != nil && ctx.Err() == nil {
			b.log.Error("look for running backfills", "err", err)
		}
		for _, id := range ids {
			b.mu.Lock()
			if b.active[id] {
				b.mu.Unlock()
				continue
			}
			b.active[id] = true
			b.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					b.mu.Lock()
					delete(b.active, id)
					b.mu.Unlock()
				}()
				b.runOne(ctx, id)
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-b.wake:
		case <-time.After(b.cfg.Poll):
		}
	}
}

// runOne replays one backfill if no other process does, and records how it
// ended.
func (b *Backfills) runOne(ctx context.Context, id int64) {
	store := b.engine.store
	release, ok, err := store.claimBackfill(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error("claim backfill", "backfill", id, "err", err)
		}
		return
	}
	if !ok {
		return // another process replays it
	}
	defer release()
	row, err := store.backfill(ctx, id)
	if err != nil || row.State != BackfillRunning {
		return
	}
	log := b.log.With("backfill", id, "achievement", row.AchievementID)
	if row.position > 0 {
		log.Info("backfill resumed", "after_seq", row.position, "done", row.Done)
	}
	err = b.replay(ctx, &row)
	if ctx.Err() != nil {
		log.Info("backfill interrupted; it resumes when the service runs again", "done", row.Done, "position", row.position)
		return
	}
	state, reason := BackfillDone, ""
	total := row.Done // exact now: every message replayed
	if err != nil {
		state, reason, total = BackfillFailed, err.Error(), max(row.Total, row.Done)
		log.Error("backfill failed", "done", row.Done, "err", err)
	} else {
		log.Info("backfill done", "done", row.Done, "skipped", row.Skipped)
	}
	if err := store.finishBackfill(context.WithoutCancel(ctx), id, state, reason, total); err != nil {
		log.Error("record the end of the backfill", "err", err)
	}
}

// replay reads the backfill's sources from where it stands to its last
// sequence and applies them in batches, recording progress after each.
func (b *Backfills) replay(ctx context.Context, row *backfillRow) error {
	if row.lastSeq == 0 || row.position >= row.lastSeq || len(row.sources) == 0 {
		return nil // nothing was on the stream when it started
	}
	only, err := b.objectivesOf(row.AchievementID)
	if err != nil {
		return err
	}
	cons, err := b.consumer(ctx, row)
	if err != nil {
		return err
	}
	defer b.deleteConsumer(cons)
	if row.Total == 0 && row.position == 0 {
		info, err := cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("count the events to replay: %w", err)
		}
		row.Total = info.NumPending
		if row.Total == 0 {
			return nil // nothing on its sources since From
		}
		if err := b.engine.store.saveBackfillProgress(ctx, *row); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		msgs, err := b.fetch(cons)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The ephemeral consumer may be gone (server restart,
			// inactivity): start another after the recorded position.
			b.log.Warn("fetch events to backfill; recreating the consumer", "backfill", row.ID, "err", err)
			sleep(ctx, time.Second)
			if cons, err = b.consumer(ctx, row); err != nil {
				return err
			}
			continue
		}
		finished := false
		records := make([]*busv1.EventRecord, 0, len(msgs))
		seqs := make([]uint64, 0, len(msgs))
		var read uint64
		last := row.position
		for _, m := range msgs {
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("read event metadata: %w", err)
			}
			if meta.Sequence.Stream > row.lastSeq {
				finished = true
				break
			}
			read++
			last = meta.Sequence.Stream
			if meta.NumPending == 0 || last >= row.lastSeq {
				finished = true
			}
			rec := &busv1.EventRecord{}
			if err := proto.Unmarshal(m.Data(), rec); err != nil {
				b.log.Error("event record skipped: not an EventRecord", "subject", m.Subject(), "seq", last, "err", err)
				continue
			}
			records = append(records, rec)
			seqs = append(seqs, last)
		}
		if len(msgs) == 0 {
			// Nothing within the wait: done unless messages are pending.
			info, err := cons.Info(ctx)
			if err != nil {
				continue
			}
			finished = info.NumPending == 0
		}
		if read > 0 {
			skipped, err := b.apply(ctx, row, records, seqs, only)
			if err != nil {
				return err
			}
			row.Done += read
			row.Skipped += skipped
			row.position = last
			row.Total = max(row.Total, row.Done)
			// Recorded even when ctx ends now: the batch is applied.
			if err := b.engine.store.saveBackfillProgress(context.WithoutCancel(ctx), *row); err != nil {
				return err
			}
			if b.cfg.AfterBatch != nil {
				b.cfg.AfterBatch(row.Backfill)
			}
		}
		if finished {
			return nil
		}
	}
	return nil
}

// apply applies one batch for the backfill and returns how many of its
// records were skipped (every pair already logged). A failing batch is
// retried a few times before the backfill fails.
func (b *Backfills) apply(ctx context.Context, row *backfillRow, records []*busv1.EventRecord, seqs []uint64, only func(*CompiledObjective) bool) (uint64, error) {
	var err error
	for attempt := 1; attempt <= 5 && ctx.Err() == nil; attempt++ {
		var res BatchResult
		if res, err = b.engine.ApplyBatchWith(ctx, records, ApplyOptions{BackfillID: row.ID, Only: only, Sequences: seqs}); err == nil {
			return uint64(res.Skipped), nil
		}
		b.log.Warn("apply backfill batch, will retry", "backfill", row.ID, "events", len(records), "attempt", attempt, "err", err)
		sleep(ctx, time.Duration(attempt)*500*time.Millisecond)
	}
	if err == nil {
		err = ctx.Err()
	}
	return 0, fmt.Errorf("apply %d events: %w", len(records), err)
}

// objectivesOf returns the filter of an achievement's objectives (nil, all
// of them, for every achievement).
func (b *Backfills) objectivesOf(achievement string) (func(*CompiledObjective) bool, error) {
	if achievement == "" {
		return nil, nil
	}
	if _, ok := b.engine.Snapshot().Achievements[achievement]; !ok {
		return nil, fmt.Errorf("achievement %q is no longer running", achievement)
	}
	return func(o *CompiledObjective) bool { return o.Achievement.Config.ID == achievement }, nil
}

// consumer creates the backfill's ephemeral consumer: its sources, from
// From or after the position it recorded.
func (b *Backfills) consumer(ctx context.Context, row *backfillRow) (jetstream.Consumer, error) {
	filters := make([]string, 0, len(row.sources))
	for _, s := range row.sources {
		f, err := bus.EventFilterSubject(s)
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	cfg := jetstream.ConsumerConfig{
		Description:       fmt.Sprintf("awards backfill %d: %s", row.ID, strings.Join(row.sources, ", ")),
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
	}
	if len(filters) == 1 {
		cfg.FilterSubject = filters[0]
	} else {
		cfg.FilterSubjects = filters
	}
	if row.position > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, row.position+1
	} else {
		from := row.From
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	cons, err := b.js.CreateConsumer(ctx, bus.StreamEvents, cfg)
	if err != nil {
		return nil, fmt.Errorf("create the consumer of backfill %d on %v: %w", row.ID, filters, err)
	}
	return cons, nil
}

func (b *Backfills) deleteConsumer(cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	name := cons.CachedInfo().Name
	if err := b.js.DeleteConsumer(ctx, bus.StreamEvents, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		b.log.Warn("delete backfill consumer (it expires by itself)", "consumer", name, "err", err)
	}
}

// fetch takes up to a batch of messages, waiting up to FetchWait.
func (b *Backfills) fetch(cons jetstream.Consumer) ([]jetstream.Msg, error) {
	batch, err := cons.Fetch(b.cfg.Batch, jetstream.FetchMaxWait(b.cfg.FetchWait))
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	return msgs, batch.Error()
}

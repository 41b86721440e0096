package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/ingest/migrations"
)

// warehouseDatabase starts a private PostgreSQL cluster for the test and
// returns a pool on a database with ingest's migrations applied.
func warehouseDatabase(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := t.Context()
	cluster, err := postgres.StartCluster(ctx, postgres.ClusterConfig{DataDir: filepath.Join(pgtest.DataDir(t), "data"), Ephemeral: true})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	if err := cluster.CreateDatabase(ctx, "warehouse"); err != nil {
		t.Fatal(err)
	}
	url := cluster.URL("warehouse")
	if err := postgres.Migrate(ctx, url, migrations.Schema, migrations.FS); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// runWarehouse runs a warehouse consumer until the test ends.
func runWarehouse(t *testing.T, b *bus.Bus, store ingest.WarehouseStore, durable string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := ingest.NewWarehouse(b.JetStream(), store, ingest.WarehouseConfig{Durable: durable, BatchSize: 4, BatchWait: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("warehouse %s: %v", durable, err)
		}
	})
}

// eventually polls cond until it holds or 20 seconds passed.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen: %s", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countRows(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// publishRecord puts an ItemViewV2 record received at at on EVENTS.
func publishRecord(t *testing.T, b *bus.Bus, id string, at time.Time) {
	t.Helper()
	rec := &busv1.EventRecord{Id: id, EventId: 1001, EventVersion: 2, EventName: "clickstream.events.v1.ItemViewV2",
		Environment: env, UserId: "u-7", ReceivedAt: timestamppb.New(at), OccurredAt: timestamppb.New(at.Add(-time.Second)),
		Source: &busv1.Source{KeyId: "ck_test"}, Payload: []byte{0x10, 0x01}}
	data, err := proto.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.PublishAll(t.Context(), []bus.Message{{Subject: "events." + env + ".item_view.v2", MsgID: id, Data: data}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("publish %s: %v %v", id, err, res[0].Err)
	}
}

func TestWarehouse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pool := warehouseDatabase(t)
	svc, b := newService(t, ingest.Config{})
	store := ingest.NewPostgresWarehouse(pool)
	reports := ingest.NewReports(store)
	ctx := t.Context()

	before := time.Now().UTC()
	noItemID := itemView()
	noItemID.ItemId = 0
	resp := send(t, svc,
		typed(t, "w-1", itemView()), typed(t, "w-2", itemView()), jsonOf(t, "w-3", itemView()),
		typed(t, "w-4", photoStatus()), mobile("w-5", 1001, 2, itemViewParams()),
		typed(t, "w-rejected", noItemID))
	if resp.GetAccepted() != 5 {
		t.Fatalf("accepted %d of 6, want 5", resp.GetAccepted())
	}
	// Two events either side of midnight land in two daily partitions.
	midnight := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	publishRecord(t, b, "late", midnight.Add(-30*time.Minute))
	publishRecord(t, b, "early", midnight.Add(30*time.Minute))

	runWarehouse(t, b, store, "warehouse")
	eventually(t, "7 events in the warehouse", func() (bool, string) {
		n := countRows(t, pool, `SELECT count(*) FROM ingest.events`)
		return n == 7, fmt.Sprintf("%d rows", n)
	})

	var keyID, userID string
	var occurred time.Time
	if err := pool.QueryRow(ctx, `SELECT key_id, user_id, occurred_at FROM ingest.events WHERE id = 'late'`).Scan(&keyID, &userID, &occurred); err != nil {
		t.Fatal(err)
	}
	if keyID != "ck_test" || userID != "u-7" || !occurred.Equal(midnight.Add(-30*time.Minute-time.Second)) {
		t.Errorf("stored key %q, user %q, occurred %s", keyID, userID, occurred)
	}
	if got := countRows(t, pool, `SELECT count(*) FROM ingest.events WHERE user_id = 'u-42' AND occurred_at IS NOT NULL`); got != 5 {
		t.Errorf("%d events from ingest with their user and occurred_at, want 5", got)
	}

	t.Run("daily partitions", func(t *testing.T) {
		var late, early string
		if err := pool.QueryRow(ctx, `SELECT
			(SELECT tableoid::regclass::text FROM ingest.events WHERE id = 'late'),
			(SELECT tableoid::regclass::text FROM ingest.events WHERE id = 'early')`).Scan(&late, &early); err != nil {
			t.Fatal(err)
		}
		if late != "ingest.events_20250601" || early != "ingest.events_20250602" {
			t.Errorf("partitions %s and %s, want ingest.events_20250601 and ingest.events_20250602", late, early)
		}
		today := "events_" + before.Format("20060102")
		if n := countRows(t, pool, `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'ingest.events'::regclass AND c.relname IN ('events_20250601', 'events_20250602', $1)`, today); n != 3 {
			t.Errorf("%d of the 3 expected partitions exist", n)
		}
	})

	hourly := func(req *ingestv1.GetHourlyCountsRequest) string {
		t.Helper()
		resp, err := reports.GetHourlyCounts(ctx, req)
		if err != nil {
			t.Fatalf("GetHourlyCounts: %v", err)
		}
		var out []string
		for _, c := range resp.GetCounts() {
			out = append(out, fmt.Sprintf("%s %s %d v%d %s %d", c.GetHour().AsTime().Format("2006-01-02T15"), c.GetEnvironment(),
				c.GetEventId(), c.GetVersion(), strings.TrimPrefix(c.GetEventName(), "clickstream.events.v1."), c.GetCount()))
		}
		return strings.Join(out, "; ")
	}
	window := func(from, to time.Time) *ingestv1.GetHourlyCountsRequest {
		return &ingestv1.GetHourlyCountsRequest{From: timestamppb.New(from), To: timestamppb.New(to)}
	}
	hour := before.Truncate(time.Hour)
	wantNow := fmt.Sprintf("%[1]s test 1001 v2 ItemViewV2 4; %[1]s test 2001 v2 PhotoStatusChangedV2 1", hour.Format("2006-01-02T15"))
	wantMidnight := "2025-06-01T23 test 1001 v2 ItemViewV2 1; 2025-06-02T00 test 1001 v2 ItemViewV2 1"

	t.Run("hourly counts", func(t *testing.T) {
		// The send happened in before's hour or, rarely, the next one.
		if got := hourly(window(hour, hour.Add(2*time.Hour))); got != wantNow && !strings.Contains(got, "ItemViewV2 4") {
			t.Errorf("hourly counts now: %q, want %q", got, wantNow)
		}
		if got := hourly(window(midnight.Add(-24*time.Hour), midnight.Add(24*time.Hour))); got != wantMidnight {
			t.Errorf("hourly counts around midnight: %q, want %q", got, wantMidnight)
		}
		if got := hourly(window(midnight, midnight.Add(time.Hour))); got != "2025-06-02T00 test 1001 v2 ItemViewV2 1" {
			t.Errorf("[midnight, 01:00): %q", got)
		}
		req := window(hour, hour.Add(2*time.Hour))
		req.EventId = 2001
		if got := hourly(req); !strings.Contains(got, "PhotoStatusChangedV2 1") || strings.Contains(got, "ItemView") {
			t.Errorf("event 2001 only: %q", got)
		}
		req.EventId, req.Environment = 0, "elsewhere"
		if got := hourly(req); got != "" {
			t.Errorf("environment elsewhere: %q, want nothing", got)
		}
		for _, bad := range []*ingestv1.GetHourlyCountsRequest{
			{From: timestamppb.New(hour)},
			window(hour, hour),
			window(hour, hour.Add(365*24*time.Hour)),
		} {
			if _, err := reports.GetHourlyCounts(ctx, bad); connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("GetHourlyCounts(%v): %v, want InvalidArgument", bad, err)
			}
		}
	})

	t.Run("redelivery does not double count", func(t *testing.T) {
		// A second consumer delivers every event again, as a redelivery
		// after a lost ack would; and the same batch written twice.
		runWarehouse(t, b, store, "warehouse-again")
		eventually(t, "the second consumer acknowledged everything", func() (bool, string) {
			c, err := b.JetStream().Consumer(ctx, bus.StreamEvents, "warehouse-again")
			if err != nil {
				return false, err.Error()
			}
			info, err := c.Info(ctx)
			if err != nil {
				return false, err.Error()
			}
			return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == 7,
				fmt.Sprintf("pending %d, ack pending %d, ack floor %d", info.NumPending, info.NumAckPending, info.AckFloor.Stream)
		})
		again := ingest.StoredEvent{ID: "late", EventID: 1001, Version: 2, EventName: "clickstream.events.v1.ItemViewV2",
			Environment: env, ReceivedAt: midnight.Add(-30 * time.Minute), Payload: []byte{1}}
		if err := store.WriteEvents(ctx, []ingest.StoredEvent{again, again}); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, pool, `SELECT count(*) FROM ingest.events`); n != 7 {
			t.Errorf("%d rows after redelivery, want 7", n)
		}
		if got := hourly(window(midnight.Add(-24*time.Hour), midnight.Add(24*time.Hour))); got != wantMidnight {
			t.Errorf("hourly counts after redelivery: %q, want %q", got, wantMidnight)
		}
	})
}

// downWarehouse is a WarehouseStore whose database is away until up is
// set; then it keeps what it is given, once per id.
type downWarehouse struct {
	mu     sync.Mutex
	up     bool
	failed int
	stored map[string]bool
}

func (w *downWarehouse) WriteEvents(_ context.Context, events []ingest.StoredEvent) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.up {
		w.failed++
		return errors.New("connect to the database: connection refused")
	}
	for _, e := range events {
		w.stored[e.ID] = true
	}
	return nil
}

func (w *downWarehouse) HourlyCounts(context.Context, ingest.HourlyQuery) ([]ingest.HourlyCount, error) {
	return nil, errors.New("connect to the database: connection refused")
}

// While PostgreSQL is down the warehouse keeps running and retrying; once
// it is back every event is stored, none lost. Reports answer Unavailable
// meanwhile.
func TestWarehouseOutlivesAPostgreSQLOutage(t *testing.T) {
	_, b := newService(t, ingest.Config{})
	store := &downWarehouse{stored: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	w := ingest.NewWarehouse(b.JetStream(), store, ingest.WarehouseConfig{BatchSize: 4, BatchWait: 20 * time.Millisecond, RetryWait: 20 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("warehouse: %v", err)
		}
	}()
	at := time.Now()
	for i := range 10 {
		publishRecord(t, b, fmt.Sprintf("down-%d", i), at)
	}
	eventually(t, "three failed writes", func() (bool, string) {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.failed >= 3, fmt.Sprintf("%d failed writes", store.failed)
	})
	select {
	case err := <-done:
		t.Fatalf("the warehouse stopped during the outage: %v", err)
	default:
	}
	if _, err := ingest.NewReports(store).GetHourlyCounts(ctx, &ingestv1.GetHourlyCountsRequest{
		From: timestamppb.New(at.Add(-time.Hour)), To: timestamppb.New(at.Add(time.Hour))}); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("reports during the outage: %v, want Unavailable", err)
	}
	store.mu.Lock()
	store.up = true
	store.mu.Unlock()
	eventually(t, "all 10 events stored", func() (bool, string) {
		store.mu.Lock()
		defer store.mu.Unlock()
		return len(store.stored) == 10, fmt.Sprintf("%d stored", len(store.stored))
	})
}

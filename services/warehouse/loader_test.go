package warehouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/warehouse"
)

// pushableSchemas is the registry as the loader sees it: it knows the
// first set until the test pushes the second, and may be unreachable.
type pushableSchemas struct {
	mu          sync.Mutex
	current     *warehouse.FileSchemas
	next        *warehouse.FileSchemas
	unreachable bool
	refreshes   int
}

func (p *pushableSchemas) Event(name string) (uint32, []protoreflect.MessageDescriptor, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current.Event(name)
}

func (p *pushableSchemas) Refresh(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refreshes++
	if p.unreachable {
		return fmt.Errorf("registry unreachable")
	}
	if p.next != nil {
		p.current = p.next
	}
	return nil
}

// push makes the next set the registry's.
func (p *pushableSchemas) push(next *warehouse.FileSchemas) {
	p.mu.Lock()
	p.next = next
	p.unreachable = false
	p.mu.Unlock()
}

// loaderEnv is a bus, a database and a running loader.
type loaderEnv struct {
	bus     *bus.Bus
	pool    *pgxpool.Pool
	store   *warehouse.PostgresStore
	schemas *pushableSchemas
	v12     *warehouse.FileSchemas
	v123    *warehouse.FileSchemas
}

func newLoaderEnv(t testing.TB) *loaderEnv {
	t.Helper()
	pool, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := &loaderEnv{bus: bustest.New(t), pool: pool, store: warehouse.NewPostgresStore(pool),
		v12: fixtureSchemas(t, "v12"), v123: fixtureSchemas(t, "v123")}
	e.schemas = &pushableSchemas{current: e.v12}
	return e
}

// run runs a loader until the test ends.
func (e *loaderEnv) run(t *testing.T, cfg warehouse.LoaderConfig) *warehouse.Loader {
	t.Helper()
	if cfg.BatchWait == 0 {
		cfg.BatchWait = 50 * time.Millisecond
	}
	if cfg.RetryWait == 0 {
		cfg.RetryWait = 100 * time.Millisecond
	}
	l := warehouse.NewLoader(e.bus.JetStream(), e.schemas, e.store, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loader: %v", err)
		}
	})
	return l
}

var testReceived = time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)

// cartRecord is an EventRecord of the cart event version v with the payload
// given as protojson.
func cartRecord(t testing.TB, s *warehouse.FileSchemas, id string, v uint32, payload string) *busv1.EventRecord {
	t.Helper()
	name := fmt.Sprintf("fixture.v1.CartUpdatedV%d", v)
	_, versions, ok := s.Event(name)
	if !ok {
		t.Fatalf("no %s", name)
	}
	md := versions[v-1]
	msg := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(payload), msg); err != nil {
		t.Fatalf("payload of %s: %v", id, err)
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return &busv1.EventRecord{
		Id: id, EventId: 9101, EventVersion: v, EventName: name, Environment: "dev",
		Source: &busv1.Source{KeyId: "key-1", Protocol: busv1.Protocol_PROTOCOL_CONNECT}, UserId: "user-" + id,
		OccurredAt: timestamppb.New(testReceived.Add(-time.Minute)), ReceivedAt: timestamppb.New(testReceived),
		Payload: b,
	}
}

// publish puts records on EVENTS, each under msgID (or its id).
func (e *loaderEnv) publish(t testing.TB, recs ...*busv1.EventRecord) {
	t.Helper()
	var msgs []bus.Message
	for _, r := range recs {
		subject, err := bus.EventSubject(r.GetEnvironment(), "CartUpdated", r.GetEventVersion())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := proto.Marshal(r)
		msgs = append(msgs, bus.Message{Subject: subject, MsgID: r.GetId() + "-" + fmt.Sprint(time.Now().UnixNano()), Data: b})
	}
	res, err := e.bus.PublishAll(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// count is the number of rows of warehouse.cart_updated (0 before the table
// exists).
func (e *loaderEnv) count(t *testing.T, where string) int {
	t.Helper()
	var exists bool
	if err := e.pool.QueryRow(t.Context(), `SELECT to_regclass('warehouse.cart_updated') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0
	}
	var n int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM warehouse.cart_updated WHERE `+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func eventually(t testing.TB, what string, cond func() (bool, string)) {
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

func (e *loaderEnv) waitRows(t *testing.T, want int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d rows in warehouse.cart_updated", want), func() (bool, string) {
		n := e.count(t, "true")
		return n == want, fmt.Sprintf("%d rows", n)
	})
}

const cartV1 = `{
  "context": {"user_id": "u1", "geo": {"latitude": 55.75, "longitude": 37.62}, "platform": "PLATFORM_IOS", "occurred_at": "2026-03-04T10:29:00Z"},
  "cart_id": "c1", "status": "CART_STATUS_OPEN",
  "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}],
  "attributes": {"color": "red"},
  "updated_at": "2026-03-04T10:29:30.5Z",
  "email": "hashed-email-1",
  "total_minor": "18446744073709551615",
  "token": "AQID",
  "quantity": 3
}`

const cartV2 = `{
  "context": {"user_id": "u2", "platform": "PLATFORM_WEB"},
  "cart_id": "c2", "status": "CART_STATUS_PAID",
  "quantity": "5000000000",
  "coupon": "SPRING"
}`

const cartV3 = `{"context": {"user_id": "u3"}, "cart_id": "c3", "channel": "partner", "user_id": "inner",
  "attribution": {"a_campaign_name_long_enough_to_push_the_column_name_past_the_postgres_limit": "spring"}}`

// Events of two versions land in the cart table with each field in its
// column; a version pushed while the loader runs adds its columns before its
// first row, old rows keep NULL there; a second copy of an event on the
// stream (a replay) and a redelivery are stored once.
func TestLoaderTypedTableAcrossVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	e := newLoaderEnv(t)
	e.run(t, warehouse.LoaderConfig{})
	e.publish(t, cartRecord(t, e.v12, "e1", 1, cartV1), cartRecord(t, e.v12, "e2", 2, cartV2))
	e.waitRows(t, 2)

	type row struct {
		Version                 int32
		UserID, Protocol, KeyID string
		CtxUser                 string
		Lat                     *float64
		Platform, Status        *string
		CtxOccurred, Updated    *time.Time
		Items, Attributes       string
		Email, Total            *string
		Token                   []byte
		Quantity                *int32
		QuantityBig             *int64
		Coupon                  *string
		Seq                     int64
		Received                time.Time
	}
	get := func(id string) row {
		var r row
		err := e.pool.QueryRow(t.Context(), `
SELECT event_version, user_id, source_protocol, key_id, context_user_id, context_geo_latitude, context_platform, status,
       context_occurred_at, updated_at, items::text, attributes::text, email, total_minor::text, token, quantity, quantity_bigint, coupon,
       stream_sequence, received_at
FROM warehouse.cart_updated WHERE event_id = $1`, id).Scan(&r.Version, &r.UserID, &r.Protocol, &r.KeyID, &r.CtxUser, &r.Lat, &r.Platform, &r.Status,
			&r.CtxOccurred, &r.Updated, &r.Items, &r.Attributes, &r.Email, &r.Total, &r.Token, &r.Quantity, &r.QuantityBig, &r.Coupon, &r.Seq, &r.Received)
		if err != nil {
			t.Fatalf("row %s: %v", id, err)
		}
		return r
	}
	r1 := get("e1")
	check := func(what string, got, want any) {
		t.Helper()
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%s = %s, want %s", what, gb, wb)
		}
	}
	check("e1 version", r1.Version, 1)
	check("e1 user_id", r1.UserID, "user-e1")
	check("e1 source_protocol", r1.Protocol, "connect")
	check("e1 key_id", r1.KeyID, "key-1")
	check("e1 context_user_id", r1.CtxUser, "u1")
	check("e1 context_geo_latitude", r1.Lat, 55.75)
	check("e1 context_platform", r1.Platform, "PLATFORM_IOS")
	check("e1 status", r1.Status, "CART_STATUS_OPEN")
	check("e1 context_occurred_at", r1.CtxOccurred.UTC(), time.Date(2026, 3, 4, 10, 29, 0, 0, time.UTC))
	check("e1 updated_at", r1.Updated.UTC(), time.Date(2026, 3, 4, 10, 29, 30, 500_000_000, time.UTC))
	check("e1 items", r1.Items, `[{"qty": 2, "sku": "a"}, {"qty": 1, "sku": "b"}]`)
	check("e1 attributes", r1.Attributes, `{"color": "red"}`)
	check("e1 email (pii: as published)", r1.Email, "hashed-email-1")
	check("e1 total_minor (uint64 as numeric)", r1.Total, "18446744073709551615")
	check("e1 token", r1.Token, []byte{1, 2, 3})
	check("e1 quantity (int32 in v1)", r1.Quantity, 3)
	check("e1 quantity_bigint (NULL: v1 has no int64 quantity)", r1.QuantityBig, nil)
	check("e1 coupon (NULL: not in v1)", r1.Coupon, nil)
	check("e1 received_at", r1.Received.UTC(), testReceived)
	r2 := get("e2")
	check("e2 version", r2.Version, 2)
	check("e2 quantity (v2 quantity is int64: its own column)", r2.Quantity, nil)
	check("e2 quantity_bigint", r2.QuantityBig, 5000000000)
	check("e2 coupon", r2.Coupon, "SPRING")
	check("e2 context_geo_latitude (no geo)", r2.Lat, nil)
	check("e2 items (none)", r2.Items, `[]`)

	// Version 3 reaches the stream before the loader's schemas know it: it
	// waits (neither stored nor dropped) until the registry has it.
	e.publish(t, cartRecord(t, e.v123, "e3", 3, cartV3))
	time.Sleep(500 * time.Millisecond)
	if n := e.count(t, "true"); n != 2 {
		t.Fatalf("%d rows before version 3 is pushed, want 2", n)
	}
	var hasChannel bool
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) > 0 FROM information_schema.columns WHERE table_schema = 'warehouse' AND table_name = 'cart_updated' AND column_name = 'channel'`).Scan(&hasChannel); err != nil || hasChannel {
		t.Fatalf("column channel exists before version 3 is pushed (%v)", err)
	}
	e.schemas.push(e.v123)
	e.waitRows(t, 3)
	var channel, inner, long *string
	if err := e.pool.QueryRow(t.Context(), `SELECT channel, user_id_2, attribution_a_campaign_name_long_enough_to_push_the_co_`+longSuffix(t)+` FROM warehouse.cart_updated WHERE event_id = 'e3'`).Scan(&channel, &inner, &long); err != nil {
		t.Fatal(err)
	}
	check("e3 channel", channel, "partner")
	check("e3 user_id_2 (the field user_id, beside the envelope's)", inner, "inner")
	check("e3 long column", long, "spring")
	if n := e.count(t, "channel IS NULL"); n != 2 {
		t.Errorf("%d rows with channel NULL, want the 2 written before version 3", n)
	}
	var comment string
	if err := e.pool.QueryRow(t.Context(), `SELECT col_description('warehouse.cart_updated'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'warehouse.cart_updated'::regclass AND attname = 'channel'))`).Scan(&comment); err != nil {
		t.Fatal(err)
	}
	check("comment on channel", comment, "The sales channel: web, app, partner.")

	// The same events again on the stream (a replay) are stored once.
	e.publish(t, cartRecord(t, e.v12, "e1", 1, cartV1), cartRecord(t, e.v12, "e2", 2, cartV2), cartRecord(t, e.v123, "e4", 3, cartV3))
	e.waitRows(t, 4)
	time.Sleep(300 * time.Millisecond)
	if n := e.count(t, "true"); n != 4 {
		t.Errorf("%d rows after replaying e1 and e2 with a new e4, want 4", n)
	}
	var partitions int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_inherits WHERE inhparent = 'warehouse.cart_updated'::regclass`).Scan(&partitions); err != nil {
		t.Fatal(err)
	}
	t.Logf("rows: 4 stored of 7 on the stream (3 replays skipped), partitions: %d", partitions)
	if partitions != 1 {
		t.Errorf("%d partitions, want 1 (one UTC day)", partitions)
	}
}

func longSuffix(t *testing.T) string {
	id := warehouse.Identifier("attribution_a_campaign_name_long_enough_to_push_the_column_name_past_the_postgres_limit")
	return id[len(id)-8:]
}

// A batch written twice (a crash between the commit and the ack) is stored
// once.
func TestWriteRowsTwiceStoresOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	e := newLoaderEnv(t)
	e.run(t, warehouse.LoaderConfig{})
	e.publish(t, cartRecord(t, e.v12, "e1", 1, cartV1))
	e.waitRows(t, 1)
	// A second loader under another durable name reads the whole stream
	// again: everything it writes is there already.
	l := e.run(t, warehouse.LoaderConfig{Durable: "second"})
	eventually(t, "the second loader wrote its batch", func() (bool, string) {
		return l.Stored() == 1, fmt.Sprintf("%d written", l.Stored())
	})
	if n := e.count(t, "true"); n != 1 {
		t.Errorf("%d rows after a second delivery, want 1", n)
	}
}

// An event whose version cannot be decoded while the registry is
// unreachable waits and is stored once the registry answers.
func TestLoaderWaitsForUnreachableRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	e := newLoaderEnv(t)
	e.schemas.current = &warehouse.FileSchemas{}
	e.schemas.unreachable = true
	e.run(t, warehouse.LoaderConfig{})
	e.publish(t, cartRecord(t, e.v12, "e1", 1, cartV1))
	eventually(t, "the loader asked the registry again", func() (bool, string) {
		e.schemas.mu.Lock()
		defer e.schemas.mu.Unlock()
		return e.schemas.refreshes >= 3, fmt.Sprintf("%d refreshes", e.schemas.refreshes)
	})
	if n := e.count(t, "true"); n != 0 {
		t.Fatalf("%d rows while the registry is unreachable, want 0", n)
	}
	e.schemas.push(e.v12)
	e.waitRows(t, 1)
}

// Retention drops the whole daily partitions older than the cutoff and
// keeps the others with their rows.
func TestDropPartitionsBefore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	e := newLoaderEnv(t)
	e.run(t, warehouse.LoaderConfig{})
	old, recent := cartRecord(t, e.v12, "old", 1, cartV1), cartRecord(t, e.v12, "recent", 1, cartV1)
	recent.ReceivedAt = timestamppb.New(testReceived.AddDate(0, 0, 1))
	e.publish(t, old, recent)
	e.waitRows(t, 2)
	dropped, err := e.store.DropPartitionsBefore(t.Context(), testReceived.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dropped %v", dropped)
	if len(dropped) != 1 || dropped[0] != "cart_updated_p20260304" {
		t.Errorf("dropped %v, want [cart_updated_p20260304]", dropped)
	}
	if n := e.count(t, "true"); n != 1 || e.count(t, "event_id = 'recent'") != 1 {
		t.Errorf("%d rows left, want the recent one", n)
	}
}

package platform_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/platform"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// cartCatalogue is a catalogue of the cart event of testdata/warehouse
// ("v12": versions 1 and 2; "v123": all three) with the files it imports
// from the repository's proto tree.
func cartCatalogue(t *testing.T, dir string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	for _, name := range []string{"clickstream/options/v1/options.proto", "clickstream/events/v1/context.proto"} {
		b, err := fs.ReadFile(protosrc.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		m[name] = &fstest.MapFile{Data: b}
	}
	b, err := os.ReadFile("testdata/warehouse/fixture/v1/cart.proto")
	if err != nil {
		t.Fatal(err)
	}
	if dir == "v12" {
		// Versions 1 and 2: the file up to what it adds for version 3.
		b, _, _ = bytes.Cut(b, []byte("\n// Version 3 (the tests leave out what follows"))
	}
	m["fixture/v1/cart.proto"] = &fstest.MapFile{Data: b}
	return m
}

// cartEvent is an ingest event of the cart message version v of set, its
// payload given as protojson.
func cartEvent(t *testing.T, set *schema.Set, key string, v int, payload string) *ingestv1.Event {
	t.Helper()
	files, err := protodesc.NewFiles(set.FileDescriptorSet())
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(fmt.Sprintf("fixture.v1.CartUpdatedV%d", v)))
	if err != nil {
		t.Fatal(err)
	}
	msg := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
	if err := protojson.Unmarshal([]byte(payload), msg); err != nil {
		t.Fatalf("payload of %s: %v", key, err)
	}
	return harness.TypedEvent(key, msg)
}

// Events of two versions of one event (nested, enum, repeated, map,
// timestamp and pii fields) sent through ingest land in the event's typed
// table with each value in its column; a version pushed to the registry
// while the loader runs adds its column, filled for new rows and NULL for the
// old ones; the hourly report counts from the typed table.
func TestWarehouseTypedTablesThroughIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	ctx := context.Background()
	v12, err := schema.Compile(ctx, cartCatalogue(t, "v12"))
	if err != nil {
		t.Fatal(err)
	}
	v123, err := schema.Compile(ctx, cartCatalogue(t, "v123"))
	if err != nil {
		t.Fatal(err)
	}
	s := harness.StartStack(t, platform.Config{
		DataDir:    harness.DataDir(t),
		Services:   []string{platform.Registry, platform.Ingest},
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0", platform.Ingest: "127.0.0.1:0"},
		AdminToken: testAdminToken,
		Catalogue:  cartCatalogue(t, "v12"),
		Ingest:     ingest.Config{PIISecret: testPIISecret},
	})
	pool, err := postgres.Open(ctx, s.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	url := s.URL(platform.Ingest)
	send := func(ev *ingestv1.Event) {
		t.Helper()
		if r := sendOne(t, url, s.IngestKey(), ev); r.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("%s: %v", ev.GetIdempotencyKey(), r)
		}
	}
	send(cartEvent(t, v12, "cart-1", 1, `{"context": {"user_id": "u1", "geo": {"latitude": 55.75}, "platform": "PLATFORM_IOS"},
		"cart_id": "c1", "status": "CART_STATUS_OPEN", "items": [{"sku": "a", "qty": 2}], "attributes": {"color": "red"},
		"updated_at": "2026-03-04T10:29:30Z", "email": "a@example.com"}`))
	send(cartEvent(t, v12, "cart-2", 2, `{"context": {"user_id": "u2", "platform": "PLATFORM_WEB"}, "cart_id": "c2",
		"status": "CART_STATUS_PAID", "coupon": "SPRING"}`))
	waitTableRows(t, pool, "warehouse.cart_updated", 2)

	var (
		version              int32
		ctxUser, platformV   string
		lat                  *float64
		status, email, items string
		attrs                string
		updated              time.Time
		coupon               *string
	)
	if err := pool.QueryRow(ctx, `SELECT event_version, context_user_id, context_geo_latitude, context_platform, status, items::text,
	attributes::text, updated_at, email, coupon FROM warehouse.cart_updated WHERE event_id = 'cart-1'`).Scan(
		&version, &ctxUser, &lat, &platformV, &status, &items, &attrs, &updated, &email, &coupon); err != nil {
		t.Fatal(err)
	}
	wantEmail := ingest.NewPIIHasher([]byte(testPIISecret), nil).HashString("a@example.com")
	for what, c := range map[string][2]any{
		"event_version":        {version, int32(1)},
		"context_user_id":      {ctxUser, "u1"},
		"context_geo_latitude": {*lat, 55.75},
		"context_platform":     {platformV, "PLATFORM_IOS"},
		"status":               {status, "CART_STATUS_OPEN"},
		"items":                {items, `[{"qty": 2, "sku": "a"}]`},
		"attributes":           {attrs, `{"color": "red"}`},
		"updated_at":           {updated.UTC(), time.Date(2026, 3, 4, 10, 29, 30, 0, time.UTC)},
		"email (pii, hashed)":  {email, wantEmail},
		"coupon (not in v1)":   {coupon == nil, true},
	} {
		if c[0] != c[1] {
			t.Errorf("cart-1 %s = %v, want %v", what, c[0], c[1])
		}
	}
	if err := pool.QueryRow(ctx, `SELECT event_version, coupon FROM warehouse.cart_updated WHERE event_id = 'cart-2'`).Scan(&version, &coupon); err != nil {
		t.Fatal(err)
	}
	if version != 2 || coupon == nil || *coupon != "SPRING" {
		t.Errorf("cart-2: version %d coupon %v, want 2 and SPRING", version, coupon)
	}

	// Version 3 is pushed while the loader runs.
	regAdmin := registryv1connect.NewRegistryAdminServiceClient(harness.BearerClient(testAdminToken), s.URL(platform.Registry))
	pushed, err := regAdmin.PushSchemas(ctx, &registryv1.PushSchemasRequest{FileDescriptorSet: v123.FileDescriptorSet(), Author: "test", Message: "cart v3"})
	if err != nil {
		t.Fatalf("push version 3: %v", err)
	}
	if _, err := regAdmin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: "dev", EventId: 9101, Version: 3, Allowed: true, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	awaitCatalogue(t, s, registryRevision(t, s))
	send(cartEvent(t, v123, "cart-3", 3, `{"context": {"user_id": "u3"}, "cart_id": "c3", "channel": "partner"}`))
	waitTableRows(t, pool, "warehouse.cart_updated", 3)
	var filled, null int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE channel = 'partner'), count(*) FILTER (WHERE channel IS NULL) FROM warehouse.cart_updated`).Scan(&filled, &null); err != nil {
		t.Fatal(err)
	}
	t.Logf("after pushing version 3 (added %v): channel filled in %d row(s), NULL in %d", pushed.GetAdded(), filled, null)
	if filled != 1 || null != 2 {
		t.Errorf("channel filled in %d rows and NULL in %d, want 1 (version 3) and 2 (versions 1 and 2)", filled, null)
	}

	admin := ingestv1connect.NewIngestAdminServiceClient(harness.BearerClient(testAdminToken), url)
	resp, err := admin.GetHourlyCounts(ctx, &ingestv1.GetHourlyCountsRequest{
		From: timestamppb.New(time.Now().Add(-time.Hour)), To: timestamppb.New(time.Now().Add(time.Hour)), EventId: 9101})
	if err != nil {
		t.Fatal(err)
	}
	byVersion := map[uint32]int64{}
	for _, c := range resp.GetCounts() {
		byVersion[c.GetVersion()] += c.GetCount()
		if want := fmt.Sprintf("fixture.v1.CartUpdatedV%d", c.GetVersion()); c.GetEventName() != want {
			t.Errorf("report names %q, want %q", c.GetEventName(), want)
		}
	}
	if byVersion[1] != 1 || byVersion[2] != 1 || byVersion[3] != 1 {
		t.Errorf("hourly counts by version %v, want one of each of 1, 2, 3", byVersion)
	}

	// The console's event page shows the table and its recent rows (REST,
	// admin token).
	var sample ingestv1.GetWarehouseSampleResponse
	restJSONAuth(t, testAdminToken, "GET", url+"/v1/admin/events/9101/warehouse?limit=2", "", http.StatusOK, &sample)
	col := map[string]int{}
	for i, c := range sample.GetColumns() {
		col[c] = i
	}
	t.Logf("sample of %s: %d of %d rows, %d columns", sample.GetTable(), len(sample.GetRows()), sample.GetTotalRows(), len(sample.GetColumns()))
	if sample.GetTable() != "warehouse.cart_updated" || sample.GetTotalRows() != 3 || len(sample.GetRows()) != 2 {
		t.Fatalf("sample: table %q, %d rows of %d, want warehouse.cart_updated, 2 of 3", sample.GetTable(), len(sample.GetRows()), sample.GetTotalRows())
	}
	newest := sample.GetRows()[0].GetValues()
	if newest[col["event_id"]].GetStringValue() != "cart-3" || newest[col["channel"]].GetStringValue() != "partner" {
		t.Errorf("newest sample row: event_id %v channel %v, want cart-3 and partner", newest[col["event_id"]], newest[col["channel"]])
	}
	if _, isNull := sample.GetRows()[1].GetValues()[col["channel"]].GetKind().(*structpb.Value_NullValue); !isNull {
		t.Errorf("older sample row: channel %v, want null", sample.GetRows()[1].GetValues()[col["channel"]])
	}
	restJSONAuth(t, testAdminToken, "GET", url+"/v1/admin/events/4242/warehouse", "", http.StatusNotFound, nil)
	restJSONAuth(t, "", "GET", url+"/v1/admin/events/9101/warehouse", "", http.StatusUnauthorized, nil)
}

// waitTableRows waits until table has want rows.
func waitTableRows(t *testing.T, pool *pgxpool.Pool, table string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n)
		if err == nil && n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d rows (%v), want %d", table, n, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package warehouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/services/warehouse"
)

// duckDB runs sql in DuckDB through its Node package (tools/npm) and
// returns the rows. Without node or the package the test skips, and fails
// under CI.
func duckDB(t *testing.T, sql string) []map[string]any {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed (CI is set): apt-get install nodejs")
		}
		t.Skip("node is not installed, so the lake is not read with DuckDB")
	}
	modules, err := filepath.Abs(filepath.Join("..", "..", "tools", "npm", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "@duckdb", "node-api")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the npm @duckdb/node-api package is not installed (CI is set): run npm ci --prefix tools/npm")
		}
		t.Skip("the npm @duckdb/node-api package is not installed, so the lake is not read with DuckDB: run npm ci --prefix tools/npm")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "duckdb_query.js"), sql)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("duckdb output: %v\n%.500s", err, out)
	}
	return rows
}

// lakeWorkload is n cart events: versions 1 and 2 alternating, over two
// UTC days, every field varying with i.
func lakeWorkload(t testing.TB, e *loaderEnv, n int) []*busv1.EventRecord {
	t.Helper()
	recs := make([]*busv1.EventRecord, n)
	statuses := []string{"CART_STATUS_UNSPECIFIED", "CART_STATUS_OPEN", "CART_STATUS_PAID"}
	for i := range n {
		v := uint32(1 + i%2)
		var payload string
		if v == 1 {
			payload = fmt.Sprintf(`{"context": {"user_id": "u%d", "geo": {"latitude": %d.25}, "platform": "PLATFORM_IOS"},
				"cart_id": "c%d", "status": %q, "items": [{"sku": "s%d", "qty": %d}], "attributes": {"k": "v%d"},
				"updated_at": "2026-03-04T10:%02d:%02d.123456Z", "email": "h%d", "total_minor": "%d", "token": "AQI=", "quantity": %d}`,
				i%97, i%90, i, statuses[i%3], i, i%7, i, i%60, i%60, i, uint64(18446744073709551615)-uint64(i), i)
		} else {
			payload = fmt.Sprintf(`{"context": {"user_id": "u%d", "platform": "PLATFORM_WEB"}, "cart_id": "c%d", "status": %q,
				"quantity": "%d", "coupon": "K%d"}`, i%97, i, statuses[i%3], int64(i)*1_000_000_000, i%5)
		}
		r := cartRecord(t, e.v12, fmt.Sprintf("lake-%05d", i), v, payload)
		if i%2 == 1 {
			r.ReceivedAt.Seconds += 24 * 3600 // the next UTC day
		}
		recs[i] = r
	}
	return recs
}

// runUntil runs a loader until done says so, then stops it (a clean stop:
// its lake writes what it buffered).
func runUntil(t *testing.T, e *loaderEnv, cfg warehouse.LoaderConfig, done func(l *warehouse.Loader) (bool, string)) {
	t.Helper()
	cfg.BatchWait, cfg.RetryWait = 50*time.Millisecond, 100*time.Millisecond
	l := warehouse.NewLoader(e.bus.JetStream(), e.schemas, e.store, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- l.Run(ctx) }()
	eventually(t, "loader "+cfg.Durable, func() (bool, string) { return done(l) })
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// The lake read by DuckDB (through its Node package) holds the same events
// with the same values as the PostgreSQL table, for 10,000 events over two
// versions and two days; a second full delivery of the stream (another
// consumer reading it from the start into the same lake) adds no row.
func TestLakeMatchesTableReadByDuckDB(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 10,000 events")
	}
	const n = 10_000
	e := newLoaderEnv(t)
	dir := t.TempDir()
	recs := lakeWorkload(t, e, n)
	for i := 0; i < n; i += 1000 {
		e.publish(t, recs[i:i+1000]...)
	}
	lake, err := warehouse.OpenLake(warehouse.LakeConfig{Dir: dir, FileSequences: 3000, FlushEvents: 2000, FlushAge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, e, warehouse.LoaderConfig{Durable: "first", BatchSize: 500, Lake: lake}, func(*warehouse.Loader) (bool, string) {
		return lake.Written() == n, fmt.Sprintf("%d rows in the lake", lake.Written())
	})
	replay, err := warehouse.OpenLake(warehouse.LakeConfig{Dir: dir, FileSequences: 3000, FlushEvents: 2000, FlushAge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, e, warehouse.LoaderConfig{Durable: "replay", BatchSize: 500, Lake: replay}, func(l *warehouse.Loader) (bool, string) {
		return l.Stored() == n, fmt.Sprintf("%d events delivered again", l.Stored())
	})
	if w := replay.Written(); w != 0 {
		t.Errorf("the second delivery wrote %d rows to the lake, want 0", w)
	}
	if c := e.count(t, "true"); c != n {
		t.Fatalf("%d rows in warehouse.cart_updated, want %d", c, n)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "event=cart_updated", "date=*", "seq-*.parquet"))
	temps, _ := filepath.Glob(filepath.Join(dir, "event=cart_updated", "date=*", "*.tmp"))
	if len(temps) != 0 {
		t.Errorf("temporary files left: %v", temps)
	}

	parquet := filepath.ToSlash(filepath.Join(dir, "**", "*.parquet"))
	counts := duckDB(t, fmt.Sprintf(`SELECT count(*) AS rows, count(DISTINCT stream_sequence) AS sequences, count(DISTINCT event_id) AS ids,
		count(DISTINCT "date") AS days, min("event") AS event FROM read_parquet('%s', hive_partitioning = true)`, parquet))
	t.Logf("PostgreSQL: %d rows; lake: %v in %d files", n, counts[0], len(files))
	if c := counts[0]; fmt.Sprint(c["rows"]) != fmt.Sprint(n) || fmt.Sprint(c["sequences"]) != fmt.Sprint(n) || fmt.Sprint(c["ids"]) != fmt.Sprint(n) ||
		fmt.Sprint(c["days"]) != "2" || c["event"] != "cart_updated" {
		t.Fatalf("lake counts %v, want %d rows, sequences and ids over 2 days of event cart_updated", c, n)
	}

	// Every value, row by row: the same text from both engines (JSON
	// columns compared as JSON).
	const missing = "∅"
	pgRows, err := e.pool.Query(t.Context(), `
SELECT event_id, event_version::text, environment, user_id, (extract(epoch FROM received_at) * 1000000)::bigint::text, stream_sequence::text,
  coalesce(context_user_id, '∅'), coalesce(context_geo_latitude::text, '∅'), coalesce(context_platform, '∅'), coalesce(status, '∅'),
  coalesce(items::text, '∅'), coalesce(attributes::text, '∅'), coalesce((extract(epoch FROM updated_at) * 1000000)::bigint::text, '∅'),
  coalesce(email, '∅'), coalesce(total_minor::text, '∅'), coalesce(encode(token, 'hex'), '∅'), coalesce(quantity::text, '∅'),
  coalesce(quantity_bigint::text, '∅'), coalesce(coupon, '∅')
FROM warehouse.cart_updated ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]string
	for pgRows.Next() {
		vals := make([]string, 19)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := pgRows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		want = append(want, vals)
	}
	if err := pgRows.Err(); err != nil {
		t.Fatal(err)
	}
	cols := []string{"event_id", "CAST(event_version AS VARCHAR)", "environment", "user_id", "CAST(epoch_us(received_at) AS VARCHAR)",
		"CAST(stream_sequence AS VARCHAR)", "context_user_id", "CAST(context_geo_latitude AS VARCHAR)", "context_platform", "status",
		"CAST(items AS VARCHAR)", "CAST(attributes AS VARCHAR)", "CAST(epoch_us(updated_at) AS VARCHAR)", "email",
		"CAST(total_minor AS VARCHAR)", "lower(hex(token))", "CAST(quantity AS VARCHAR)", "CAST(quantity_bigint AS VARCHAR)", "coupon"}
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = fmt.Sprintf("coalesce(%s, '%s') AS c%02d", c, missing, i)
	}
	got := duckDB(t, fmt.Sprintf(`SELECT %s FROM read_parquet('%s') ORDER BY event_id`, strings.Join(sel, ", "), parquet))
	if len(got) != len(want) {
		t.Fatalf("DuckDB returned %d rows, PostgreSQL %d", len(got), len(want))
	}
	mismatches := 0
	for i, w := range want {
		for j := range cols {
			g := fmt.Sprint(got[i][fmt.Sprintf("c%02d", j)])
			if g == w[j] || ((j == 10 || j == 11) && sameJSON(g, w[j])) {
				continue
			}
			if mismatches++; mismatches <= 10 {
				t.Errorf("event %s column %s: lake %q, table %q", w[0], cols[j], g, w[j])
			}
		}
	}
	t.Logf("compared %d rows × %d columns: %d mismatches", len(want), len(cols), mismatches)
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// lakeOfDays writes one cart event per day, for days days from
// testReceived on, to a lake in dir.
func lakeOfDays(t *testing.T, dir string, days int) {
	t.Helper()
	v12 := fixtureSchemas(t, "v12")
	table := warehouse.NewTable(9101, "CartUpdated", cartVersions(t, v12))
	lake, err := warehouse.OpenLake(warehouse.LakeConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]warehouse.Row, days)
	for i := range rows {
		rec := cartRecord(t, v12, fmt.Sprintf("day-%d", i), 1, cartV1)
		rec.ReceivedAt = timestamppb.New(testReceived.AddDate(0, 0, i))
		if rows[i], err = table.DecodeRow(rec, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	lake.Add(rows, nil)
	if err := lake.FlushDue(true); err != nil {
		t.Fatal(err)
	}
}

// lakeDays lists the date= directories of the cart table in the lake.
func lakeDays(t *testing.T, dir string) []string {
	t.Helper()
	days, err := filepath.Glob(filepath.Join(dir, "event=cart_updated", "date=*"))
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range days {
		days[i] = filepath.Base(d)
	}
	return days
}

// Lake retention removes the date= directories whose whole UTC day is
// older than the cutoff, the days the tables' retention drops, and keeps
// the others with their files.
func TestLakeDropDaysBefore(t *testing.T) {
	dir := t.TempDir()
	lakeOfDays(t, dir, 3) // 2026-03-04, 05 and 06
	lake, err := warehouse.OpenLake(warehouse.LakeConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// A cutoff inside 2026-03-05 drops only 2026-03-04, which ended before it.
	dropped, err := lake.DropDaysBefore(testReceived.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dropped %v; left %v", dropped, lakeDays(t, dir))
	if want := []string{filepath.Join("event=cart_updated", "date=2026-03-04")}; !slices.Equal(dropped, want) {
		t.Errorf("dropped %v, want %v", dropped, want)
	}
	if got, want := lakeDays(t, dir), []string{"date=2026-03-05", "date=2026-03-06"}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	// A cutoff at the very end of 2026-03-05 drops it too; 2026-03-06 stays
	// with its file.
	if _, err := lake.DropDaysBefore(time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "event=cart_updated", "date=*", "*.parquet"))
	if got := lakeDays(t, dir); !slices.Equal(got, []string{"date=2026-03-06"}) || len(files) != 1 {
		t.Errorf("left %v with files %v, want date=2026-03-06 with its file", got, files)
	}
	// Whatever is not a day of an event is left alone.
	stray := filepath.Join(dir, "event=cart_updated", "date=not-a-day")
	if err := os.MkdirAll(stray, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := lake.DropDaysBefore(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if got := lakeDays(t, dir); !slices.Equal(got, []string{"date=not-a-day"}) {
		t.Errorf("after a cutoff past every day: %v, want only date=not-a-day", got)
	}
}

// docSQL is the sql code block that follows heading in docs/warehouse.md,
// with DIR replaced by dir.
func docSQL(t *testing.T, heading, dir string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "warehouse.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/warehouse.md has no heading %q", heading)
	}
	_, query, ok := strings.Cut(section, "```sql\n")
	query, _, ok2 := strings.Cut(query, "```")
	if !ok || !ok2 {
		t.Fatalf("docs/warehouse.md has no sql block under %q", heading)
	}
	return strings.ReplaceAll(query, "DIR", filepath.ToSlash(dir))
}

// The DuckDB query of docs/warehouse.md, as written there, answers item
// views by day, referrer and platform from a lake of item views of both
// versions over two days.
func TestLakeDocQueryReadByDuckDB(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := (&eventsv1.ItemViewV1{}).ProtoReflect().Descriptor(), (&eventsv1.ItemViewV2{}).ProtoReflect().Descriptor()
	table := warehouse.NewTable(1001, "ItemView", []protoreflect.MessageDescriptor{v1, v2})
	views := []struct {
		referrer string
		platform eventsv1.Platform
		day      int
	}{
		{"search", eventsv1.Platform_PLATFORM_IOS, 0},
		{"search", eventsv1.Platform_PLATFORM_IOS, 0},
		{"feed", eventsv1.Platform_PLATFORM_ANDROID, 0},
		{"search", eventsv1.Platform_PLATFORM_IOS, 1},
	}
	var rows []warehouse.Row
	for i, v := range views {
		payload, err := proto.Marshal(&eventsv1.ItemViewV2{Context: &eventsv1.Context{UserId: "u", Platform: v.platform}, ItemId: int64(i + 1), Referrer: v.referrer})
		if err != nil {
			t.Fatal(err)
		}
		rec := &busv1.EventRecord{Id: fmt.Sprintf("view-%d", i), EventId: 1001, EventVersion: 2, EventName: "clickstream.events.v1.ItemViewV2",
			Environment: "web", ReceivedAt: timestamppb.New(testReceived.AddDate(0, 0, v.day)), Payload: payload}
		row, err := table.DecodeRow(rec, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	// A version 1 event (no referrer field): NULL referrer.
	payload, err := proto.Marshal(&eventsv1.ItemViewV1{ItemId: 9})
	if err != nil {
		t.Fatal(err)
	}
	row, err := table.DecodeRow(&busv1.EventRecord{Id: "view-v1", EventId: 1001, EventVersion: 1, EventName: "clickstream.events.v1.ItemViewV1",
		Environment: "web", ReceivedAt: timestamppb.New(testReceived.AddDate(0, 0, 1)), Payload: payload}, uint64(len(views)+1))
	if err != nil {
		t.Fatal(err)
	}
	rows = append(rows, row)
	lake, err := warehouse.OpenLake(warehouse.LakeConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	lake.Add(rows, nil)
	if err := lake.FlushDue(true); err != nil {
		t.Fatal(err)
	}

	query := docSQL(t, "DuckDB reads it directly:", dir)
	got := duckDB(t, query)
	var lines []string
	for _, r := range got {
		lines = append(lines, fmt.Sprintf("%v %v %v %v", r["date"], r["referrer"], r["context_platform"], r["views"]))
	}
	t.Logf("the documented DuckDB query:\n%s\nanswers:\n%s", query, strings.Join(lines, "\n"))
	want := []string{
		"2026-03-04 feed PLATFORM_ANDROID 1",
		"2026-03-04 search PLATFORM_IOS 2",
		"2026-03-05 search PLATFORM_IOS 1",
		"2026-03-05 <nil> <nil> 1",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("the documented DuckDB query answered\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

package faults_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/parquet-go/parquet-go"

	"github.com/clickstream-dev/clickstream/e2e/harness"
)

// TestSIGKILLWhileTheWarehouseLoads sends events through `clickstream dev`
// with the Parquet lake on and SIGKILLs the process while the loader
// writes the typed table and the lake files; after the restart every event
// on EVENTS is in warehouse.navigation_trip_finished once and in the lake
// once: table rows = Parquet rows = events on EVENTS.
func TestSIGKILLWhileTheWarehouseLoads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clickstream dev as a child process several times")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := harness.NewDev(t, binary)
	lakeDir := filepath.Join(d.DataDir, "lake")
	d.Args = []string{"--lake-dir", lakeDir, "--lake-flush-events", "500", "--lake-flush-age", "500ms", "--lake-file-sequences", "2000"}
	d.Start()
	apiKey := d.Secret("ingest-key")
	pool, err := pgxpool.New(ctx, d.Secret("database-url"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tableRows := func() int {
		var n int
		qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
		defer qcancel()
		if err := pool.QueryRow(qctx, `SELECT count(*) FROM warehouse.navigation_trip_finished`).Scan(&n); err != nil {
			return -1
		}
		return n
	}

	w := harness.Workload{N: 5000, Users: 17, UserPrefix: "whkill-user", Prefix: "whkill"}
	v := harness.NewSender(apiKey, harness.UntilAnswered(), d.IngestURL())
	killed := make(chan error, 1)
	go func() {
		killed <- func() error {
			for _, at := range []int{1500} {
				for tableRows() < at {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					time.Sleep(5 * time.Millisecond)
				}
				if err := d.Kill(); err != nil {
					return err
				}
				files, _ := filepath.Glob(filepath.Join(lakeDir, "*", "*", "*.parquet"))
				t.Logf("SIGKILL with at least %d rows in the table and %d lake files (%d events answered)", at, len(files), v.Answered.Load())
				if err := d.TryStart(); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	if err := v.SendAll(ctx, w, 100, 4); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := <-killed; err != nil {
		t.Fatalf("kill and restart: %v", err)
	}

	onEvents := 0
	events := map[string]int{}
	for id, n := range harness.StreamKeys(ctx, t, d.NATSURL(), "EVENTS", "") {
		if strings.HasPrefix(id, w.Prefix+"-") {
			events[id] = n
			onEvents += n
		}
	}
	harness.CheckOnce(t, "EVENTS", events)
	deadline := time.Now().Add(time.Minute)
	var rows, lakeRows int
	var lakeIDs map[string]int
	for {
		rows = tableRows()
		lakeIDs = readLake(t, lakeDir)
		lakeRows = 0
		for _, n := range lakeIDs {
			lakeRows += n
		}
		if (rows == onEvents && lakeRows == onEvents) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var distinct int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT event_id) FROM warehouse.navigation_trip_finished`).Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	t.Logf("EVENTS holds %d events; warehouse.navigation_trip_finished %d rows (%d distinct ids); the lake %d rows (%d distinct ids)",
		onEvents, rows, distinct, lakeRows, len(lakeIDs))
	if rows != onEvents || distinct != onEvents {
		t.Errorf("table rows %d (distinct %d), want %d (the events on EVENTS)", rows, distinct, onEvents)
	}
	if lakeRows != onEvents || len(lakeIDs) != onEvents {
		t.Errorf("lake rows %d (distinct ids %d), want %d", lakeRows, len(lakeIDs), onEvents)
	}
	var twice []string
	for id, n := range lakeIDs {
		if n > 1 {
			twice = append(twice, id)
		}
	}
	if len(twice) > 0 {
		t.Errorf("%d events twice in the lake, e.g. %v", len(twice), twice[:min(len(twice), 5)])
	}
	for id := range events {
		if lakeIDs[id] == 0 {
			t.Errorf("%s is on EVENTS but not in the lake", id)
			break
		}
	}
}

// readLake counts the event ids of every Parquet file of the navigation
// table in the lake, with parquet-go's reader.
func readLake(t *testing.T, dir string) map[string]int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "event=navigation_trip_finished", "date=*", "seq-*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r := parquet.NewGenericReader[struct {
			EventID string `parquet:"event_id,optional"`
		}](f)
		buf := make([]struct {
			EventID string `parquet:"event_id,optional"`
		}, 512)
		for {
			n, err := r.Read(buf)
			for _, row := range buf[:n] {
				ids[row.EventID]++
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read %s: %v", path, err)
			}
		}
		r.Close()
		f.Close()
	}
	return ids
}

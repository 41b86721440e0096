package warehouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/services/warehouse"
)

// BenchmarkLoader measures, on one workload of 20,000 cart events (two
// versions, every kind of field): the loader's events/s from EVENTS into
// the typed table (decode, staging COPY, INSERT … ON CONFLICT, ack) against
// a plain COPY of the same rows into the same table in the same run (the
// ratio's target is ≥ 0.5), and the Parquet lake writer's events/s on the
// same rows.
func BenchmarkLoader(b *testing.B) {
	const n = 20_000
	for range b.N {
		e := newLoaderEnv(b)
		recs := lakeWorkload(b, e, n)
		for i := 0; i < n; i += 1000 {
			e.publish(b, recs[i:i+1000]...)
		}

		// The loader, from the stream to committed rows.
		start := time.Now()
		l := warehouse.NewLoader(e.bus.JetStream(), e.schemas, e.store, warehouse.LoaderConfig{BatchWait: 20 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		for l.Stored() == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		// Steady state: from the first committed batch (the consumer,
		// the schemas and the table exist) to the last.
		first, warm := l.Stored(), time.Now()
		setup := warm.Sub(start)
		for l.Stored() < n {
			time.Sleep(100 * time.Microsecond)
		}
		loader := time.Since(warm)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}

		// A plain COPY of the same rows into the same (emptied) table.
		rows, err := e.pool.Query(b.Context(), `SELECT * FROM warehouse.cart_updated`)
		if err != nil {
			b.Fatal(err)
		}
		var cols []string
		for _, f := range rows.FieldDescriptions() {
			cols = append(cols, f.Name)
		}
		var values [][]any
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				b.Fatal(err)
			}
			values = append(values, v)
		}
		if rows.Err() != nil || len(values) != n {
			b.Fatalf("read back %d rows (%v), want %d", len(values), rows.Err(), n)
		}
		if _, err := e.pool.Exec(b.Context(), `TRUNCATE warehouse.cart_updated`); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		copied, err := e.pool.CopyFrom(b.Context(), pgx.Identifier{"warehouse", "cart_updated"}, cols, pgx.CopyFromRows(values))
		plain := time.Since(start)
		if err != nil || copied != n {
			b.Fatalf("plain COPY: %d rows, %v", copied, err)
		}

		// The lake writer alone on the same rows.
		_, versions, _ := e.v12.Event("fixture.v1.CartUpdatedV1")
		table := warehouse.NewTable(9101, "CartUpdated", versions)
		decoded := make([]warehouse.Row, n)
		for i, r := range recs {
			if decoded[i], err = table.DecodeRow(r, uint64(i+1)); err != nil {
				b.Fatal(err)
			}
		}
		lake, err := warehouse.OpenLake(warehouse.LakeConfig{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		lake.Add(decoded, nil)
		if err := lake.FlushDue(true); err != nil {
			b.Fatal(err)
		}
		parquetTime := time.Since(start)

		loaderRate, copyRate, lakeRate := float64(n-first)/loader.Seconds(), float64(n)/plain.Seconds(), float64(n)/parquetTime.Seconds()
		b.ReportMetric(loaderRate, "loader_events/s")
		b.ReportMetric(copyRate, "copy_events/s")
		b.ReportMetric(loaderRate/copyRate, "loader/copy")
		b.ReportMetric(lakeRate, "parquet_events/s")
		b.Logf("%d events: loader %.0f events/s (after a first batch of %d in %v: consumer, schemas, table), plain COPY %.0f events/s, ratio %.2f (target ≥ 0.5); Parquet writer %.0f events/s",
			n, loaderRate, first, setup.Round(time.Millisecond), copyRate, loaderRate/copyRate, lakeRate)
	}
}

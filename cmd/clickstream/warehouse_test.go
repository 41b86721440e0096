package main

import (
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/platform"
)

// `warehouse tables` lists the typed table an accepted event landed in, its
// row count and its columns.
func TestWarehouseTablesListsTablesColumnsAndCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	s := startIngest(t)
	lines := strings.Join(strings.Split(sendLines, "\n")[:4], "\n")
	if out, errOut, err := runCLIIn(t, lines, "send", "--ingest", s.URL(platform.Ingest), "--api-key", s.IngestKey()); err != nil {
		t.Fatalf("send: %v\n%s%s", err, out, errOut)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, errOut, err := runCLI(t, "warehouse", "tables", "--database-url", s.DatabaseURL())
		if err != nil {
			t.Fatalf("warehouse tables: %v\n%s", err, errOut)
		}
		if strings.Contains(out, "warehouse.item_view\tevent 1001 (ItemView)\t4 rows") {
			for _, want := range []string{"context_user_id", "referrer", "price_amount_minor", "received_at", "Id of the viewed item."} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			t.Logf("%s", out)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("warehouse.item_view with 4 rows not listed:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/internal/postgres"
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
			docQueryAnswers(t, s.DatabaseURL())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("warehouse.item_view with 4 rows not listed:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// docQueryAnswers runs the sample query of docs/warehouse.md ("item views by
// referrer and platform per day") against the four item views sendLines
// sent: one from the feed, three without a referrer.
func docQueryAnswers(t *testing.T, url string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "warehouse.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, reports, _ := strings.Cut(string(doc), "## Reports")
	_, query, ok := strings.Cut(reports, "```sql\n")
	query, _, ok2 := strings.Cut(query, "```")
	if !ok || !ok2 {
		t.Fatal("docs/warehouse.md has no sql block under ## Reports")
	}
	pool, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(t.Context(), query)
	if err != nil {
		t.Fatalf("the documented query fails: %v\n%s", err, query)
	}
	got := map[string]int64{}
	for rows.Next() {
		var (
			day                time.Time
			referrer, platform string
			views              int64
		)
		if err := rows.Scan(&day, &referrer, &platform, &views); err != nil {
			t.Fatal(err)
		}
		got[referrer+"/"+platform] += views
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("documented query: %v", got)
	if got["feed/PLATFORM_UNSPECIFIED"] != 1 || got["/PLATFORM_UNSPECIFIED"] != 3 {
		t.Errorf("documented query answered %v, want 1 view from the feed and 3 without a referrer", got)
	}
}

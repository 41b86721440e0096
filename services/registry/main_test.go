package registry_test

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry"
	"github.com/clickstream-dev/clickstream/services/registry/migrations"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, url string) error {
		return postgres.Migrate(ctx, url, migrations.Schema, migrations.FS)
	})
}

// newStore returns a store on a fresh, migrated database, and a pool on the
// same database for raw SQL.
func newStore(t *testing.T) (*registry.PostgresStore, *pgxpool.Pool) {
	t.Helper()
	pool, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return registry.NewPostgresStore(pool), pool
}

// registeredStore returns a store holding the repo's catalogue as revision 1.
func registeredStore(t *testing.T) (*registry.PostgresStore, *pgxpool.Pool) {
	t.Helper()
	store, pool := newStore(t)
	res, err := registry.RegisterSet(t.Context(), store, catalogue(t), "test", "starter catalogue")
	if err != nil {
		t.Fatalf("register the catalogue: %v", err)
	}
	if res.Revision != 1 {
		t.Fatalf("register the catalogue: revision %d, want 1", res.Revision)
	}
	return store, pool
}

// compiledCatalogue compiles the repo's catalogue once for the package.
var compiledCatalogue = sync.OnceValues(func() (*schema.Set, error) {
	return schema.Compile(context.Background(), protosrc.FS)
})

// catalogue returns the repo's compiled event catalogue.
func catalogue(t *testing.T) *schema.Set {
	t.Helper()
	set, err := compiledCatalogue()
	if err != nil {
		t.Fatalf("compile the catalogue: %v", err)
	}
	return set
}

// catalogueLock returns the repo's events.lock: what registering the
// catalogue must store.
func catalogueLock(t *testing.T) *schema.Lock {
	t.Helper()
	f, err := protosrc.FS.Open("events.lock")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lock, err := schema.ParseLock(f)
	if err != nil {
		t.Fatal(err)
	}
	return lock
}

// Edits of proto/clickstream/events/v1/place_card_opened.proto for catalogue
// variants.
const (
	placeCardFile = "clickstream/events/v1/place_card_opened.proto"

	placeCardOpenedV2 = `
// A user opened a place card; with the position of the card in the list.
message PlaceCardOpenedV2 {
  option (clickstream.options.v1.event) = {
    id: 2005
    version: 2
    description: "A user opened the card of a place; with its position in the list."
  };

  Context context = 1 [(clickstream.options.v1.field) = {required: true}];
  string object_id = 2 [(clickstream.options.v1.field) = {required: true}];
  string rubric = 3;
  string source = 4;
  int32 position = 5;
}
`
	placeCardOpenedV3 = `
message PlaceCardOpenedV3 {
  option (clickstream.options.v1.event) = {
    id: 2005
    version: 3
    description: "Skips version 2."
  };

  string object_id = 1;
}
`
)

// catalogueWith compiles the repo's catalogue with edit applied to the text
// of each file it names.
func catalogueWith(t *testing.T, edits map[string]func(string) string) *schema.Set {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(protosrc.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(protosrc.FS, p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range edits {
		f, ok := fsys[name]
		if !ok {
			t.Fatalf("catalogue has no file %s to edit", name)
		}
		f.Data = []byte(edit(string(f.Data)))
	}
	set, err := schema.Compile(t.Context(), fsys)
	if err != nil {
		t.Fatalf("compile the edited catalogue: %v", err)
	}
	return set
}

// appendText returns an edit that appends text to a file.
func appendText(text string) func(string) string {
	return func(s string) string { return s + text }
}

// replaceText returns an edit that replaces old by new once, and fails the
// test if old is not in the file.
func replaceText(t *testing.T, old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("edit: %q not found", old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

// count runs a SELECT count(*) query.
func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

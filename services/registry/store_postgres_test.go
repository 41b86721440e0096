package registry_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clickstream-dev/clickstream/services/registry"
)

func TestRegisterCatalogue(t *testing.T) {
	store, pool := newStore(t)
	lock := catalogueLock(t)
	if len(lock.Entries) != 13 {
		t.Fatalf("events.lock has %d versions, want 13", len(lock.Entries))
	}

	res, err := registry.RegisterSet(t.Context(), store, catalogue(t), "alice", "starter catalogue")
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 1 {
		t.Errorf("revision = %d, want 1", res.Revision)
	}
	var wantAdded []string
	for _, e := range lock.Entries {
		wantAdded = append(wantAdded, e.MessageName[strings.LastIndexByte(e.MessageName, '.')+1:])
	}
	if !slices.Equal(res.Added, wantAdded) {
		t.Errorf("added = %v, want %v", res.Added, wantAdded)
	}

	// What is stored is what the lock says, all in revision 1.
	events, revision, err := store.ListEvents(t.Context(), registry.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if revision != 1 {
		t.Errorf("ListEvents revision = %d, want 1", revision)
	}
	var stored []string
	for _, e := range events {
		for _, v := range e.Versions {
			stored = append(stored, fmt.Sprintf("%d %d %s %s", v.EventID, v.Version, v.MessageName, v.Fingerprint))
			if v.Revision != 1 || v.Status != registry.LifecycleActive || v.CreatedAt.IsZero() {
				t.Errorf("%s: revision %d, status %q, created %v; want 1, active, set", v.MessageName, v.Revision, v.Status, v.CreatedAt)
			}
		}
	}
	var locked []string
	for _, e := range lock.Entries {
		locked = append(locked, fmt.Sprintf("%d %d %s %s", e.ID, e.Version, e.MessageName, e.Fingerprint))
	}
	if !slices.Equal(stored, locked) {
		t.Errorf("stored versions:\n%s\nwant (events.lock):\n%s", strings.Join(stored, "\n"), strings.Join(locked, "\n"))
	}
	var author, message string
	var descriptorSet []byte
	if err := pool.QueryRow(t.Context(), `SELECT author, message, descriptor_set FROM registry.revisions WHERE revision = 1`).Scan(&author, &message, &descriptorSet); err != nil {
		t.Fatal(err)
	}
	if author != "alice" || message != "starter catalogue" || len(descriptorSet) == 0 {
		t.Errorf("revision 1: author %q, message %q, %d descriptor bytes; want alice, starter catalogue, some", author, message, len(descriptorSet))
	}

	// The same set again changes nothing.
	again, err := registry.RegisterSet(t.Context(), store, catalogue(t), "bob", "again")
	if err != nil {
		t.Fatal(err)
	}
	if again.Revision != 1 || len(again.Added) != 0 {
		t.Errorf("registering again: revision %d, added %v; want 1, nothing", again.Revision, again.Added)
	}
	if n := count(t, pool, `SELECT count(*) FROM registry.revisions`); n != 1 {
		t.Errorf("%d revisions after registering twice, want 1", n)
	}
}

func TestRegisterEmptyCatalogue(t *testing.T) {
	store, pool := newStore(t)
	res, err := store.Register(t.Context(), registry.Registration{Author: "a", Message: "nothing"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 0 || len(res.Added) != 0 {
		t.Errorf("empty registration: revision %d, added %v; want 0, nothing", res.Revision, res.Added)
	}
	if n := count(t, pool, `SELECT count(*) FROM registry.revisions`); n != 0 {
		t.Errorf("%d revisions after an empty registration, want 0", n)
	}
}

func TestRegisterNewVersion(t *testing.T) {
	store, _ := registeredStore(t)
	set := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV2)})

	res, err := registry.RegisterSet(t.Context(), store, set, "alice", "add PlaceCardOpenedV2")
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 2 || !slices.Equal(res.Added, []string{"PlaceCardOpenedV2"}) {
		t.Errorf("register: revision %d, added %v; want 2, [PlaceCardOpenedV2]", res.Revision, res.Added)
	}

	e, err := store.GetEvent(t.Context(), 2005)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range e.Versions {
		got = append(got, fmt.Sprintf("%s v%d r%d", v.MessageName, v.Version, v.Revision))
	}
	want := []string{
		"clickstream.events.v1.PlaceCardOpenedV1 v1 r1",
		"clickstream.events.v1.PlaceCardOpenedV2 v2 r2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("event 2005 versions = %v, want %v", got, want)
	}
	if want := "A user opened the card of a place; with its position in the list."; e.Description != want {
		t.Errorf("event 2005 description = %q, want the newest version's %q", e.Description, want)
	}

	_, revision, err := store.ListEvents(t.Context(), registry.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if revision != 2 {
		t.Errorf("ListEvents revision = %d, want 2", revision)
	}
}

func TestRegisterChangedVersionRefused(t *testing.T) {
	store, pool := registeredStore(t)
	// PlaceCardOpenedV1 gains a field: a published version changed. The set
	// also adds PlaceCardOpenedV2, which must not be stored either.
	set := catalogueWith(t, map[string]func(string) string{placeCardFile: func(s string) string {
		s = replaceText(t, "  string source = 4;\n}", "  string source = 4;\n  int32 zoom = 5;\n}")(s)
		return s + placeCardOpenedV2
	}})

	_, err := registry.RegisterSet(t.Context(), store, set, "alice", "change v1")
	var rejected *registry.RejectedError
	if !errors.As(err, &rejected) {
		t.Fatalf("register a changed version: error %v, want a *RejectedError", err)
	}
	if len(rejected.Violations) != 1 || rejected.Violations[0].Rule != "version-changed" {
		t.Errorf("violations = %v, want one version-changed", rejected.Violations)
	}
	for _, want := range []string{"PlaceCardOpenedV1 (event 2005 v1)", `field 5 "zoom" added (int32)`, "add PlaceCardOpenedV3 instead"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	assertUnchanged(t, store, pool)
}

func TestRegisterSetViolationsRefused(t *testing.T) {
	store, pool := registeredStore(t)
	// PlaceCardOpenedV3 without V2: the set itself is malformed.
	set := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV3)})

	_, err := registry.RegisterSet(t.Context(), store, set, "alice", "gap")
	var rejected *registry.RejectedError
	if !errors.As(err, &rejected) {
		t.Fatalf("register a set with a version gap: error %v, want a *RejectedError", err)
	}
	if !strings.Contains(err.Error(), "PlaceCardOpenedV3") || !strings.Contains(err.Error(), "version-gap") {
		t.Errorf("error %q does not name PlaceCardOpenedV3 and the version-gap rule", err)
	}
	assertUnchanged(t, store, pool)
}

// TestRegisterRefused feeds the store registrations the schema checks
// cannot catch because they depend on what is already registered. Each also
// carries a valid new version, to show that nothing of a refused
// registration is stored.
func TestRegisterRefused(t *testing.T) {
	valid := registry.NewVersion{
		EventID: 2005, Version: 2, EventName: "PlaceCardOpened",
		MessageName: "clickstream.events.v1.PlaceCardOpenedV2", Fingerprint: "sha256:valid",
	}
	itemViewV1 := catalogueLock(t).Entries[0]
	if itemViewV1.MessageName != "clickstream.events.v1.ItemViewV1" {
		t.Fatalf("events.lock starts with %s, want ItemViewV1", itemViewV1.MessageName)
	}
	tests := []struct {
		name    string
		version registry.NewVersion
		want    []string
	}{{
		name: "fingerprint changed",
		version: registry.NewVersion{
			EventID: 1001, Version: 1, EventName: "ItemView",
			MessageName: itemViewV1.MessageName, Fingerprint: "sha256:changed",
		},
		want: []string{"ItemViewV1 (event 1001 v1)", "immutable", "add ItemViewV3 instead"},
	}, {
		name: "message renamed",
		version: registry.NewVersion{
			EventID: 1001, Version: 1, EventName: "ItemView",
			MessageName: "clickstream.events.v2.ItemViewV1", Fingerprint: itemViewV1.Fingerprint,
		},
		want: []string{"ItemViewV1 (event 1001 v1)", "add ItemViewV3 instead"},
	}, {
		name: "version skipped",
		version: registry.NewVersion{
			EventID: 1001, Version: 4, EventName: "ItemView",
			MessageName: "clickstream.events.v1.ItemViewV4", Fingerprint: "sha256:v4",
		},
		want: []string{"ItemViewV4 (event 1001)", "version 4", "next version must be 3"},
	}, {
		name: "first version is not 1",
		version: registry.NewVersion{
			EventID: 4001, Version: 2, EventName: "Brand",
			MessageName: "clickstream.events.v1.BrandV2", Fingerprint: "sha256:b",
		},
		want: []string{"BrandV2 (event 4001)", "next version must be 1"},
	}, {
		name: "id registered under another name",
		version: registry.NewVersion{
			EventID: 1001, Version: 3, EventName: "ItemSeen",
			MessageName: "clickstream.events.v1.ItemSeenV3", Fingerprint: "sha256:seen",
		},
		want: []string{"ItemSeenV3", "event id 1001", `registered as "ItemView"`, "pick a new id"},
	}, {
		name: "name registered under another id",
		version: registry.NewVersion{
			EventID: 4002, Version: 1, EventName: "ItemView",
			MessageName: "clickstream.other.v1.ItemViewV1", Fingerprint: "sha256:other",
		},
		want: []string{"ItemViewV1", "event id 4002", `"ItemView" is registered as event 1001`},
	}, {
		name: "message name registered for another version",
		version: registry.NewVersion{
			EventID: 4003, Version: 1, EventName: "Brand",
			MessageName: "clickstream.events.v1.PaymentV1", Fingerprint: "sha256:pay",
		},
		want: []string{"PaymentV1 (event 4003 v1)", "already registered as event 1004 v1"},
	}, {
		name: "id beyond the column",
		version: registry.NewVersion{
			EventID: math.MaxInt32 + 1, Version: 1, EventName: "Huge",
			MessageName: "clickstream.events.v1.HugeV1", Fingerprint: "sha256:huge",
		},
		want: []string{"HugeV1 (event 2147483648 v1)", "go up to 2147483647"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store, pool := registeredStore(t)
			_, err := store.Register(t.Context(), registry.Registration{
				Author: "alice", Message: tt.name, DescriptorSet: []byte{}, Base: 1,
				Versions: []registry.NewVersion{valid, tt.version},
			})
			var conflict *registry.ConflictError
			if !errors.As(err, &conflict) {
				t.Fatalf("error %v, want a *ConflictError", err)
			}
			if len(conflict.Problems) != 1 {
				t.Errorf("problems = %q, want one", conflict.Problems)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			assertUnchanged(t, store, pool)
		})
	}
}

func TestRegisterListsEveryProblem(t *testing.T) {
	store, pool := registeredStore(t)
	_, err := store.Register(t.Context(), registry.Registration{
		Author: "alice", DescriptorSet: []byte{}, Base: 1,
		Versions: []registry.NewVersion{
			{EventID: 1001, Version: 1, EventName: "ItemView", MessageName: "clickstream.events.v1.ItemViewV1", Fingerprint: "sha256:x"},
			{EventID: 1002, Version: 3, EventName: "SearchQuery", MessageName: "clickstream.events.v1.SearchQueryV3", Fingerprint: "sha256:y"},
		},
	})
	var conflict *registry.ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("error %v, want a *ConflictError", err)
	}
	if len(conflict.Problems) != 2 {
		t.Errorf("problems = %q, want two: ItemViewV1 and SearchQueryV3", conflict.Problems)
	}
	assertUnchanged(t, store, pool)
}

func TestRegisterRefusesWhenTheCatalogueMoved(t *testing.T) {
	// A registration checked against an older push is refused, whatever it
	// holds: the push that landed since may contradict it.
	store, pool := registeredStore(t)
	_, err := store.Register(t.Context(), registry.Registration{
		Author: "alice", DescriptorSet: []byte{}, Base: 0,
		Versions: []registry.NewVersion{{EventID: 7, Version: 1, EventName: "Tap", MessageName: "x.TapV1", Fingerprint: "sha256:1"}},
	})
	if !errors.Is(err, registry.ErrCatalogueMoved) {
		t.Fatalf("error %v, want ErrCatalogueMoved", err)
	}
	assertUnchanged(t, store, pool)

	// A metadata revision does not move the catalogue's versions.
	if _, err := pool.Exec(t.Context(), `INSERT INTO registry.revisions (author, message, descriptor_set, kind) VALUES ('bob', 'access', '', 'metadata')`); err != nil {
		t.Fatal(err)
	}
	res, err := store.Register(t.Context(), registry.Registration{
		Author: "alice", DescriptorSet: []byte{}, Base: 1,
		Versions: []registry.NewVersion{{EventID: 7, Version: 1, EventName: "Tap", MessageName: "x.TapV1", Fingerprint: "sha256:1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 {
		t.Errorf("revision %d after a metadata revision 2, want 3", res.Revision)
	}
	revs, err := store.Revisions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if revs != (registry.Revisions{Current: 3, Push: 3}) {
		t.Errorf("revisions = %+v, want current 3, push 3", revs)
	}
}

func TestRegisterOrderOfVersions(t *testing.T) {
	// A registration lists its versions in any order: v2 before v1 of a new
	// event is still contiguous.
	store, _ := newStore(t)
	res, err := store.Register(t.Context(), registry.Registration{
		Author: "alice", DescriptorSet: []byte{},
		Versions: []registry.NewVersion{
			{EventID: 7, Version: 2, EventName: "Tap", MessageName: "x.TapV2", Fingerprint: "sha256:2"},
			{EventID: 7, Version: 1, EventName: "Tap", MessageName: "x.TapV1", Fingerprint: "sha256:1"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 1 || !slices.Equal(res.Added, []string{"TapV1", "TapV2"}) {
		t.Errorf("register: revision %d, added %v; want 1, [TapV1 TapV2]", res.Revision, res.Added)
	}
}

// assertUnchanged checks that the store still holds exactly the catalogue,
// as revision 1.
func assertUnchanged(t *testing.T, store registry.Store, pool *pgxpool.Pool) {
	t.Helper()
	_, revision, err := store.ListEvents(t.Context(), registry.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if revision != 1 {
		t.Errorf("revision = %d after a refused registration, want 1", revision)
	}
	if n := count(t, pool, `SELECT count(*) FROM registry.revisions`); n != 1 {
		t.Errorf("%d revisions after a refused registration, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM registry.event_versions`); n != 13 {
		t.Errorf("%d event versions after a refused registration, want 13", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM registry.events`); n != 11 {
		t.Errorf("%d events after a refused registration, want 11", n)
	}
}

func TestEventVersionsImmutable(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want string // in the error; "" when the statement is allowed
	}{
		{"change fingerprint", `UPDATE registry.event_versions SET fingerprint = 'sha256:other' WHERE event_id = 1001 AND version = 1`, "event version 1001 v1 is immutable"},
		{"rename message", `UPDATE registry.event_versions SET message_name = 'x.ItemViewV1' WHERE event_id = 1001 AND version = 1`, "event version 1001 v1 is immutable"},
		{"renumber version", `UPDATE registry.event_versions SET version = 3 WHERE event_id = 1001 AND version = 2`, "event version 1001 v2 is immutable"},
		{"move to another event", `UPDATE registry.event_versions SET event_id = 1002 WHERE event_id = 1001 AND version = 2`, "event version 1001 v2 is immutable"},
		{"delete", `DELETE FROM registry.event_versions WHERE event_id = 2001 AND version = 1`, "event version 2001 v1 cannot be deleted"},
		{"delete all", `DELETE FROM registry.event_versions`, "cannot be deleted"},
		{"truncate", `TRUNCATE registry.event_versions CASCADE`, "cannot be deleted"},
		{"deprecate", `UPDATE registry.event_versions SET status = 'deprecated' WHERE event_id = 1001 AND version = 1`, ""},
		{"edit description", `UPDATE registry.event_versions SET description = 'Better words.' WHERE event_id = 1001 AND version = 1`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, pool := registeredStore(t)
			_, err := pool.Exec(t.Context(), tt.sql)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("%s: %v, want it allowed", tt.sql, err)
				}
				return
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || !strings.Contains(pgErr.Message, tt.want) {
				t.Fatalf("%s: error %v, want a PostgreSQL error saying %q", tt.sql, err, tt.want)
			}
			if n := count(t, pool, `SELECT count(*) FROM registry.event_versions`); n != 13 {
				t.Errorf("%d event versions after %s, want 13", n, tt.sql)
			}
			var fingerprints []string
			rows, err := pool.Query(t.Context(), `SELECT event_id || ' ' || version || ' ' || message_name || ' ' || fingerprint FROM registry.event_versions ORDER BY event_id, version`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				fingerprints = append(fingerprints, s)
			}
			var locked []string
			for _, e := range catalogueLock(t).Entries {
				locked = append(locked, fmt.Sprintf("%d %d %s %s", e.ID, e.Version, e.MessageName, e.Fingerprint))
			}
			if !slices.Equal(fingerprints, locked) {
				t.Errorf("versions after %s:\n%s\nwant:\n%s", tt.sql, strings.Join(fingerprints, "\n"), strings.Join(locked, "\n"))
			}
		})
	}
}

func TestListEvents(t *testing.T) {
	store, _ := registeredStore(t)
	all := []uint32{1001, 1002, 1003, 1004, 1005, 2001, 2002, 2003, 2004, 2005, 3001}
	tests := []struct {
		text string
		want []uint32
	}{
		{"", all},
		{"PHOTO", []uint32{2001}}, // message name, any case
		{"statuschanged", []uint32{2001, 2002, 2003}}, // message name, any case
		{"navigator", []uint32{2004}},                 // description only
		{"Map Object", []uint32{2001, 2002}},          // description, any case
		{"opened", []uint32{1001, 2005}},
		{"referrer", []uint32{1001}}, // only ItemViewV2 says it; the event comes with all versions
		{"no such event", nil},
		{"%", nil}, // not a pattern
		{"_", nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			events, revision, err := store.ListEvents(t.Context(), registry.EventFilter{Text: tt.text})
			if err != nil {
				t.Fatal(err)
			}
			if revision != 1 {
				t.Errorf("revision = %d, want 1", revision)
			}
			var ids []uint32
			for _, e := range events {
				ids = append(ids, e.ID)
				full, err := store.GetEvent(t.Context(), e.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(e.Versions) != len(full.Versions) {
					t.Errorf("event %d listed with %d versions, want all %d", e.ID, len(e.Versions), len(full.Versions))
				}
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("ListEvents(%q) = %v, want %v", tt.text, ids, tt.want)
			}
		})
	}
}

func TestListEventsEmpty(t *testing.T) {
	store, _ := newStore(t)
	events, revision, err := store.ListEvents(t.Context(), registry.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 0 || revision != 0 {
		t.Errorf("empty catalogue: %d events, revision %d; want none, 0", len(events), revision)
	}
}

func TestGetEvent(t *testing.T) {
	store, _ := registeredStore(t)
	e, err := store.GetEvent(t.Context(), 2001)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != 2001 || e.Name != "PhotoStatusChanged" {
		t.Errorf("event = %d %q, want 2001 PhotoStatusChanged", e.ID, e.Name)
	}
	if want := "A photo of a map object changed status; with the previous status and the reason."; e.Description != want {
		t.Errorf("description = %q, want the newest version's %q", e.Description, want)
	}
	locked := map[string]string{}
	for _, l := range catalogueLock(t).Entries {
		locked[l.MessageName] = l.Fingerprint
	}
	var versions []uint32
	for _, v := range e.Versions {
		versions = append(versions, v.Version)
		if v.EventID != 2001 || v.Fingerprint != locked[v.MessageName] || v.Status != registry.LifecycleActive || v.Revision != 1 {
			t.Errorf("version %+v, want event 2001, fingerprint %s, active, revision 1", v, locked[v.MessageName])
		}
	}
	if !slices.Equal(versions, []uint32{1, 2}) {
		t.Errorf("versions = %v, want [1 2] (oldest first)", versions)
	}
	if e.Versions[0].MessageName != "clickstream.events.v1.PhotoStatusChangedV1" ||
		e.Versions[0].Description != "A photo of a map object changed status (uploaded, approved, blocked, hidden, deleted)." {
		t.Errorf("version 1 = %s %q", e.Versions[0].MessageName, e.Versions[0].Description)
	}

	for _, id := range []uint32{1, 4242, math.MaxInt32, math.MaxInt32 + 1, math.MaxUint32} {
		if _, err := store.GetEvent(t.Context(), id); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("GetEvent(%d) error = %v, want ErrNotFound", id, err)
		}
	}
}

// TestRegisterConcurrent pushes the same new version from several
// registry replicas at once: exactly one of them registers it.
func TestRegisterConcurrent(t *testing.T) {
	store, pool := registeredStore(t)
	set := catalogueWith(t, map[string]func(string) string{placeCardFile: appendText(placeCardOpenedV2)})

	// Hold back every registration at its first write until all of them are
	// in flight, so they overlap whatever the machine's speed. n stays within
	// the pool's default size.
	blocker, err := pgx.ConnectConfig(t.Context(), pool.Config().ConnConfig.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close(context.Background())
	hold, err := blocker.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(context.Background())
	if _, err := hold.Exec(t.Context(), `LOCK TABLE registry.revisions IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	const n = 4
	var (
		wg      sync.WaitGroup
		results [n]registry.RegisterResult
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = registry.RegisterSet(t.Context(), store, set, fmt.Sprint("pusher ", i), "add PlaceCardOpenedV2")
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Wait until all n are blocked (on the table, or on whatever serializes
	// registrations), or some have finished without blocking.
waitForAll:
	for waiting := 0; waiting < n; {
		select {
		case <-done:
			break waitForAll
		case <-time.After(5 * time.Millisecond):
		}
		if err := hold.QueryRow(t.Context(), `
			SELECT count(DISTINCT pid) FROM pg_locks
			WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if err := hold.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-done

	added := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("registration %d: %v", i, errs[i])
			continue
		}
		if results[i].Revision != 2 {
			t.Errorf("registration %d: revision %d, want 2", i, results[i].Revision)
		}
		if len(results[i].Added) > 0 {
			added++
			if !slices.Equal(results[i].Added, []string{"PlaceCardOpenedV2"}) {
				t.Errorf("registration %d added %v, want [PlaceCardOpenedV2]", i, results[i].Added)
			}
		}
	}
	if added != 1 {
		t.Errorf("%d registrations added PlaceCardOpenedV2, want exactly 1", added)
	}
	if got := count(t, pool, `SELECT count(*) FROM registry.revisions`); got != 2 {
		t.Errorf("%d revisions, want 2", got)
	}
	if got := count(t, pool, `SELECT count(*) FROM registry.event_versions`); got != 14 {
		t.Errorf("%d event versions, want 14", got)
	}
}

// TestReplicaStoreSharesDescriptors: a store on a replica holds no second
// copy of the parsed descriptors; stored ones are parsed once per push.
func TestReplicaStoreSharesDescriptors(t *testing.T) {
	primary, pool := registeredStore(t)
	replica := registry.NewReplicaStore(pool, primary)
	d, err := replica.Descriptors(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := primary.Descriptors(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if d != again {
		t.Error("the primary and the replica store parsed revision 1 each: want one copy")
	}
	if _, ok := d.Message("clickstream.events.v1.ItemViewV1"); !ok {
		t.Error("revision 1 does not declare ItemViewV1")
	}
	if _, err := replica.Descriptors(t.Context(), 99); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("descriptors of a revision never pushed: %v, want ErrNotFound", err)
	}
}

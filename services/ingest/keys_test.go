package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

func newKeyStore(t *testing.T) *ingest.PostgresStore {
	t.Helper()
	pool, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return ingest.NewPostgresStore(pool)
}

func TestPostgresKeyStore(t *testing.T) {
	ctx := context.Background()
	store := newKeyStore(t)
	id, secret := ingest.NewKeySecret()
	if !strings.HasPrefix(secret, id+"_") || !strings.HasPrefix(id, "ck_") {
		t.Fatalf("secret %q does not start with its id %q", secret, id)
	}
	if err := store.CreateKey(ctx, ingest.APIKey{ID: id, Environment: "web", Description: "site", SecretHash: ingest.HashSecret(secret), CreatedBy: "ann"}); err != nil {
		t.Fatal(err)
	}
	other, otherSecret := ingest.NewKeySecret()
	if err := store.CreateKey(ctx, ingest.APIKey{ID: other, Environment: "ios", SecretHash: ingest.HashSecret(otherSecret)}); err != nil {
		t.Fatal(err)
	}
	k, err := store.Key(ctx, id)
	if err != nil || k.Environment != "web" || k.Description != "site" || k.CreatedBy != "ann" || k.Revoked() || string(k.SecretHash) != string(ingest.HashSecret(secret)) {
		t.Fatalf("Key = %+v, %v", k, err)
	}
	if _, err := store.Key(ctx, "ck_nosuch"); !errors.Is(err, ingest.ErrKeyNotFound) {
		t.Errorf("Key(unknown) = %v, want ErrKeyNotFound", err)
	}
	if list, err := store.ListKeys(ctx, "web", false); err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("ListKeys(web) = %v, %v", list, err)
	}
	if list, err := store.ListKeys(ctx, "", false); err != nil || len(list) != 2 {
		t.Errorf("ListKeys(all) = %v, %v", list, err)
	}
	revoked, err := store.RevokeKey(ctx, id, "bob")
	if err != nil || !revoked.Revoked() {
		t.Fatalf("RevokeKey = %+v, %v", revoked, err)
	}
	again, err := store.RevokeKey(ctx, id, "carl")
	if err != nil || !again.RevokedAt.Equal(revoked.RevokedAt) {
		t.Errorf("revoking again moved revoked_at: %v then %v (%v)", revoked.RevokedAt, again.RevokedAt, err)
	}
	if list, _ := store.ListKeys(ctx, "web", false); len(list) != 0 {
		t.Errorf("ListKeys without revoked lists %v", list)
	}
	if list, _ := store.ListKeys(ctx, "web", true); len(list) != 1 {
		t.Errorf("ListKeys with revoked lists %v", list)
	}
	if _, err := store.RevokeKey(ctx, "ck_nosuch", "bob"); !errors.Is(err, ingest.ErrKeyNotFound) {
		t.Errorf("RevokeKey(unknown) = %v, want ErrKeyNotFound", err)
	}
}

// countingStore counts lookups, to see the cache at work.
type countingStore struct {
	ingest.KeyStore
	lookups int
}

func (c *countingStore) Key(ctx context.Context, id string) (ingest.APIKey, error) {
	c.lookups++
	return c.KeyStore.Key(ctx, id)
}

func TestSendBatchNeedsAValidKey(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{KeyStore: newKeyStore(t)}
	id, secret := ingest.NewKeySecret()
	if err := store.CreateKey(ctx, ingest.APIKey{ID: id, Environment: "web", SecretHash: ingest.HashSecret(secret)}); err != nil {
		t.Fatal(err)
	}
	svc := ingest.New(ingest.Config{}, realCatalogue(t), bustest.New(t))
	keys := ingest.NewKeys(store)
	svc.SetKeys(keys)
	req := &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{typed(t, "k-1", itemView())}}

	for name, secret := range map[string]string{
		"no key":        "",
		"malformed key": "not-a-key",
		"unknown key":   "ck_000000000000_00",
		"wrong secret":  id + "_00",
	} {
		_, err := svc.SendBatch(ingest.WithCredentialsForTest(ctx, secret), req)
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", name, err)
		}
	}
	before := store.lookups
	for range 3 {
		resp, err := svc.SendBatch(ingest.WithCredentialsForTest(ctx, secret), req)
		if err != nil {
			t.Fatalf("SendBatch with the key: %v", err)
		}
		if resp.GetAccepted()+resp.GetDuplicates() != 1 {
			t.Fatalf("SendBatch with the key: %v", resp)
		}
	}
	if n := store.lookups - before; n > 1 {
		t.Errorf("3 batches looked the key up %d times, want at most 1 (cached)", n)
	}
	admin := ingest.NewAdmin(svc)
	if _, err := admin.RevokeKey(ctx, &ingestv1.RevokeKeyRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SendBatch(ingest.WithCredentialsForTest(ctx, secret), req); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("after RevokeKey on this instance: %v, want Unauthenticated at once", err)
	}
	if _, err := admin.RevokeKey(ctx, &ingestv1.RevokeKeyRequest{KeyId: "ck_nosuch"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("RevokeKey(unknown) = %v, want NotFound", err)
	}
}

// flakyKeyStore is a KeyStore in memory that fails while down is set, as a
// store whose database is unreachable does.
type flakyKeyStore struct {
	mu      sync.Mutex
	keys    map[string]ingest.APIKey
	down    bool
	lookups int
}

var errStoreDown = errors.New("connect to the database: connection refused")

func (s *flakyKeyStore) setDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

func (s *flakyKeyStore) CreateKey(_ context.Context, k ingest.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errStoreDown
	}
	s.keys[k.ID] = k
	return nil
}

func (s *flakyKeyStore) Key(_ context.Context, id string) (ingest.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	if s.down {
		return ingest.APIKey{}, errStoreDown
	}
	k, ok := s.keys[id]
	if !ok {
		return ingest.APIKey{}, ingest.ErrKeyNotFound
	}
	return k, nil
}

func (s *flakyKeyStore) ListKeys(_ context.Context, env string, includeRevoked bool) ([]ingest.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errStoreDown
	}
	var out []ingest.APIKey
	for _, k := range s.keys {
		if (env == "" || k.Environment == env) && (includeRevoked || !k.Revoked()) {
			out = append(out, k)
		}
	}
	return out, nil
}

func (s *flakyKeyStore) RevokeKey(_ context.Context, id, _ string) (ingest.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return ingest.APIKey{}, errStoreDown
	}
	k, ok := s.keys[id]
	if !ok {
		return k, ingest.ErrKeyNotFound
	}
	k.RevokedAt = time.Now()
	s.keys[id] = k
	return k, nil
}

// While the key store fails, a key read within KeyMaxStale keeps working
// (stale-if-error, counted); revocations made while the store works still
// take effect within KeyCacheTTL; a key never read, or read too long ago,
// is answered Unavailable.
func TestKeysServeTheLastAnswerWhileTheStoreFails(t *testing.T) {
	ctx := context.Background()
	store := &flakyKeyStore{keys: map[string]ingest.APIKey{}}
	create := func() (string, string) {
		id, secret := ingest.NewKeySecret()
		if err := store.CreateKey(ctx, ingest.APIKey{ID: id, Environment: "web", SecretHash: ingest.HashSecret(secret)}); err != nil {
			t.Fatal(err)
		}
		return id, secret
	}
	_, valid := create()
	revokedID, revoked := create()
	_, unread := create()

	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	keys := ingest.NewKeys(store)
	keys.SetClockForTest(func() time.Time { return now })
	svc := ingest.New(ingest.Config{}, realCatalogue(t), bustest.New(t))
	svc.SetKeys(keys)
	n := 0
	sendAs := func(secret string) error {
		n++
		req := &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{typed(t, fmt.Sprintf("k-%d", n), itemView())}}
		resp, err := svc.SendBatch(ingest.WithCredentialsForTest(ctx, secret), req)
		if err == nil && resp.GetAccepted() != 1 {
			t.Fatalf("batch %d: %v", n, resp)
		}
		return err
	}
	wantCode := func(what, secret string, code connect.Code) {
		t.Helper()
		err := sendAs(secret)
		if (code == 0 && err != nil) || (code != 0 && connect.CodeOf(err) != code) {
			t.Errorf("%s: %v, want %v", what, err, map[bool]any{true: "accepted", false: code}[code == 0])
		}
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(keys.Collectors()...)
	stale := func() float64 {
		families, err := metrics.Gather()
		if err != nil || len(families) != 1 {
			t.Fatalf("gather: %v, %d families", err, len(families))
		}
		return families[0].GetMetric()[0].GetCounter().GetValue()
	}

	wantCode("valid key", valid, 0)
	wantCode("key revoked later", revoked, 0)
	if _, err := store.RevokeKey(ctx, revokedID, "ops"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(ingest.KeyCacheTTL)
	wantCode("revoked key after the TTL, store up", revoked, connect.CodeUnauthenticated)

	store.setDown(true)
	now = now.Add(ingest.KeyCacheTTL)
	wantCode("valid key after the TTL, store down", valid, 0)
	wantCode("revoked key, store down", revoked, connect.CodeUnauthenticated)
	wantCode("key never read, store down", unread, connect.CodeUnavailable)
	if got := stale(); got != 2 {
		t.Errorf("stale lookups %v, want 2", got)
	}

	// One failing query per key per retry interval, not one per batch.
	before := store.lookups
	for range 5 {
		wantCode("valid key, store down, again", valid, 0)
	}
	if d := store.lookups - before; d != 0 {
		t.Errorf("5 batches right after a failed lookup queried the store %d times, want 0", d)
	}
	now = now.Add(time.Minute)
	wantCode("valid key a minute into the outage", valid, 0)
	if d := store.lookups - before; d != 1 {
		t.Errorf("a minute later the store was queried %d times, want 1", d)
	}

	now = now.Add(ingest.KeyMaxStale)
	wantCode("valid key after KeyMaxStale, store down", valid, connect.CodeUnavailable)

	store.setDown(false)
	wantCode("valid key, store back", valid, 0)
	wantCode("key never read, store back", unread, 0)
}

// The same with PostgreSQL: the pool closes, as when the database goes
// away, and a key read before keeps working.
func TestKeysOutliveAPostgreSQLOutage(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := ingest.NewPostgresStore(pool)
	id, secret := ingest.NewKeySecret()
	if err := store.CreateKey(ctx, ingest.APIKey{ID: id, Environment: "web", SecretHash: ingest.HashSecret(secret)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	keys := ingest.NewKeys(store)
	keys.SetClockForTest(func() time.Time { return now })
	svc := ingest.New(ingest.Config{}, realCatalogue(t), bustest.New(t))
	svc.SetKeys(keys)
	req := &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{typed(t, "before", itemView())}}
	if _, err := svc.SendBatch(ingest.WithCredentialsForTest(ctx, secret), req); err != nil {
		t.Fatalf("before the outage: %v", err)
	}
	pool.Close()
	if _, err := store.Key(ctx, id); err == nil {
		t.Fatal("the store still answers with its pool closed")
	}
	now = now.Add(time.Hour)
	req = &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{typed(t, "during", itemView())}}
	resp, err := svc.SendBatch(ingest.WithCredentialsForTest(ctx, secret), req)
	if err != nil || resp.GetAccepted() != 1 {
		t.Fatalf("an hour into the outage: %v, %v; want the batch accepted", resp, err)
	}
	_, otherSecret := ingest.NewKeySecret()
	if _, err := svc.SendBatch(ingest.WithCredentialsForTest(ctx, otherSecret), req); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("a key never read, during the outage: %v, want Unavailable", err)
	}
}

func (s *flakyKeyStore) RestrictKey(_ context.Context, id string, origins []string) (ingest.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return ingest.APIKey{}, errStoreDown
	}
	k, ok := s.keys[id]
	if !ok || !k.Browser() {
		return k, ingest.ErrKeyNotFound
	}
	k.AllowedOrigins = origins
	s.keys[id] = k
	return k, nil
}

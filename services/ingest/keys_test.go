package ingest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"

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

package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

const (
	testAdminToken = "test-admin-token"
	testPIISecret  = "test-pii-secret"
	// keepEnvironment is configured to keep pii fields as sent.
	keepEnvironment = "keep"
)

// withKey puts an API key into the outgoing gRPC metadata.
func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// ingestClient is a Connect ingest client sending key as X-Api-Key ("" for none).
func ingestClient(url, key string) ingestv1connect.IngestServiceClient {
	if key == "" {
		return ingestv1connect.NewIngestServiceClient(http.DefaultClient, url)
	}
	return ingestv1connect.NewIngestServiceClient(harness.HeaderClient(ingest.APIKeyHeader, key), url)
}

// sendOne sends one event with key over Connect and returns its result.
func sendOne(t *testing.T, url, key string, ev *ingestv1.Event) *ingestv1.EventResult {
	t.Helper()
	resp, err := ingestClient(url, key).SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{ev}})
	if err != nil {
		t.Fatalf("SendBatch %s: %v", ev.GetIdempotencyKey(), err)
	}
	return resp.GetResults()[0]
}

// awaitCatalogue waits until ingest validates against registry revision
// rev or newer.
func awaitCatalogue(t *testing.T, s *harness.Stack, rev uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.IngestCatalogueRevision() < rev {
		if time.Now().After(deadline) {
			t.Fatalf("ingest is at catalogue revision %d 5s after the registry reached %d", s.IngestCatalogueRevision(), rev)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func registryRevision(t *testing.T, s *harness.Stack) uint64 {
	t.Helper()
	resp, err := registryv1connect.NewRegistryServiceClient(http.DefaultClient, s.URL(platform.Registry)).
		GetSchemaSet(context.Background(), &registryv1.GetSchemaSetRequest{SinceRevision: 1<<63 - 1})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetRevision()
}

func searchQuery(q string) *eventsv1.SearchQueryV1 {
	return &eventsv1.SearchQueryV1{Context: &eventsv1.Context{UserId: "u-7"}, Query: q, ResultsCount: 3}
}

func TestIngestKeysGovernanceAndPII(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	ctx := context.Background()
	s := start(t, harness.DataDir(t))
	url := s.URL(platform.Ingest)
	regAdmin, ingAdmin := adminClients(s)
	view := &eventsv1.ItemViewV2{Context: &eventsv1.Context{UserId: "u-7"}, ItemId: 7}

	t.Run("no key is Unauthenticated on every protocol", func(t *testing.T) {
		req := &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{harness.TypedEvent("nokey-1", view)}}
		if _, err := ingestClient(url, "").SendBatch(ctx, req); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("connect without key: %v, want Unauthenticated", err)
		}
		if _, err := ingestClient(url, "ck_nosuch_key").SendBatch(ctx, req); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("connect with an unknown key: %v, want Unauthenticated", err)
		}
		_, err := ingestv1.NewIngestServiceClient(grpcConn(t, url)).SendBatch(ctx, req)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("grpc without key: %v, want Unauthenticated", err)
		}
		restJSON(t, "POST", url+"/v1/events:batch", `{"events":[{"json":{"name":"clickstream.events.v1.ItemViewV2","data":{"itemId":"7"}}}]}`,
			http.StatusUnauthorized, nil)
	})

	// Environment "web" may send ItemView v2 only; "keep" SearchQuery v1
	// and keeps pii.
	for env, ev := range map[string]uint32{"web": 1001, keepEnvironment: 1002} {
		if _, err := regAdmin.CreateEnvironment(ctx, &registryv1.CreateEnvironmentRequest{Name: env, Actor: "test"}); err != nil {
			t.Fatalf("CreateEnvironment %s: %v", env, err)
		}
		version := uint32(2)
		if ev == 1002 {
			version = 1
		}
		if _, err := regAdmin.SetEventAccess(ctx, &registryv1.SetEventAccessRequest{Environment: env, EventId: ev, Version: version, Allowed: true, Actor: "test"}); err != nil {
			t.Fatalf("SetEventAccess %s: %v", env, err)
		}
	}
	if _, err := ingAdmin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: "nowhere"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("CreateKey in an unknown environment: %v, want NotFound", err)
	}
	web, err := ingAdmin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: "web", Description: "site", Actor: "test"})
	if err != nil {
		t.Fatalf("CreateKey web: %v", err)
	}
	keep, err := ingAdmin.CreateKey(ctx, &ingestv1.CreateKeyRequest{Environment: keepEnvironment, Actor: "test"})
	if err != nil {
		t.Fatalf("CreateKey keep: %v", err)
	}
	if !strings.HasPrefix(web.GetSecret(), web.GetKey().GetId()+"_") {
		t.Errorf("secret %q does not start with the key id %q", web.GetSecret(), web.GetKey().GetId())
	}
	awaitCatalogue(t, s, registryRevision(t, s))

	t.Run("the key's environment decides subject, record and access", func(t *testing.T) {
		if r := sendOne(t, url, web.GetSecret(), harness.TypedEvent("web-view-1", view)); r.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("web ItemViewV2: %v", r)
		}
		rec, ok := streamRecords(t, s.Bus(), bus.StreamEvents, "events.web.item_view.v2")["web-view-1"]
		if !ok {
			t.Fatal("web-view-1 is not on events.web.item_view.v2")
		}
		if rec.GetEnvironment() != "web" || rec.GetSource().GetKeyId() != web.GetKey().GetId() || rec.GetSource().GetProtocol() != busv1.Protocol_PROTOCOL_CONNECT {
			t.Errorf("record environment %q source %v, want web, %s, CONNECT", rec.GetEnvironment(), rec.GetSource(), web.GetKey().GetId())
		}
		r := sendOne(t, url, web.GetSecret(), harness.TypedEvent("web-search-1", searchQuery("x")))
		if r.GetRejection().GetReason() != ingestv1.RejectReason_REJECT_REASON_NOT_ALLOWED || !strings.Contains(r.GetRejection().GetMessage(), `"web"`) {
			t.Errorf("web SearchQueryV1: %v, want NOT_ALLOWED naming web", r)
		}
	})

	t.Run("pii is hashed unless the environment keeps it", func(t *testing.T) {
		if r := sendOne(t, url, s.IngestKey(), harness.TypedEvent("pii-dev-1", searchQuery("red bicycle"))); r.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("dev SearchQueryV1: %v", r)
		}
		if r := sendOne(t, url, keep.GetSecret(), harness.TypedEvent("pii-keep-1", searchQuery("red bicycle"))); r.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("keep SearchQueryV1: %v", r)
		}
		want := ingest.NewPIIHasher([]byte(testPIISecret), nil).HashString("red bicycle")
		for subject, id := range map[string]string{"events.dev.search_query.v1": "pii-dev-1", "events.keep.search_query.v1": "pii-keep-1"} {
			rec, ok := streamRecords(t, s.Bus(), bus.StreamEvents, subject)[id]
			if !ok {
				t.Fatalf("%s is not on %s", id, subject)
			}
			var got eventsv1.SearchQueryV1
			if err := proto.Unmarshal(rec.GetPayload(), &got); err != nil {
				t.Fatal(err)
			}
			wantQuery := want
			if id == "pii-keep-1" {
				wantQuery = "red bicycle"
			}
			if got.GetQuery() != wantQuery || got.GetResultsCount() != 3 {
				t.Errorf("%s on the bus: query %q results %d, want %q and 3", id, got.GetQuery(), got.GetResultsCount(), wantQuery)
			}
		}
	})

	t.Run("a revoked key is Unauthenticated", func(t *testing.T) {
		if _, err := ingAdmin.RevokeKey(ctx, &ingestv1.RevokeKeyRequest{KeyId: web.GetKey().GetId(), Actor: "test"}); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		_, err := ingestClient(url, web.GetSecret()).SendBatch(ctx, &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{harness.TypedEvent("web-view-2", view)}})
		if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("send with a revoked key: %v, want Unauthenticated saying revoked", err)
		}
		list, err := ingAdmin.ListKeys(ctx, &ingestv1.ListKeysRequest{Environment: "web", IncludeRevoked: true})
		if err != nil || len(list.GetKeys()) != 1 || list.GetKeys()[0].GetRevokedAt() == nil {
			t.Errorf("ListKeys web: %v %v, want the one revoked key", list, err)
		}
	})

	t.Run("a retired version is RETIRED once the registry says so", func(t *testing.T) {
		photo := &eventsv1.PhotoStatusChangedV1{Context: &eventsv1.Context{UserId: "u-7"}, PhotoId: "p-1"}
		for _, st := range []registryv1.LifecycleStatus{registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED, registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED} {
			if _, err := regAdmin.SetLifecycle(ctx, &registryv1.SetLifecycleRequest{EventId: 2001, Version: 1, Status: st, Actor: "test"}); err != nil {
				t.Fatalf("SetLifecycle %v: %v", st, err)
			}
		}
		awaitCatalogue(t, s, registryRevision(t, s))
		r := sendOne(t, url, s.IngestKey(), harness.TypedEvent("retired-1", photo))
		if r.GetRejection().GetReason() != ingestv1.RejectReason_REJECT_REASON_RETIRED ||
			!strings.Contains(r.GetRejection().GetMessage(), "PhotoStatusChangedV1") || !strings.Contains(r.GetRejection().GetMessage(), "version 2") {
			t.Errorf("retired PhotoStatusChangedV1: %v, want RETIRED naming v1 and the active v2", r)
		}
	})

	t.Run("with the registry stopped ingest serves from its cache", func(t *testing.T) {
		s.Stop(platform.Registry)
		deadline := time.Now().Add(10 * time.Second)
		var detail string
		for {
			resp, err := http.Get(url + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/readyz with the registry down: %d %s, want 200 (serving from cache)", resp.StatusCode, body)
			}
			var doc struct {
				Checks map[string]struct{ Status, Detail string } `json:"checks"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("/readyz: %v: %s", err, body)
			}
			detail = doc.Checks["schemas"].Detail
			if strings.Contains(detail, "unreachable") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz schemas detail %q does not say the registry is unreachable", detail)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(detail, "cached catalogue revision") {
			t.Errorf("/readyz schemas detail %q does not name the cached revision", detail)
		}
		if r := sendOne(t, url, s.IngestKey(), harness.TypedEvent("cached-1", view)); r.GetStatus() != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Errorf("send with the registry down: %v, want ACCEPTED", r)
		}
	})
}
